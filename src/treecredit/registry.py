"""The estimator registry: every estimator is registered once, by name, at one of two levels.

- ``"token"`` estimators have the signature ``fn(batch: TokenBatch, **options) -> (B, T) float32``;
  they are called by :func:`treecredit.compute_advantages`.
- ``"turn"`` estimators have the signature ``fn(turns: TurnBatch, **options) -> (N,) float32``;
  they are called by :func:`treecredit.compute_turn_advantages`.

The options an estimator accepts are the keyword-only parameters of its function; passing any other
option is an error that lists the accepted ones. A name may be registered once per level.

What an estimator needs from a rollout is declared at registration (``requires``), so that a whole
training configuration can be checked before any work: each entry is one need, alternatives joined by
``|``, from :data:`REQUIREMENTS`.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Callable

from treecredit._validation import FixError, Remedy

LEVELS = ("token", "turn")
REQUIREMENTS = ("steps", "tree", "mc_values", "turns")
"""``steps``: step boundaries (``step_ends``, ``delimiter`` or ``step_tokens``); ``tree``: a sampled tree
(``tree_nodes``); ``mc_values``: Monte Carlo prefix values; ``turns``: multi-turn episodes (turn level)."""

_OPTION_PROVIDES = {"step_ends": "steps", "delimiter": "steps", "step_tokens": "steps", "tree_nodes": "tree",
                    "mc_values": "mc_values"}
_HOW_TO_GIVE = {
    "steps": ("step_ends", "pass one of step_ends=(B, T) mask, delimiter=<token id(s)> or step_tokens=<block size>"),
    "tree": ("tree_nodes", "pass tree_nodes=(B, T) sampled node ids (the tree sampler produces them)"),
    "mc_values": ("mc_values", "pass mc_values=(B, T) Monte Carlo values of each prefix (the tree sampler "
                               "produces them with mc_rollouts > 0)"),
    "turns": ("estimator", "call compute_turn_advantages with turn-level inputs"),
}


def available_from_options(options: dict) -> set[str]:
    """The :data:`REQUIREMENTS` that token-level ``options`` provide (an option given as None provides nothing)."""
    return {need for name, need in _OPTION_PROVIDES.items() if options.get(name) is not None}


@dataclass(frozen=True)
class EstimatorSpec:
    """A registered estimator: its name, level, function and accepted option names."""

    name: str
    level: str
    fn: Callable
    options: tuple[str, ...]
    summary: str
    requires: tuple[str, ...] = ()
    defaults: tuple[tuple[str, object], ...] = ()

    def missing(self, available) -> list[str]:
        """The entries of ``requires`` that none of ``available`` (names from REQUIREMENTS) satisfies.

        Raises:
            ValueError: a name in ``available`` that is not in REQUIREMENTS (a misspelt ``"step"`` would
                otherwise count as nothing given)."""
        have = set(available)
        unknown = sorted(have - set(REQUIREMENTS))
        if unknown:
            raise ValueError(f"available: unknown input name {unknown[0]!r}. Fix: use names from "
                             f"{list(REQUIREMENTS)}.")
        return [need for need in self.requires if not have & set(need.split("|"))]

    def needs(self, part: str) -> bool:
        """Whether ``requires`` names ``part`` (a name of :data:`REQUIREMENTS`), as a need of its own or as one of a
        need's alternatives: ``get_estimator("vine").needs("mc_values")`` and ``get_estimator("treerpo").needs(
        "tree")`` are True. What the hosts ask of an estimator they cannot feed (no host makes ``mc_values``).

        Raises:
            ValueError: ``part`` is not in REQUIREMENTS (a misspelt ``"mc_value"`` would otherwise read as not
                needed)."""
        if part not in REQUIREMENTS:
            raise ValueError(f"part: unknown input name {part!r}. Fix: use a name from {list(REQUIREMENTS)}.")
        return any(part in need.split("|") for need in self.requires)

    def check_requirements(self, available) -> None:
        """Raise the standard ``ValueError`` for the first need of ``requires`` that ``available`` lacks."""
        missing = self.missing(available)
        if not missing:
            return
        parts = missing[0].split("|")
        argument = _HOW_TO_GIVE[parts[0]][0]
        fix = "; or ".join(_HOW_TO_GIVE[part][1] for part in parts)
        raise ValueError(f"{argument}: estimator {self.name!r} needs {' or '.join(parts)}, which was not given. "
                         f"Fix: {fix}.")

    def check_options(self, options: dict) -> dict:
        """Refuse options the estimator does not take, and scalar options of the wrong kind.

        An option whose default is a bool must be a bool (so ``"no"`` is refused, not read as True); one
        whose default is a number must be a real number; one whose default is a string must be a string.
        Returns the options with 0-d arrays / NumPy scalars turned into Python scalars.
        """
        unknown = sorted(set(options) - set(self.options))
        if unknown:
            accepted = ", ".join(self.options) or "none"
            from treecredit._validation import did_you_mean

            raise ValueError(
                f"{unknown[0]}: estimator {self.name!r} does not take option(s) {unknown}"
                f"{did_you_mean(unknown[0], self.options)}. Fix: remove them; {self.name!r} accepts: {accepted}."
            )
        from treecredit._validation import check_flag, check_number, fail
        from treecredit.step_text import short_repr

        out = dict(options)
        for name, default in self.defaults:
            if name not in options:
                continue
            value = options[name]
            if isinstance(default, bool):
                out[name] = check_flag(value, name)
            elif isinstance(default, (int, float)):
                number = check_number(value, name)
                out[name] = int(number) if isinstance(default, int) and number == int(number) else number
            elif isinstance(default, str) and not isinstance(value, str):
                fail(name, f"is {type(value).__name__} {short_repr(value)}, expected a string",
                     f"pass {name} as a string, e.g. {name}={default!r} (the default; a string outside the "
                     "estimator's choices is refused with the list)")
        return out


_REGISTRY: dict[str, dict[str, EstimatorSpec]] = {level: {} for level in LEVELS}


def register_estimator(name: str, *, level: str = "token",
                       requires: tuple[str, ...] = ()) -> Callable[[Callable], Callable]:
    """Decorator that registers ``fn`` under ``name`` at ``level``; a taken name is refused.

    ``requires``: what the estimator needs from a rollout, e.g. ``("steps|tree",)`` or
    ``("steps", "mc_values")`` (see :data:`REQUIREMENTS`).
    """
    if level not in LEVELS:
        raise ValueError(f"level: {level!r} is not one of {list(LEVELS)}. Fix: pass 'token' or 'turn'.")
    for need in requires:
        unknown = [part for part in need.split("|") if part not in REQUIREMENTS]
        if unknown:
            raise ValueError(f"requires: unknown need {unknown[0]!r}. Fix: use names from {list(REQUIREMENTS)}.")

    def decorate(fn: Callable) -> Callable:
        if name in _REGISTRY[level]:
            raise ValueError(
                f"name: {level}-level estimator {name!r} is already registered "
                f"(by {_REGISTRY[level][name].fn.__module__}). Fix: choose another name."
            )
        params = [p for p in inspect.signature(fn).parameters.values() if p.kind is inspect.Parameter.KEYWORD_ONLY]
        options = tuple(p.name for p in params)
        defaults = tuple((p.name, p.default) for p in params if isinstance(p.default, (bool, int, float, str)))
        summary = (inspect.getdoc(fn) or "").split("\n", 1)[0]
        _REGISTRY[level][name] = EstimatorSpec(name, level, fn, options, summary, tuple(requires), defaults)
        return fn

    return decorate


def _load_builtin() -> None:
    # Importing the package registers the built-in estimators; the import is idempotent.
    import treecredit.methods  # noqa: F401


def _near(name, known) -> str:
    """``" (did you mean 'x'?)"`` for the name of ``known`` that ``name`` matches but for case (``"GRPO"``), else
    for the closest one (:func:`~treecredit._validation.did_you_mean`), else ``""``."""
    from treecredit._validation import did_you_mean

    same = [k for k in known if isinstance(name, str) and k.lower() == name.lower()]
    return f" (did you mean {same[0]!r}?)" if same else did_you_mean(name, known)


def _check_level(level) -> None:
    """Refuse a ``level`` that is not ``"token"`` or ``"turn"``, naming the argument."""
    if not isinstance(level, str) or level not in LEVELS:
        raise ValueError(f"level: is {level!r}, not one of {list(LEVELS)}{_near(level, LEVELS)}. "
                         "Fix: pass 'token' or 'turn' (or no level, for the names of both).")


class UnknownEstimator(FixError):
    """The refusal of an estimator name that is not registered at ``level`` (:func:`get_estimator`): its fix lists
    the ``known`` names, which a host that cannot run some of them rewrites from these parts
    (:func:`~treecredit.integrations._fixes.host_estimator`)."""

    def __init__(self, argument: str, problem: str, remedies: tuple, *, name, level: str, known: tuple[str, ...],
                 **kwargs):
        self.name, self.level, self.known = name, level, known
        super().__init__(argument, problem, remedies, **kwargs)


def get_estimator(name: str, *, level: str = "token") -> EstimatorSpec:
    """Return the spec registered under ``name`` at ``level``, or raise :class:`UnknownEstimator` (a
    ``ValueError``) listing the known names."""
    _load_builtin()
    _check_level(level)
    if not isinstance(name, str) or name not in _REGISTRY[level]:
        known = ", ".join(sorted(_REGISTRY[level]))
        other = [lv for lv in LEVELS if lv != level and name in _REGISTRY[lv]]
        hint = f" ({name!r} exists at the {other[0]} level)" if other else ""
        near = "" if hint else _near(name, _REGISTRY[level])
        where = ""
        if other == ["turn"]:  # a turn-level estimator credits the turns of agent episodes
            where = (f"; or keep {name!r} at the turn level (level='turn', treecredit.compute_turn_advantages), "
                     "e.g. to train an agent on episodes (treecredit train --env NAME, or "
                     "treecredit.agents.agent_advantages)")
        elif other == ["token"]:
            where = f"; or keep {name!r} at the token level (level='token', treecredit.compute_advantages)"
        raise UnknownEstimator("estimator", f"unknown {level}-level estimator {name!r}{hint}{near}",
                               (Remedy(f"use one of: {known}{where}"),), verb="", name=name, level=level,
                               known=tuple(sorted(_REGISTRY[level])))
    return _REGISTRY[level][name]


def estimators(level: str | None = None) -> list[str]:
    """Names of the registered estimators, sorted; ``level`` restricts to ``"token"`` or ``"turn"``."""
    _load_builtin()
    if level is not None:
        _check_level(level)
    levels = LEVELS if level is None else (level,)
    return sorted({name for lv in levels for name in _REGISTRY[lv]})
