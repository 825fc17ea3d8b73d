"""Text environments for multi-turn agents: the interface, a registry by name, and the built-in envs.

``environments()`` lists the registered names (as ``treecredit.estimators()`` lists estimators);
``make_env(name, **options)`` builds one, refusing an option the env does not take and naming the extra
to install when an optional dependency is missing. ``env_available(name)`` checks without raising.

Built in: ``gridworld`` (embedded, no dependency), ``frozenlake`` and ``cliffwalking`` (gymnasium's
toy-text envs as text; extra ``gym``), ``textworld`` (games generated on this machine; extra
``textworld``).
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
from dataclasses import dataclass
from typing import Callable

from treecredit._validation import fail
from treecredit.envs.base import SIGNATURE_MODES, TextEnv


@dataclass(frozen=True)
class EnvSpec:
    """A registered environment: its name, module:class, the module it needs and the extra providing it."""

    name: str
    target: str
    requires: str | None
    extra: str | None
    summary: str


_ENVS: dict[str, EnvSpec] = {}


def register_env(name: str, target: str, *, requires: str | None = None, extra: str | None = None,
                 summary: str = "") -> None:
    """Register ``target`` (``"package.module:Class"``, a :class:`TextEnv` subclass) under ``name``.

    ``requires`` is the importable module the env needs, ``extra`` the pip extra that installs it.
    """
    if name in _ENVS and _ENVS[name].target != target:
        fail("name", f"environment {name!r} is already registered (by {_ENVS[name].target})", "choose another name")
    _ENVS[name] = EnvSpec(name, target, requires, extra, summary)


def environments() -> list[str]:
    """Names of the registered environments, sorted."""
    return sorted(_ENVS)


def get_env_spec(name: str) -> EnvSpec:
    if not isinstance(name, str) or name not in _ENVS:
        fail("env", f"unknown environment {name!r}", f"use one of: {', '.join(environments())}")
    return _ENVS[name]


def env_available(name: str) -> bool:
    """True when ``name``'s optional dependency (if any) can be imported."""
    spec = get_env_spec(name)
    if spec.requires is None:
        return True
    return importlib.util.find_spec(spec.requires) is not None


def env_class(name: str) -> type[TextEnv]:
    """The class of environment ``name`` (raises naming the extra when its dependency is missing)."""
    spec = get_env_spec(name)
    if not env_available(name):
        fail("env", f"environment {name!r} needs the package {spec.requires!r}, which is not installed",
             f"pip install 'treecredit[{spec.extra}]'")
    module, _, cls = spec.target.partition(":")
    return getattr(importlib.import_module(module), cls)


def env_options(name: str) -> dict[str, object]:
    """The options ``make_env(name, ...)`` accepts, with their defaults."""
    out: dict[str, object] = {}
    for klass in reversed(env_class(name).__mro__):
        init = klass.__dict__.get("__init__")
        if init is None or klass is object:
            continue
        for param in inspect.signature(init).parameters.values():
            if param.kind is param.KEYWORD_ONLY:
                out[param.name] = param.default
    return out


def make_env(name: str, **options) -> TextEnv:
    """A new environment ``name`` built with ``options``; an unknown option is an error that lists the known ones."""
    accepted = env_options(name)
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        from treecredit._validation import did_you_mean

        fail("env_options", f"environment {name!r} has no option(s) {unknown}{did_you_mean(unknown[0], accepted)}",
             f"use some of: {', '.join(f'{k} (default {v!r})' for k, v in accepted.items())}")
    return env_class(name)(**options)


def env_factory(name: str, **options) -> Callable[[], TextEnv]:
    """A function returning a fresh ``make_env(name, **options)``; options are checked once, now."""
    make_env(name, **options)
    return lambda: make_env(name, **options)


register_env("gridworld", "treecredit.envs.gridworld:GridWorld",
             summary="embedded text grid world: walk to the goal around holes (no dependency)")
register_env("frozenlake", "treecredit.envs.toy_text:FrozenLakeText", requires="gymnasium", extra="gym",
             summary="gymnasium FrozenLake as text (slippery off by default)")
register_env("cliffwalking", "treecredit.envs.toy_text:CliffWalkingText", requires="gymnasium", extra="gym",
             summary="gymnasium CliffWalking as text")
register_env("textworld", "treecredit.envs.textworld_env:TextWorldEnv", requires="textworld", extra="textworld",
             summary="TextWorld games generated on this machine (exact state from the world facts)")

__all__ = ["EnvSpec", "SIGNATURE_MODES", "TextEnv", "env_available", "env_class", "env_factory", "env_options",
           "environments", "get_env_spec", "make_env", "register_env"]
