"""Calls of an env's methods while episodes are played: what an env raises is the env's
(:class:`EnvCallFailed`); during play it drops that one episode with a warning (:func:`call_or_drop`,
:class:`DroppedEpisode`), elsewhere (warm start, first-step checks) it stops the run with the fix
(:func:`env_failure`).

Split from :mod:`treecredit.agents.episodes` (which re-exports these names).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from treecredit._validation import split_fix

if TYPE_CHECKING:
    from treecredit.agents.episode_records import Episode


class EnvCallFailed(Exception):
    """An env method raised (``method``; ``call``: the method and its arguments, ``error``: what it raised)."""

    def __init__(self, method: str, call: str, error: Exception) -> None:
        super().__init__(f"{call}: {error}")
        self.method, self.call, self.error = method, call, error


PARSE_HINT = " (parse_action must return None for text that is not a valid action, not raise)"


def env_call(env, method: str, *args):
    """``env.<method>(*args)``; what it raises comes back as :class:`EnvCallFailed` (blamed on the env; on its
    ``parse_action`` when that raised inside ``step`` or ``action_signature``)."""
    try:
        return getattr(env, method)(*args)
    except Exception as exc:  # noqa: BLE001 - any failure of the env's own code is the env's
        shown = ", ".join(shown_arg(a) for a in args)
        if getattr(exc, "env_method", None) == "parse_action" and method != "parse_action":  # TextEnv._parse
            raise EnvCallFailed("parse_action", f"parse_action({shown}) (called by {method})", exc) from exc
        raise EnvCallFailed(method, f"{method}({shown})", exc) from exc


def env_failure(env, failed: EnvCallFailed, when: str, detail: str, by_hand: str) -> ValueError:
    """The ``ValueError`` that stops a run whose env call ``failed`` ``when`` (e.g. ``"in the warm start"``;
    ``detail``: the instance, turn and action), naming the env class, the call and what it raised, with the fix
    a checked return value says, else ``fix <Class>.<method>`` and ``by_hand`` (how to play it by hand)."""
    exc, name = failed.error, type(env).__name__
    problem, fix = split_fix(str(exc))  # a checked return value says its fix
    fix = fix or f"fix {name}.{failed.method} (play that instance by hand: {by_hand})"
    return ValueError(f"env: {name} failed {when} ({detail}, in {name}.{failed.call}): {type(exc).__name__}: "
                      f"{problem}. Fix: {fix}.")


def call_or_drop(ep: Episode, env, warn, turn: int, method: str, *args):
    """:func:`env_call` at ``turn`` of ``ep``; when it raises, ``ep`` is dropped (its ``error`` set, a warning
    naming the env class, the method, the instance and the turn) and None is returned: an env failure drops
    the episode, never the run."""
    try:
        return env_call(env, method, *args)
    except EnvCallFailed as failed:
        ep.error = f"{type(failed.error).__name__}: {failed.error}"
        warn(DroppedEpisode(f"episode of instance {ep.seed} dropped at turn {turn}: the env's "
                            f"{type(env).__name__}.{failed.call} raised "
                            f"{ep.error}{PARSE_HINT if failed.method == 'parse_action' else ''}", failed.error))
        return None


class DroppedEpisode(str):
    """The warning (a str, as ``log`` takes) that an episode was dropped, with ``error``: the exception the env's
    call raised, so that a caller can act on its type (an env's missing ``info["success"]``) without reading
    the text."""

    error: BaseException

    def __new__(cls, text: str, error: BaseException) -> DroppedEpisode:
        self = super().__new__(cls, text)
        self.error = error
        return self


def shown_arg(value) -> str:
    """A call's argument as shown in a warning: its repr, cut at 60 characters; a long non-str by its type."""
    text = repr(value)
    if len(text) <= 60:
        return text
    return text[:57] + "..." if isinstance(value, str) else f"<{type(value).__name__}>"
