"""Text environments for multi-turn agents: the interface, a registry by name, and the built-in envs.

``environments()`` lists the registered names (as ``treecredit.estimators()`` lists estimators);
``make_env(name, **options)`` builds one, refusing an option the env does not take and naming the extra
to install when an optional dependency is missing. ``env_available(name)`` checks without raising.

Built in: ``gridworld`` (embedded, no dependency), ``frozenlake`` and ``cliffwalking`` (gymnasium's
toy-text envs as text; extra ``gym``), ``textworld`` (games generated on this machine; extra
``textworld``).

Your own env: wherever a name is taken (``make_env``, ``TrainConfig.env``, ``treecredit train --env``),
``"module:Class"`` names a :class:`TextEnv` subclass directly, imported like ``--reward module:function``
(the current folder first, then ``sys.path`` and ``PYTHONPATH``); :func:`module_folder` tells a run where
it was imported from, so a resumed run or a ``compare`` worker finds it again.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
from dataclasses import dataclass
from typing import Callable

from treecredit._validation import fail, split_fix
from treecredit.envs.base import SIGNATURE_MODES, TextEnv, check_initialized
from treecredit.envs.options import class_options, converted, shown_options
from treecredit.user_modules import colon_hint, import_user_module, module_root


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
    """The registered env ``name``, or for ``"module:Class"`` (your own env) a spec of that class."""
    if isinstance(name, str) and name not in _ENVS and _is_target(name):
        return EnvSpec(name, name, None, None, "your own env")
    if not isinstance(name, str) or name not in _ENVS:
        from treecredit._validation import did_you_mean

        hint = colon_hint(name, environments(), "Class") if isinstance(name, str) else ""
        fail("env", f"unknown environment {name!r}{hint or did_you_mean(name, environments())}",
             f"use one of: {', '.join(environments())}, or module:Class for your own TextEnv subclass")
    return _ENVS[name]


def _is_target(name: str) -> bool:
    module, sep, cls = name.partition(":")
    return bool(sep) and all(part.isidentifier() for part in module.split(".") + cls.split("."))


def _import_class(target: str, own: bool) -> type[TextEnv]:
    """The class ``module:Class`` names; an import error, a missing class or a class that is not a
    :class:`TextEnv` subclass raises naming ``env`` and the fix."""
    module_name, _, attr = target.partition(":")
    if own:  # the current folder first, as for --reward module:function
        module = import_user_module(module_name, target, "env", f"train --env {target} ...")
    else:
        module = importlib.import_module(module_name)
    value = module
    for part in attr.split("."):
        value = getattr(value, part, None)
        if value is None:
            classes = sorted(n for n, v in vars(module).items()
                             if isinstance(v, type) and issubclass(v, TextEnv) and v is not TextEnv)
            from treecredit._validation import did_you_mean

            fail("env", f"module {module_name!r} has no class {attr!r}{did_you_mean(attr, classes)}",
                 f"use one of its TextEnv subclasses: {', '.join(classes) or 'none'}")
    if not (isinstance(value, type) and issubclass(value, TextEnv)):
        fail("env", f"{target!r} is {value!r}, not a subclass of treecredit.envs.TextEnv",
             "point at a class that subclasses TextEnv (docs/agents.md, 'Your own env')")
    if inspect.isabstract(value):
        missing = ", ".join(sorted(value.__abstractmethods__))
        fail("env", f"{target!r} does not implement {missing}", f"define {missing} in {attr}")
    return value


def module_folder(name: str) -> dict[str, str]:
    """``{module: absolute folder}`` of an imported ``module:Class`` env (the ``sys.path`` entry it came from),
    else ``{}``: what a run records (``TrainConfig.module_folders``) to import it again from any folder."""
    if name in _ENVS or not isinstance(name, str) or not _is_target(name):
        return {}
    module_name = name.partition(":")[0]
    root = module_root(module_name)
    return {module_name: root} if root else {}


def env_code_hash(name: str) -> str | None:
    """A hash of the source of env ``name``'s class and of its base classes defined outside treecredit (a
    ``module:Class`` env, or one registered from another package): editing the env's file changes it, so the
    agent warm-start cache, which is keyed by it, is rebuilt. None for treecredit's built-in envs (their code
    is versioned with treecredit). A class whose source file cannot be read is hashed by its own source, else
    by its module's file name."""
    import hashlib
    from pathlib import Path

    digest, found = hashlib.sha256(), False
    for klass in env_class(name).__mro__:
        module = klass.__module__
        if not issubclass(klass, TextEnv) or module == "treecredit" or module.startswith("treecredit."):
            continue
        found = True
        try:
            source = Path(inspect.getsourcefile(klass) or "").read_bytes()
        except (OSError, TypeError):
            try:
                source = inspect.getsource(klass).encode()
            except (OSError, TypeError):
                source = f"{module}:{klass.__qualname__}".encode()
        digest.update(module.encode() + b"\0" + source + b"\0")
    return digest.hexdigest()[:16] if found else None


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
    return _import_class(spec.target, own=name not in _ENVS)


def env_options(name: str) -> dict[str, object]:
    """The options ``make_env(name, ...)`` accepts, with their defaults: the keyword-only and the
    positional-or-keyword parameters of the ``__init__`` of the env class and of its base classes, as far as
    each ``__init__`` passes unknown keywords on (``**kwargs``) and does not set the parameter itself
    (:mod:`treecredit.envs.options`); an option without a default (it must be given) maps to
    ``inspect.Parameter.empty``."""
    return _defaults(class_options(env_class(name))[0])


def _defaults(accepted: dict[str, inspect.Parameter]) -> dict[str, object]:
    return {name: param.default for name, param in accepted.items()}


def make_env(name: str, **options) -> TextEnv:
    """A new environment ``name`` built with ``options``; an unknown option is an error that lists the known ones,
    a required ``__init__`` argument not given and an ``__init__`` that raises are errors naming the env class
    (an error already in the ``argument: problem. Fix: fix.`` form, e.g. a built-in env's option check, is
    raised as it is)."""
    klass = env_class(name)
    accepted, refused = class_options(klass)
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        from treecredit._validation import did_you_mean

        why = "".join(f": {refused[key]}" for key in unknown[:1] if key in refused)
        hint = "" if why else did_you_mean(unknown[0], accepted)
        fail("env_options", f"environment {name!r} has no option(s) {unknown}{hint}{why}",
             f"use some of: {shown_options(_defaults(accepted))}")
    options = converted(klass, options, accepted)
    cls = klass.__name__
    missing = [key for key, p in accepted.items() if p.default is p.empty and key not in options]
    if missing:
        given = ", ".join(f"{m!r}: <value>" for m in missing)
        fail("env", f"{cls}.__init__ needs the argument{'s' * (len(missing) > 1)} {', '.join(missing)}, which no "
             "--env-option gives", f"pass {' '.join(f'--env-option {m}=<value>' for m in missing)} (in Python: "
             f"env_options={{{given}}}), or give {' and '.join(missing)} a default in {cls}.__init__")
    try:
        env = klass(**options)
    except Exception as exc:  # noqa: BLE001 - named and re-raised
        if isinstance(exc, ValueError) and split_fix(str(exc))[1]:
            raise  # a checked option (gridworld's size) says its own fix; the caller names the flag
        shown = ", ".join(f"{k}={v!r}" for k, v in options.items())
        raise ValueError(f"env: {cls}.__init__ raised {type(exc).__name__}: {split_fix(str(exc))[0]} (building env "
                         f"{name!r} with {shown or 'no options'}). Fix: fix {cls}.__init__ or pass other --env-option "
                         f"values (build it by hand: {cls}({shown})).") from exc
    check_initialized(env)
    return env


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

__all__ = ["EnvSpec", "SIGNATURE_MODES", "TextEnv", "env_available", "env_class", "env_code_hash", "env_factory",
           "env_options", "environments", "get_env_spec", "make_env", "module_folder", "register_env"]
