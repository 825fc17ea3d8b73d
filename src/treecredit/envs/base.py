"""The text-environment interface: gymnasium's reset/step shape, for an agent that reads and writes text.

An environment is one task instance at a time:

- ``reset(seed) -> observation``: draw the instance ``seed`` (same seed, same instance) and return the
  first observation text (the task description included);
- ``step(action) -> (observation, reward, done, info)``: apply the action text. ``info`` holds
  ``invalid`` (the parser refused the text), ``success``, ``truncated`` (the turn limit ended it, or ``_step``'s
  own ``info["truncated"]`` on the step that ends the episode, e.g. a simulator's time limit). ``_step``
  must set ``info["success"]`` (a bool: True when the task is solved, else False) on the step that ends the
  episode, the one a run reads it from: it is what a run's success, held-out success and ``compare --env``'s
  ranking count. ``step`` refuses that step without the key, and a value that is not a bool (or 0/1) on any
  step (``bool("no")`` is True);
- ``state_key()``: the exact canonical state (dicts, tuples, strings, numbers) that signatures hash;
- ``snapshot()`` / ``restore(snapshot)``: fork an episode. The default snapshot is the action history,
  and ``restore`` replays it from ``reset`` (exact for deterministic environments); environments with
  a cheap copy of their state override both.

Return values are checked: ``_reset`` must return a str, ``_step`` a tuple ``(observation: str, reward: a
finite real number, done: bool, info: dict)``; anything else raises a ``ValueError`` naming the env class,
the method and the value (in an RL step the episode is then dropped, as for a ``_step`` that raises).

Invalid actions never crash an episode: the action parser (``parse_action``) returns None, the state
does not change (a no-op), the observation says so and what a valid action looks like, and the turn
earns ``invalid_penalty`` (default 0, a plain no-op; pass e.g. −0.1 for a penalty).

Signatures (``signature(mode)``): ``"state"`` hashes ``state_key()``; ``"observation"`` hashes the
current observation text (what an agent without access to the simulator can use); ``"history"`` hashes
the actions so far (only identical prefixes match: a tree, no graph); ``"episode"`` is unique to the
episode (states never recur: RTMC reduces to turn-level GRPO). Compare them with
:func:`treecredit.signature_agreement`.

``unmatched_share=p`` (default 0) lowers the state-revisit rate without changing the environment or
the policy: a share ``p`` of the states (drawn by a hash of the instance seed and the signature, so a
state of an instance is always or never drawn, the same in every run) get a signature unique to the
episode and turn, so they never match another episode's. ``p = 1`` is the ``episode`` mode; ``p = 0``
leaves the mode as it is. This is our device for measuring how a state-matching estimator's gain
depends on the revisit rate.
"""

from __future__ import annotations

import itertools
import math
import numbers
from abc import ABC, abstractmethod
from typing import Any, NoReturn

import numpy as np

from treecredit._validation import FixError, Remedy, check_choice, fail, split_fix
from treecredit.signatures import action_signature, normalize_action, state_signature

SIGNATURE_MODES = ("state", "observation", "history", "episode")
_EPISODES = itertools.count()


class TextEnv(ABC):
    """Base class of the text environments; subclasses implement the four ``_``-methods.

    Args:
        max_turns: the turn limit K ≥ 1; the K-th step ends the episode with ``info["truncated"]``.
        invalid_penalty: reward of a turn whose action the parser refused (≤ 0; 0 = a plain no-op).
        signature: the signature mode used by :meth:`signature` (one of ``SIGNATURE_MODES``).
        unmatched_share: the share of states (in [0, 1], chosen by hash) whose signature is unique to the
            episode and turn, so that they never match another episode's (default 0: none).
    """

    name = "text-env"
    #: True when every seed gives the same instance (no held-out set is possible: evaluation reuses it)
    single_instance = False
    #: the end-of-action marker the agent writes after each action (the sampler stops there)
    action_hint = ""

    def __init__(self, *, max_turns: int = 8, invalid_penalty: float = 0.0, signature: str = "state",
                 unmatched_share: float = 0.0) -> None:
        if isinstance(max_turns, bool) or not isinstance(max_turns, int) or max_turns < 1:
            fail("max_turns", f"is {max_turns!r}, must be an integer ≥ 1", "pass e.g. max_turns=8")
        if not isinstance(invalid_penalty, (int, float)) or invalid_penalty > 0:
            fail("invalid_penalty", f"is {invalid_penalty!r}, must be a number ≤ 0",
                 "pass 0 (a plain no-op) or a small penalty such as -0.1")
        check_choice(signature, SIGNATURE_MODES, "signature")
        if isinstance(unmatched_share, bool) or not isinstance(unmatched_share, (int, float)) \
                or not 0 <= unmatched_share <= 1:
            fail("unmatched_share", f"is {unmatched_share!r}, must be a number in [0, 1]",
                 "pass e.g. unmatched_share=0.5 (0: match every state the signature mode matches)")
        self.unmatched_share = float(unmatched_share)
        self.max_turns = max_turns
        self.invalid_penalty = float(invalid_penalty)
        self.signature_mode = signature
        self.seed: int | None = None
        self.actions: list[str] = []
        self.observation = ""
        self.done = False
        self._episode = -1
        self.success_reported: bool | None = None  # whether the last valid step's info held "success"
        self._text_env_init = True  # a subclass's __init__ that forgets super().__init__() is told so by name

    # -- what a subclass implements -------------------------------------------------------------
    @abstractmethod
    def _reset(self, seed: int) -> str:
        """Build instance ``seed``; return the first observation (task description included)."""

    @abstractmethod
    def _step(self, action: Any) -> tuple[str, float, bool, dict]:
        """Apply a parsed action; return ``(observation, reward, done, info)``."""

    @abstractmethod
    def parse_action(self, text: str) -> Any:
        """The action meant by ``text``, or None when it is not a valid action."""

    @abstractmethod
    def state_key(self) -> Any:
        """The exact canonical state (hashable by :func:`treecredit.signatures.state_signature`)."""

    def canonical_action(self, action: Any) -> str:
        """Text of a parsed action in one canonical spelling (equal actions, equal text)."""
        return str(action)

    def action_help(self) -> str:
        """The message shown after an invalid action (what the valid actions look like)."""
        return "try again."

    def valid_actions(self) -> list[str]:
        """The valid actions in the current state, when the env can list them (else [])."""
        return []

    def expert_action(self) -> str | None:
        """A scripted expert's action in the current state (for the warm start), or None if there is none."""
        return None

    def instances(self, rng, n: int) -> list[int]:
        """``n`` instance seeds drawn from the NumPy generator ``rng``."""
        return [int(s) for s in rng.integers(0, 2**31 - 1, size=n)]

    def instance_key(self) -> Any:
        """What makes two instances the same (default: the first observation, after :meth:`reset`).

        Held-out evaluation instances are told apart from training ones by this key. An env whose first
        observation is the same for every instance (a hidden secret, a random start that the text does not
        show) must override it, e.g. ``return self.seed`` or the secret; else every instance looks like every
        held-out one and a run is refused before any work."""
        return self.first_observation

    def instance_count(self) -> int | None:
        """The number of distinct instances when it is finite and known without building them (``textworld``:
        its ``pool``), else None. A run with a finite count holds out a share of it at the default
        ``eval_problems`` and refuses a held-out set that covers every instance, before any work."""
        return None

    # -- the public interface -------------------------------------------------------------------
    def reset(self, seed: int) -> str:
        """Start instance ``seed`` and return its first observation."""
        if isinstance(seed, bool) or not isinstance(seed, int):
            fail("seed", f"is {seed!r}, must be an int", "pass the instance seed as an int")
        check_initialized(self)
        self.seed, self.actions, self.done = seed, [], False
        self._episode = next(_EPISODES)
        observation = self._reset(seed)
        if not isinstance(observation, str):
            self._bad_return(f"_reset(seed={seed})", f"the first observation {observation!r:.200} "
                             f"({type(observation).__name__})", "a str (the task description)")
        self.observation = self.first_observation = observation
        return self.observation

    def step(self, action: str) -> tuple[str, float, bool, dict]:
        """Apply ``action`` text; an unparsable one is a no-op with a message and ``invalid_penalty``."""
        if self.seed is None:
            fail("step", "was called before reset", "call env.reset(seed) first")
        if self.done:
            fail("step", "was called on a finished episode", "call env.reset(seed) to start a new one")
        parsed = self._parse(action)
        self.actions.append(action)
        if parsed is None:
            obs, reward, done = f"invalid action. {self.action_help()}", self.invalid_penalty, False
            info = {"invalid": True}
        else:
            obs, reward, done, info = self._checked_step(parsed)
            self.success_reported = "success" in info  # required on the step that ends the episode (_checked_step)
            info = {"invalid": False, **info}
            self.observation = obs
        info.setdefault("success", False)
        # the turn limit, or a subclass's own limit on the step that ends the episode (gymnasium's TimeLimit)
        info["truncated"] = bool(done and info.get("truncated", False)) or \
            (not done and len(self.actions) >= self.max_turns)
        self.done = done or info["truncated"]
        return obs, float(reward), self.done, info

    def _parse(self, text: str) -> Any:
        """``parse_action(text)``; an exception it raises is marked as ``parse_action``'s (``env_method``), so
        that a dropped episode's warning names it rather than the public method that called it."""
        try:
            return self.parse_action(text)
        except Exception as exc:
            exc.env_method = "parse_action"  # type: ignore[attr-defined]
            raise

    def _bad_return(self, call: str, what: str, expected: str) -> NoReturn:
        name = type(self).__name__
        shape = "a str" if call.startswith("_reset") else \
            "(observation: str, reward: a finite real number, done: bool, info: dict)"
        fail(f"{name}.{call}", f"returned {what}, not {expected}", f"make {name}.{call.split('(')[0]} return {shape}")

    def _checked_step(self, parsed: Any) -> tuple[str, float, bool, dict]:
        """``_step(parsed)`` with its return values checked (see the module docstring)."""
        out = self._step(parsed)
        call = f"_step({parsed!r})"
        if not isinstance(out, tuple) or len(out) != 4:
            self._bad_return(call, f"{out!r:.200}", "a tuple of 4")
        obs, reward, done, info = out
        if not isinstance(obs, str):
            self._bad_return(call, f"the observation {obs!r:.200} ({type(obs).__name__})", "a str")
        if isinstance(reward, bool) or not isinstance(reward, numbers.Real) or not math.isfinite(reward):
            self._bad_return(call, f"the reward {reward!r:.100} ({type(reward).__name__})", "a finite real number")
        if not isinstance(done, (bool, np.bool_)):
            self._bad_return(call, f"done={done!r:.100} ({type(done).__name__})", "True or False")
        if not isinstance(info, dict):
            self._bad_return(call, f"info={info!r:.100} ({type(info).__name__})", "a dict ({} when empty)")
        if "success" in info:
            info = {**info, "success": self._checked_success(call, info["success"])}
        elif done:
            self._no_success(call, info)
        return obs, float(reward), bool(done), info

    def _checked_success(self, call: str, success: Any) -> bool:
        """``info["success"]`` as a bool: True/False (numpy's too) or the ints 0/1; anything else (the text "no",
        which ``bool`` reads as True, a score, None) is refused, naming ``_step`` and the fix."""
        if isinstance(success, (bool, np.bool_)):
            return bool(success)
        if isinstance(success, numbers.Integral) and success in (0, 1):
            return bool(success)
        name = type(self).__name__
        _success_fail(f"{name}.{call}",
                      f"returned info['success']={success!r:.100} ({type(success).__name__}), not True or False: the "
                      "run would read it as bool(...), so text such as 'no' would count as solved",
                      f"set info['success'] in {name}._step to True when the task is solved, else False (a bool, "
                      "e.g. `{'success': done and reward > 0}`); docs/agents.md, 'Your own env'")

    def _no_success(self, call: str, info: dict) -> NoReturn:
        """Refuse a step that ends the episode with an ``info`` that has no ``"success"``: the run reads success
        from that step only, so the episode would count as failed whatever happened."""
        name = type(self).__name__
        keys = sorted(k for k in info if k not in ("invalid", "truncated"))
        shown = f"an info with the keys {keys}" if keys else "an info without keys"
        _success_fail(f"{name}.{call}",
                      f"ended the episode (done=True) with {shown}, no 'success': the run reads success from the step "
                      "that ends an episode, so this one would count as failed and the run's success, its held-out "
                      "success and compare --env's ranking would read 0",
                      f"set info['success'] in {name}._step on the step that ends an episode (on the others it may "
                      "be left out): True when the task is solved, else False (e.g. `return obs, reward, done, "
                      "{'success': done and reward > 0}`); docs/agents.md, 'Your own env'")

    def snapshot(self) -> Any:
        """A value from which :meth:`restore` rebuilds the current state (default: seed + actions)."""
        return (self.seed, list(self.actions))

    def restore(self, snapshot: Any) -> None:
        """Return to the state of ``snapshot`` (default: reset and replay the recorded actions)."""
        seed, actions = snapshot
        self.reset(seed)
        for action in actions:
            self.step(action)

    def signature(self, mode: str | None = None) -> str:
        """The current state's signature in ``mode`` (default: the env's ``signature`` option)."""
        mode = mode or self.signature_mode
        if mode == "state":
            key = self.state_key()
            try:
                signature = state_signature(key)
            except ValueError as exc:
                name, problem = type(self).__name__, split_fix(str(exc))[0]
                fail(f"{name}.state_key()", f"returned {key!r:.120}, which has no canonical form ({problem})",
                     f"make {name}.state_key() return the exact state as dicts, lists, tuples, str, numbers, bool "
                     "or None")
        elif mode == "observation":
            signature = state_signature(normalize_action(self.observation))
        elif mode == "history":
            signature = state_signature([self.seed, [self.action_text(a) for a in self.actions]])
        else:
            check_choice(mode, SIGNATURE_MODES, "signature")
            return self._unique_signature()
        if self.unmatched_share and int(state_signature([self.seed, signature])[:8], 16) < self.unmatched_share * 16**8:
            return self._unique_signature()  # drawn per instance and state: 32 bits of a hash, uniform
        return signature

    def _unique_signature(self) -> str:
        return state_signature([self._episode, len(self.actions)])

    def action_text(self, text: str) -> str:
        """The canonical text of an action as written (the raw, normalised text when it is invalid)."""
        parsed = self._parse(text)
        return normalize_action(text) if parsed is None else self.canonical_action(parsed)

    def action_signature(self, text: str) -> str:
        """Signature of the action ``text`` (its canonical form, so spellings of one action match)."""
        return action_signature(self.action_text(text))


def check_initialized(env: TextEnv) -> None:
    """Refuse an env whose class's ``__init__`` did not call ``TextEnv.__init__`` (its turn limit, signature mode
    and episode state would be unset: a raw ``AttributeError`` later), naming the class and the fix."""
    if not getattr(env, "_text_env_init", False):
        name = type(env).__name__
        fail("env", f"{name}.__init__ did not call TextEnv.__init__ (max_turns, the signature mode and the episode "
             "state are unset)", f"call super().__init__(**kwargs) in {name}.__init__")


def check_expert_text(env: TextEnv, action: Any, chose: str, where: str) -> None:
    """Refuse an action of the env's expert that is not a str (``chose``: who chose it, e.g. ``"the warm start's
    expert chose"``; ``where``: the instance and turn), naming ``expert_action()`` and the fix: an action is text,
    as the policy writes it, and ``step`` parses it."""
    if not isinstance(action, str):
        name = type(env).__name__
        fail(f"{name}.expert_action()", f"{chose} {action!r:.80} ({type(action).__name__}) in {where}, not an action "
             "text", f"make {name}.expert_action() return the action as a str (None when it has none)")


def check_valid_actions(env: TextEnv, actions: Any, where: str) -> list[str] | tuple[str, ...]:
    """Return ``actions``, what ``env.valid_actions()`` returned in ``where`` (the instance and turn), or refuse it
    naming ``valid_actions()`` and the fix when it is not a list or tuple of str: a generator or a set has no
    fixed order (the warm start's random pick would not follow its seed, or fails), a str would be read
    character by character, and an entry that is not text is no action the policy could write."""
    name = type(env).__name__
    if not isinstance(actions, (list, tuple)):
        plain = actions is None or isinstance(actions, (str, bytes, numbers.Number))
        shown = f"{actions!r:.80} ({type(actions).__name__})" if plain else f"a {type(actions).__name__}"
        fail(f"{name}.valid_actions()", f"returned {shown} in {where}, not a list of action texts",
             f"make {name}.valid_actions() return a list of str ([] when it cannot list the actions)")
    for i, action in enumerate(actions):
        if not isinstance(action, str):
            which = "its first entry" if i == 0 else f"its entry {i + 1} of {len(actions)}"
            fail(f"{name}.valid_actions()", f"{which} is {action!r:.80} ({type(action).__name__}) in {where}, not an "
                 "action text", f"make {name}.valid_actions() return the actions as str")
    return actions


class SuccessNotReported(FixError):
    """An env's step that ends an episode without ``info["success"]``, or with a value that is not a bool: the one
    env error that the pre-flight's expert episode stops the run on (another failure of a later step drops episodes
    in the run, as it would there). Its message is :func:`~treecredit._validation.fail`'s."""


def _success_fail(argument: str, problem: str, fix: str) -> NoReturn:
    raise SuccessNotReported(argument, problem, (Remedy(fix),), verb="")
