"""Rewards: built-in verifiers, user functions in TRL's convention, weighted sets, failures counted.

A reward function is called as ``fn(prompts=[...], completions=[...], **dataset_columns)`` (and
``completion_ids=[...]`` when the caller has the token ids; an ``async def`` one is awaited) and returns
one float or None per completion (TRL's ``reward_funcs`` convention; TRL's ``trainer_state``,
``log_extra`` and ``log_metric`` reach the functions that take them in a ``treecredit train`` run:
:mod:`treecredit.rewards.trainer_keywords`; ``combine.TRL_KEYWORDS``). Name one on the command line
with ``--reward``: ``math``, ``exact``, ``numeric``, ``code``, ``numeric:tolerance=0.01``,
``my_rewards:format_reward@0.2`` (``@`` gives the weight).
"""

from treecredit.rewards.answers import as_text, final_answer, last_boxed, last_number
from treecredit.rewards.builtin import (
           BUILTIN_REWARDS,
           code_reward,
           exact_reward,
           math_reward,
           numeric_reward,
)
from treecredit.rewards.combine import RewardSet
from treecredit.rewards.load import (
           load_function,
           make_reward,
           parse_spec,
           register_reward,
           reward_names,
)

__all__ = [
    "as_text","BUILTIN_REWARDS", "RewardSet", "code_reward", "exact_reward", "final_answer", "last_boxed",
           "last_number", "load_function", "make_reward", "math_reward", "numeric_reward", "parse_spec",
           "register_reward", "reward_names"]
