"""``--reward`` on any task: the given reward functions replace the task's own verifier.

:class:`RewardedTask` wraps a task (an embedded one, ``rg:NAME``, ``humaneval``) and scores its responses
with reward functions in TRL's convention (:mod:`treecredit.rewards`) instead of ``task.reward``.
Everything else (problems, prompts, steps, the partial verifier, the warm-start solutions) is the
wrapped task's.

- The reward name ``task`` is the wrapped task's own verifier (exact success for reasoning-gym, the
  tests for HumanEval), so it can be weighted with others: ``--reward task --reward my:fmt@0.2``.
- Each reward gets ``prompts`` (the prompt texts; a conversation, as in TRL, when the prompt carries a
  system message), ``completions`` (texts, or ``[{"role": "assistant", "content": …}]`` for a
  conversation), and the task's columns as keywords (:meth:`treecredit.tasks.base.Task.reward_columns`:
  reasoning-gym's ``question``, ``answer``, ``metadata``; HumanEval's ``test``, ``entry_point``,
  ``task_id``, ``canonical_solution``; the embedded tasks' ``answer`` and ``solution``).
- Sound cutoff (``--cutoff sound``) needs wrong steps to be fatal; that holds for the task's verifier
  alone (``--reward task``), not for other rewards, so the wrapper declares it only then.
"""

from __future__ import annotations

from treecredit._validation import fail
from treecredit.rewards.combine import PROBLEM_KEY
from treecredit.sampling.cutoff import wrong_step_is_fatal
from treecredit.tasks.base import Problem

TASK_REWARD = "task"


class RewardedTask:
    """``task`` scored by ``rewards`` (specs, callables, ``(fn, weight)`` pairs; ``"task"`` = its own verifier).

    Raises ``ValueError`` (argument ``reward``) for an empty list, an unknown name, a module that does
    not import or an attribute that is not callable, before any model is loaded.
    """

    def __init__(self, task, rewards) -> None:
        from treecredit.rewards import RewardSet, parse_spec

        self.task = task
        resolved, own_only = [], True
        for spec in rewards:
            if isinstance(spec, str) and parse_spec(spec)[0] == TASK_REWARD:
                _, options, weight = parse_spec(spec)
                if options:
                    fail("reward", f"{spec!r}: the task's own verifier takes no options",
                         "write task or task@WEIGHT (the task's options go to --task-option)")
                resolved.append((self._own_reward, weight))
            else:
                resolved.append(spec)
                own_only = False
        self.rewards = list(rewards)
        self._reward_set = RewardSet(resolved, argument="reward")
        self.wrong_step_is_fatal = own_only and wrong_step_is_fatal(task)

    def __getattr__(self, name: str):
        if name == "task":  # not set yet (during unpickling): no recursion
            raise AttributeError(name)
        return getattr(self.task, name)

    def _own_reward(self, prompts, completions, **columns) -> list[float]:
        """The wrapped task's verifier in TRL's convention (named ``task``)."""
        from treecredit.rewards import as_text

        return self._verified(list(columns[PROBLEM_KEY]), [as_text(c) for c in completions])

    _own_reward.takes_internal_columns = True  # type: ignore[attr-defined]  # gets PROBLEM_KEY (RewardSet)

    def _verified(self, problems: list[Problem], responses: list[str]) -> list[float]:
        """The wrapped task's rewards of a batch. The last batch's are kept, so that :meth:`success_of` on
        the batch just scored (held-out evaluation under ``--reward task ...``) does not verify it again:
        HumanEval's verifier runs each program in the sandbox."""
        from treecredit.tasks.base import batch_rewards

        last = self.__dict__.get("_last_verified")  # (problems, responses, rewards); holding the problems
        if (last is not None and last[1] == responses and len(last[0]) == len(problems)  # keeps their ids apart
                and all(a is b for a, b in zip(last[0], problems))):
            return last[2]
        values = batch_rewards(self.task, problems, responses)
        self.__dict__["_last_verified"] = (list(problems), list(responses), values)
        return values

    def rewards_of(self, problems: list[Problem], responses: list[str],
                   completion_ids: list | None = None) -> list[float | None]:
        """The weighted rewards of a batch, each reward function called once (None where they failed);
        ``completion_ids`` (each response's token ids), when given, reach them as TRL's ``completion_ids``."""
        prompts, completions, rows = [], [], []
        for problem, response in zip(problems, responses):
            messages = _conversation(problem.prompt)
            prompts.append(messages if messages else str(problem.prompt))
            completions.append([{"role": "assistant", "content": response}] if messages else response)
            rows.append({**self.task.reward_columns(problem), PROBLEM_KEY: problem})
        keys = sorted({k for row in rows for k in row if k not in ("prompts", "completions")})
        return self._reward_set(prompts, completions, completion_ids=completion_ids,
                                **{k: [row.get(k) for row in rows] for k in keys})

    def score_batch(self, problems: list[Problem], responses: list[str],
                    completion_ids: list | None = None) -> list[float]:
        """The weighted rewards of a batch; NaN where they failed (the trainer gives that row no advantage)."""
        return [float("nan") if v is None else float(v) for v in self.rewards_of(problems, responses, completion_ids)]

    def reward(self, problem: Problem, response: str) -> float:
        return self.score_batch([problem], [response])[0]

    def success_of(self, problems: list[Problem], responses: list[str]) -> list[bool]:
        """Whether each response solves its problem by the wrapped task's own verifier (reward ≥ 1): what
        held-out pass@1 counts under ``--reward``, whatever the training rewards are."""
        return [r >= 1.0 for r in self._verified(list(problems), list(responses))]

    @property
    def reward_failures(self) -> int:
        return self._reward_set.failed

    def cache_identity(self) -> dict:
        """The wrapped task's (rewards do not change the warm start)."""
        identity = getattr(self.task, "cache_identity", None)
        return identity() if callable(identity) else vars(self.task)


def _conversation(prompt) -> list[dict]:
    """The prompt as TRL's conversational format when it carries a system message or messages, else []."""
    messages = list(getattr(prompt, "messages", ()) or ())
    if messages:
        return messages
    system = getattr(prompt, "system", "")
    return [{"role": "system", "content": system}, {"role": "user", "content": str(prompt)}] if system else []
