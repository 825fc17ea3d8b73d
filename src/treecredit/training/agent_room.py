"""Whether a training instance's episodes fit the model's positions, for the small GPT and a Hugging Face model.

An agent run sizes (small GPT) or checks (Hugging Face ``--model``) the model's positions from the held-out
instances' first observations only (:func:`~treecredit.training.agent_checks.gpt_positions`,
:func:`~treecredit.training.agent_preflight.check_hf_agent_model`), so a training instance with a longer first
observation could be played past them: the small GPT clamps positions past ``max_len`` - 1, a Llama's rotary
positions run on into garbage, GPT-2's position table raises, none of them with a word. So:

- :class:`Room` (:func:`gpt_room`, :func:`hf_room`): ``room(seed, first observation)`` raises ``ValueError``
  naming the argument and the fix for such an instance; :func:`~treecredit.training.agent_checks.draw_instances`
  skips it with that error as a warning (the warm start and an RL step alike), and
  :data:`~treecredit.training.agent_checks.FAILED_RESETS_STOP` skips in a row stop the run;
- :func:`check_training_room`: before any work, refuses a run whose every training instance of a seeded sample
  is too long (it would only stop at its first draw, after the run folder, the warm start or the model's
  loading, and the step-0 evaluation).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from treecredit._validation import fail, split_fix
from treecredit.training.agent_checks import MAX_GPT_POSITIONS, SAMPLE_SEED, episode_room

TRAINING_SAMPLE = 8
"""Training instances (not held out) reset before any work by :func:`check_training_room`."""


class Room:
    """``room(seed, first observation)``: refuses (``ValueError``) a training instance whose first observation
    (with the turn prefix, as :func:`~treecredit.agents.play` encodes it) plus ``max_episode_tokens`` (or the first
    action's ``action_max_tokens``, when more: :func:`~treecredit.training.agent_checks.episode_room`) needs more
    than ``limit`` positions.

    ``count(text)``: the tokens of ``text`` (the small GPT: its characters). ``unit``: what they are called.
    ``argument``: the argument the error names. ``model``: the model and where its positions came from, for the
    error. ``fix(need, fits)``: the fix for an instance that needs ``need`` positions, when ``fits`` (the largest
    ``max_episode_tokens`` that would do) is left."""

    def __init__(self, settings, limit: int, count: Callable[[str], int], unit: str, argument: str, model: str,
                 fix: Callable[[int, int], str]) -> None:
        self.settings, self.limit, self.count, self.unit = settings, limit, count, unit
        self.argument, self.model, self.fix = argument, model, fix

    def need(self, observation: str) -> tuple[int, int]:
        """``(first observation's tokens with the turn prefix, positions its episodes need)``."""
        length = self.count(observation + self.settings.turn_prefix)
        return length, episode_room(length, self.settings)

    def __call__(self, seed: int, observation: str) -> None:
        length, need = self.need(observation)
        if need <= self.limit:
            return
        settings = self.settings
        plus = (f"an action of up to action_max_tokens={settings.action_max_tokens} (--max-new-tokens)"
                if settings.action_max_tokens > settings.max_episode_tokens
                else f"max_episode_tokens={settings.max_episode_tokens}")
        fail(self.argument, f"training instance {seed} has a first observation of {length} {self.unit}, which plus "
             f"{plus} needs {need} positions, more than {self.model}", self.fix(need, self.limit - length))


def gpt_room(settings, max_len: int, given: bool) -> Room:
    """The :class:`Room` of the small GPT's ``max_len`` positions (one character, one token), which
    :func:`~treecredit.training.agent_checks.gpt_positions` sized from the held-out first observations only (past
    them its positions would be clamped without a word); the error names ``max_len`` and the positions needed
    (rounded up to 128). ``given``: ``max_len`` came from ``--sampler-option``."""
    size = (f"--sampler-option max_len={max_len}" if given else
            f"max_len={max_len}, sized from the held-out instances' first observations")

    def fix(need: int, fits: int) -> str:
        rounded = -(-need // 128) * 128
        return (f"pass --sampler-option max_len={rounded} or more, or a smaller --sampler-option max_episode_tokens"
                if rounded <= MAX_GPT_POSITIONS else "pass a smaller --sampler-option max_episode_tokens, or a "
                "Hugging Face --model for longer episodes")

    return Room(settings, max_len, len, "characters", "max_len", f"the small GPT's {max_len} ({size})", fix)


def hf_room(settings, tokenizer, limit: int, model: str, field: str = "max_position_embeddings") -> Room:
    """The :class:`Room` of a Hugging Face model's ``limit`` positions (its config's ``field``), counting tokens
    as ``HFPolicy.encode`` does (no special tokens); :func:`~treecredit.training.agent_preflight.
    check_hf_agent_model` checked the held-out first observations only. The error names ``max_episode_tokens``
    (a model's positions are its own: ``--sampler-option max_len`` is refused for it)."""
    from treecredit.models.hf_policy import token_counts

    def count(text: str) -> int:
        return token_counts(tokenizer, [text], add_special_tokens=False)[0]

    def fix(need: int, fits: int) -> str:
        if fits < 1:
            return "pass a model with more positions (this first observation alone fills them)"
        if fits < settings.action_max_tokens:
            return (f"pass --max-new-tokens {fits} or less and --sampler-option max_episode_tokens={fits} or less, "
                    "or a model with more positions")
        return f"pass --sampler-option max_episode_tokens={fits} or less, or a model with more positions"

    return Room(settings, limit, count, "tokens", "max_episode_tokens", f"the model's {limit} ({field} of {model}; "
                "the run checked the held-out instances' first observations)", fix)


def check_training_room(env, held_out: set, room: Room | None, n: int = TRAINING_SAMPLE) -> None:
    """Refuse, before any work, a run whose every training instance is longer than the model's positions: ``n``
    training instances (not in ``held_out``; a seeded sample, :data:`~treecredit.training.agent_checks.SAMPLE_SEED`)
    are reset, and when each that resets is too long for ``room`` the error is that of the longest, prefixed with
    what was sampled (its fix makes every sampled one fit). Some too long: left to the draws, which skip them with a
    warning. A reset that raises is left to the draws too (they skip or stop, as their callers want)."""
    if room is None or env.single_instance:  # one map only: the held-out check covered it
        return
    rng, seen, long = np.random.default_rng(SAMPLE_SEED), set(), []
    for _ in range(8):
        for seed in env.instances(rng, n):
            if seed in seen or len(seen) >= n:
                continue
            try:
                observation = env.reset(seed)
                if env.instance_key() in held_out:
                    continue
            except Exception:  # noqa: BLE001 - the draws say it
                continue
            seen.add(seed)
            length, need = room.need(observation)
            if need <= room.limit:
                return  # one fits: the draws skip the others with a warning
            long.append((length, seed, observation))
        if len(seen) >= n:
            break
    if not long:
        return
    _, seed, observation = max(long)
    try:
        room(seed, observation)
    except ValueError as error:
        problem, fix = split_fix(str(error))
        argument, _, problem = problem.partition(": ")
        fail(argument, f"every one of the {len(long)} training instances sampled before any work is too long for the "
             f"model's positions (each would be skipped and the run stop at its first draw); the longest: {problem}",
             fix)
