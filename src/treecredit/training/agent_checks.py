"""Checks of an agent run's env before any work, the held-out share of a finite env, and the dropped-step watch.

- :func:`sized_eval_problems`: at the default ``eval_problems`` an env with a finite, known number of
  instances (``TextEnv.instance_count()``: ``textworld``'s ``pool``) holds out a quarter of them, not 256
  draws that would cover the whole pool;
- :func:`check_instances`: refuses, before the warm start, a held-out set that leaves no instance for training
  (with an ``--eval-problems`` value that works) and an env whose ``instance_key()`` is the same for every
  instance (an own env whose first observation does not show what differs);
- :func:`check_reset_repeats`: refuses an env whose ``reset(seed)`` is not deterministic (two resets of the first
  or of the second held-out instance giving different first observations or ``state_key()``\\ s), naming
  ``reset`` and the fix;
- :func:`check_signature`: refuses a ``state_key()`` without a canonical form, naming the env class;
- :func:`check_first_step`: plays one step with the env's expert (or first valid) action, so that ``_step``'s
  return values are checked before any work whatever the warm start (a note in the run's log when the env
  offers no action);
- :func:`checked_reset`: an env whose ``reset`` raises while the run draws or checks instances stops with an
  error naming the env class, ``reset`` and the instance (:func:`draw_instances` in an RL step skips that
  instance with a warning instead, as ``play`` drops an episode whose env fails);
- :class:`DroppedWatch`: stops a run after :data:`ALL_DROPPED_STOP_STEPS` steps in a row whose every episode
  the env dropped (it trains on nothing), with its checkpoint saved and the resume command.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from treecredit._validation import fail, split_fix
from treecredit.rewards.failed import ALL_FAILED_STOP_STEPS
from treecredit.training.agent_first_step import (  # noqa: F401 - the first step's checks, also named here
    INVALID_TEXTS,
    SAMPLE_SEED,
    check_first_step,
    check_parse_action,
    first_step,
)
from treecredit.training.agent_reset_checks import (  # noqa: F401 - the reset's check, also named here
    check_reset_repeats,
    first_state_key,
)

HELD_OUT_SHARE = 4
"""At the default ``eval_problems``, an env with ``instance_count() = N`` holds out ``N // HELD_OUT_SHARE``
draws (at least 1)."""
SAMPLED_INSTANCES = 64
"""Instances drawn (reset, keyed) to check an env whose number of instances is unknown."""
FAILED_RESETS_STOP = 16
"""Resets in a row that raised after which an RL step's draw of training instances stops the run."""
ALL_DROPPED_STOP_STEPS = ALL_FAILED_STOP_STEPS
"""Steps in a row whose every episode was dropped after which an agent run stops (as the task trainer stops
after that many steps whose every reward failed)."""
def size_eval_problems(config, env) -> None:
    """Set ``config.eval_problems`` to :func:`sized_eval_problems`'s count; a count the run chose (not given)
    is marked so (``was_given("eval_problems")`` stays False, and the start note says why)."""
    sized = sized_eval_problems(env, config.eval_problems, config.was_given("eval_problems"))
    if sized != config.eval_problems:
        config.mark_chosen("eval_problems", sized)


def sized_eval_problems(env, eval_problems: int, given: bool = False) -> int:
    """``eval_problems``, or, when it was not ``given`` (a flag, even at the default value) and is the default
    and ``env`` has a finite ``instance_count()`` N, at most ``N // 4`` (≥ 1): a quarter of the instances held
    out, the rest left for training."""
    from treecredit.training.config import TrainConfig

    count = None if env.single_instance else env.instance_count()
    if count is None or given or eval_problems != TrainConfig.eval_problems:  # the default, 256
        return eval_problems
    return max(1, min(eval_problems, count // HELD_OUT_SHARE))


def _pool_hint(env) -> str:
    return " (--env-option pool=N)" if hasattr(env, "pool") else ""


def checked_reset(env, seed: int, during: str) -> str:
    """``env.reset(seed)``; what it raises becomes a ``ValueError`` naming the env class, ``reset``, the
    instance and ``during`` (what the run was doing), with the fix (a checked return value keeps its own)."""
    try:
        return env.reset(seed)
    except Exception as exc:  # noqa: BLE001 - named and re-raised
        name = type(env).__name__
        if isinstance(exc, ValueError) and str(exc).startswith(f"{name}."):
            raise  # TextEnv.reset's own check names the env class and its fix
        problem = split_fix(str(exc))[0]
        raise ValueError(f"env: {name}.reset({seed}) raised {type(exc).__name__}: {problem} ({during}). Fix: fix "
                         f"{name}.reset (play that instance by hand: env.reset({seed})).") from exc


def draw_instances(env, rng, n: int, held_out: set, warn=None, room=None, *, warm_start: bool = False) -> list[int]:
    """``n`` training instance seeds from ``rng`` whose instance is not in ``held_out`` (a run has checked, in
    ``eval_instances``, that some are left; this loop gives up after 1000 rounds).

    ``room(seed, first observation)`` (:func:`~treecredit.training.agent_room.gpt_room` or ``hf_room``) raises
    ``ValueError`` for an instance whose episodes would not fit in the model's positions (sized or checked from the
    held-out instances only); an instance whose ``reset`` raises gives :func:`checked_reset`'s error. ``warn``
    (None: the first such error stops the run) says each skipped instance: a too-long one is always skipped, one
    whose reset raised only in an RL step (whose episodes are dropped when the env fails), not in the warm start
    (``warm_start``: its expert cannot play without the env), where it stops the run. :data:`FAILED_RESETS_STOP`
    skips in a row stop the run (the error then), so that a rare long instance cannot stop a run partway and a
    broken env does not give thousands of warnings."""
    if env.single_instance:  # one map only (cliffwalking): nothing can be held out
        return env.instances(rng, n)
    seeds: list[int] = []
    rl_step = warn is not None and not warm_start
    during, streak = "drawing training instances" if rl_step else "drawing the warm start's instances", 0
    for _ in range(1000):
        for seed in env.instances(rng, n):
            say = warn if rl_step else None  # a failed reset: skipped in an RL step only
            try:
                observation = checked_reset(env, seed, during)
                if room is not None and len(seeds) < n and env.instance_key() not in held_out:
                    say = warn
                    room(seed, observation)
            except ValueError as exc:
                streak += 1
                if say is None or streak >= FAILED_RESETS_STOP:
                    raise
                say(f"warning: training instance {seed} skipped: {str(exc).removeprefix('env: ')}")
                continue
            streak = 0
            if env.instance_key() not in held_out and len(seeds) < n:
                seeds.append(seed)
        if len(seeds) == n:
            return seeds
    name = type(env).__name__
    fail("eval_problems", f"the held-out instances cover every instance of {name} drawn (told apart by its "
         "instance_key()), none are left for training", "lower --eval-problems or enlarge the env (e.g. a bigger "
         f"pool or grid); if {name} has more instances than that, make {name}.instance_key() return what tells "
         "them apart (e.g. `return self.seed`)")


def check_instance_key(env, key: Any, seed: int) -> None:
    """Refuse an ``instance_key()`` that is not hashable (held-out instances are a set of them)."""
    try:
        hash(key)
    except TypeError:
        name = type(env).__name__
        fail("env", f"{name}.instance_key() returned {key!r:.120} for instance {seed}, which is not hashable",
             f"make {name}.instance_key() return a str, a number or a tuple (e.g. `return self.seed`)")


def check_instances(env, held_out: set, eval_problems: int) -> None:
    """Refuse, before any work, a run whose held-out instances leave none for training, or an env whose
    ``instance_key()`` is one value for every instance (so every instance is a held-out one): checked on
    :data:`SAMPLED_INSTANCES` drawn when the env has no ``instance_count()``, or when it has one and every held-out
    draw has the same key."""
    if env.single_instance:  # one map only: evaluation replays it, nothing is held out
        return
    name = type(env).__name__
    count = env.instance_count()
    if count is not None:
        if count < 2:
            fail("env", f"{name} has {count} instance, so none is left for training once one is held out",
                 f"enlarge the env{_pool_hint(env)}, or set single_instance = True in {name} (evaluation then "
                 "replays the instance trained on)")
        if len(held_out) >= count:
            fail("eval_problems", f"is {eval_problems}: its held-out draws cover all {count} instances of {name}, "
                 "none are left for training", f"pass --eval-problems {max(1, count // HELD_OUT_SHARE)} (a quarter "
                 f"of the {count}) or fewer, or enlarge the env{_pool_hint(env)}")
        if len(held_out) > 1:  # instance_key() tells some instances apart
            return
    keys = []  # no count, or every held-out draw has one key: is instance_key() the same for every instance?
    for seed in env.instances(np.random.default_rng(SAMPLE_SEED), SAMPLED_INSTANCES):
        checked_reset(env, seed, f"checking that instances differ, on {SAMPLED_INSTANCES} drawn before any work")
        keys.append(env.instance_key())
        check_instance_key(env, keys[-1], seed)
    distinct = set(keys)
    if len(distinct) == 1:
        default = " (the default: the first observation)" if type(env).instance_key is _base_instance_key() else ""
        fail("env", f"{name}.instance_key(){default} is the same for all {SAMPLED_INSTANCES} instances drawn "
             f"({keys[0]!r:.80}), so every instance looks like a held-out one and none can be trained on",
             f"{f'override instance_key() in {name} to return' if default else f'make {name}.instance_key() return'}"
             " what tells instances apart (e.g. `return self.seed`, "
             f"or the hidden secret); if every seed really is one instance, set single_instance = True in {name}")
    if distinct <= held_out:
        fail("eval_problems", f"is {eval_problems}: the held-out instances cover all {len(distinct)} distinct "
             f"instances among {SAMPLED_INSTANCES} drawn from {name}, none are left for training",
             f"pass --eval-problems {max(1, len(distinct) // HELD_OUT_SHARE)} or fewer, or enlarge the env")


def _base_instance_key():
    from treecredit.envs.base import TextEnv

    return TextEnv.instance_key


def check_signature(env, seed: int) -> str:
    """Refuse an env whose signature of its first state fails (``state_key()`` without a canonical form),
    naming the env class and the method; returns the first observation of that reset."""
    observation = checked_reset(env, seed, "checking the first state's signature before any work")
    name = type(env).__name__
    try:
        env.signature()
    except Exception as exc:  # noqa: BLE001 - any failure here would otherwise surface mid-run
        if isinstance(exc, ValueError) and str(exc).startswith(f"{name}."):
            raise  # TextEnv.signature's own message names the env class and state_key()
        method = "state_key()" if env.signature_mode == "state" else f"signature({env.signature_mode!r})"
        problem = split_fix(str(exc))[0]
        fail(f"{name}.{method}", f"fails on the first state of instance {seed} ({type(exc).__name__}: {problem})",
             f"make {name}.state_key() return the exact state as dicts, lists, tuples, str, numbers, bool or None"
             if method == "state_key()" else f"fix {name} so that its signature can be computed")
    return observation


def held_out_text(env, eval_seeds: list[int], held_out: set, sized: bool = True) -> str:
    """What a run evaluates on, for its first lines (with the share of a finite pool held out; ``sized``: the
    count was chosen as a quarter of the pool, ``--eval-problems`` not given)."""
    if env.single_instance:
        return f"the env's one map ({_count(len(eval_seeds), 'episode')}, the map trained on)"
    count = env.instance_count()
    how = "; --eval-problems not given: a quarter of a finite pool" if sized else ""
    of = "" if count is None else (f" of the env's {count} ({len(held_out)} distinct, the other "
                                   f"{count - len(held_out)} trained on{how})")
    return f"{_count(len(eval_seeds), 'held-out instance')}{of} (one episode each)"


def _count(n: int, noun: str) -> str:
    """``n`` and ``noun``, plural unless ``n`` is 1."""
    return f"{n} {noun}{'s' * (n != 1)}"


class DroppedWatch:
    """Counts the RL steps in a row whose every episode the env dropped (errors, each logged): such a step
    makes no update. :meth:`after_step` returns True after :data:`ALL_DROPPED_STOP_STEPS` of them in a row; the
    caller saves a checkpoint and raises :meth:`stop_error`. A step with any episode kept ends the streak."""

    def __init__(self, env_name: str, stop_after: int = ALL_DROPPED_STOP_STEPS) -> None:
        self.env_name, self.stop_after, self.streak = env_name, stop_after, 0

    def after_step(self, kept: int) -> bool:
        """Note an RL step that kept ``kept`` episodes; True when the run must stop."""
        self.streak = 0 if kept else self.streak + 1
        return self.streak >= self.stop_after

    def stop_error(self, config_path, resume: str | None = None) -> ValueError:
        from treecredit._validation import FixError, Remedy

        resume = resume or f"resume with `treecredit train --config {config_path} --resume`"
        brief = f"every episode of {self.streak} steps in a row was dropped"
        return FixError("env", f"{brief} (env {self.env_name!r} raised or returned a bad value; the warnings above "
                        "say which); the run stopped, its checkpoint is saved",
                        (Remedy("fix the env (play one instance by hand with env.reset(seed) and env.step(action)), "
                                f"then {resume}"),), verb="", brief=brief)


EVAL_SEED = 20_261_130
"""The seed of an agent run's held-out instance draw (:func:`eval_instances`)."""


def episode_room(longest_prompt: int, settings) -> int:
    """The positions the longest episode row takes: the longest first observation (with the turn prefix, as
    :func:`~treecredit.agents.play` encodes it: no start token is added) plus ``max_episode_tokens`` (``play`` adds
    an observation only when the next action still fits in it), or plus ``action_max_tokens`` when that is more
    (the first action is sampled whatever ``max_episode_tokens`` is): :func:`~treecredit.agents.positions.
    episode_need`, which ``play`` checks against the policy's positions."""
    from treecredit.agents.positions import episode_need

    return episode_need(longest_prompt, settings)


def check_room(argument: str, limit: int, longest_prompt: int, settings, unit: str, fix: str) -> None:
    """Refuse episodes longer than the model's ``limit`` positions (:func:`episode_room`); a row of exactly
    ``limit`` tokens fits (positions 0 to ``limit`` − 1)."""
    if episode_room(longest_prompt, settings) > limit:  # positions past the limit would be wrong
        longer = settings.action_max_tokens > settings.max_episode_tokens
        fail(argument, f"a first observation of {longest_prompt} {unit} plus "
             + (f"an action of up to action_max_tokens={settings.action_max_tokens} (--max-new-tokens)" if longer
                else f"max_episode_tokens={settings.max_episode_tokens}") + f" exceed the model's {limit} positions",
             fix)


DEFAULT_MAX_LEN = 768
"""The small GPT's positions in an agent run when ``--sampler-option max_len`` is not given, unless the
env's episodes need more (:func:`gpt_positions`)."""
MAX_GPT_POSITIONS = 16_384
"""The most positions the small GPT of an agent run takes (``max_len``, or what ``max_episode_tokens`` needs):
more is refused before any work (``max_episode_tokens=1e9`` would build a position table of 10⁹ rows in the warm
start, after the run folder was written)."""


def gpt_positions(held: HeldOut, settings, agent: dict) -> int:
    """The small GPT's positions for an agent run: ``agent['max_len']`` (``--sampler-option max_len``) when
    given, refused (``ValueError`` naming ``sampler_options`` and the flag) when the longest held-out first
    observation (``held.observations``, as :func:`eval_instances` drew them: no env reset here) plus
    ``max_episode_tokens`` does not fit in it; else :data:`DEFAULT_MAX_LEN`, or, for an env
    whose episodes need more (TextWorld's first observations run to ≈ 780 characters, which with the default
    ``max_episode_tokens=400`` need 1,184), that need rounded up to a multiple of 128 (1,280 for TextWorld's
    defaults)."""
    from treecredit.training.config import option_flag_named
    from treecredit.training.config_values import TypedOptions

    longest = max(len(observation + settings.turn_prefix) for observation in held.observations.values())
    need = episode_room(longest, settings)  # the longest row: first observation and episode
    rounded = -(-need // 128) * 128
    checked = TypedOptions({**agent, "max_episode_tokens": settings.max_episode_tokens}, getattr(agent, "typed", {}))
    with option_flag_named(checked, "sampler_options",
                           "--sampler-option", "agent episodes"):
        if "max_len" in agent:
            if agent["max_len"] > MAX_GPT_POSITIONS:
                fail("max_len", f"is {agent['max_len']:,}, more than the {MAX_GPT_POSITIONS:,} positions the small "
                     "GPT takes (a character-level model for episodes that fit this machine)", f"pass --sampler-option "
                     f"max_len={max(rounded, DEFAULT_MAX_LEN)} (or leave max_len out: the default fits the env)")
            check_room("max_len", agent["max_len"], longest, settings, "characters",
                       f"pass --sampler-option max_len={rounded} or more (or leave max_len out: the default fits "
                       "the env), or a smaller --sampler-option max_episode_tokens")
            return agent["max_len"]
        if rounded > MAX_GPT_POSITIONS:  # before the warm start builds a GPT of that many positions
            fail("max_episode_tokens", f"is {settings.max_episode_tokens:,}: with a first observation of {longest} "
                 f"characters the small GPT would need {need:,} positions, more than the {MAX_GPT_POSITIONS:,} it "
                 "takes (a character-level model for episodes that fit this machine)", "pass --sampler-option "
                 f"max_episode_tokens={MAX_GPT_POSITIONS - longest} or less, or a Hugging Face --model for "
                 "longer episodes")
    return max(DEFAULT_MAX_LEN, rounded)


class HeldOut(NamedTuple):
    """An agent run's held-out instances, as :func:`eval_instances` drew them."""

    seeds: list[int]
    """The ``n`` seeds drawn (fixed by ``EVAL_SEED``), one evaluation episode each; a seed may repeat."""
    keys: set
    """Their ``instance_key()``s: the instances training never draws."""
    observations: dict[int, str]
    """The first observation of each distinct seed (what its reset returned), for the positions checks."""
    note: str = ""
    """What the run's log says about the checks (:func:`check_first_step`: a step that could not be played)."""
    action: str | None = None
    """The action text played in that step (the expert's or the first valid one; None when none was), for the
    Hugging Face tokenizer's round-trip check."""


def eval_instances(probe, n: int, listed_used: bool = True) -> HeldOut:
    """The ``n`` held-out instance seeds, the set of their ``instance_key`` and their first observations.

    Checks the env on the way, before any work (:mod:`treecredit.training.agent_checks`): its return values
    (``TextEnv.reset``), that instances are told apart and some are left for training, that ``reset(seed)`` is
    deterministic (the first two distinct held-out instances reset once more, :func:`check_reset_repeats`), that the
    first state has a signature (``state_key()``) and that one step returns valid values (:func:`check_first_step`;
    ``listed_used``: the run picks from ``valid_actions()``, :func:`~treecredit.agents.options.lists_actions`)."""
    seeds = probe.instances(np.random.default_rng(EVAL_SEED), n)
    held_out, observations, first_keys = set(), {}, {}
    distinct = list(dict.fromkeys(seeds))  # a seed is one instance: each distinct seed reset once
    for seed in distinct:
        observations[seed] = checked_reset(probe, seed, "drawing the held-out instances before any work")
        if seed in distinct[:2]:  # compared with a second reset of it (check_reset_repeats)
            first_keys[seed] = first_state_key(probe)
        key = probe.instance_key()
        check_instance_key(probe, key, seed)
        held_out.add(key)
    check_instances(probe, held_out, n)
    if len(distinct) > 1:  # a second instance, reset once more: a reset seeded for some instances only
        second = distinct[1]
        again = checked_reset(probe, second, "checking that reset(seed) is deterministic before any work")
        check_reset_repeats(probe, second, observations[second], first_keys[second], again)
    again = check_signature(probe, seeds[0])
    check_reset_repeats(probe, seeds[0], observations[seeds[0]], first_keys[seeds[0]], again)
    note, action = first_step(probe, seeds[0], listed_used)  # from the first state check_signature left
    return HeldOut(seeds, held_out, observations, note, action)
