"""Reward specs: ``NAME[:key=value,…][@WEIGHT]`` or ``module.path:function[@WEIGHT]``, and a registry.

``NAME`` is a built-in (``math``, ``exact``, ``numeric``, ``code``) or a name given to
:func:`register_reward`; a ``module:function`` spec imports the module (from ``sys.path``, which
includes the current folder, then from the folder a run recorded,
:func:`~treecredit.user_modules.add_module_folders`) and takes
the attribute. The two forms cannot be confused: after the
colon, options contain ``=`` and a function name cannot.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable

from treecredit._validation import did_you_mean, fail
from treecredit.rewards.builtin import BUILTIN_REWARDS
from treecredit.user_modules import add_module_folders as add_module_folders  # re-exported: its old place
from treecredit.user_modules import colon_hint, import_user_module, module_root, recorded_folder

_REGISTERED: dict[str, Callable] = {}


def register_reward(name: str, fn: Callable) -> Callable:
    """Make ``fn`` (TRL convention) available as ``--reward name``; returns ``fn``."""
    if not callable(fn):
        fail("fn", f"{fn!r} is not callable", "pass a function fn(prompts, completions, **columns) -> list")
    if name in BUILTIN_REWARDS or name == "task":
        fail("name", f"{name!r} is a built-in reward", f"pick another name than {[*sorted(BUILTIN_REWARDS), 'task']}")
    _REGISTERED[name] = fn
    return fn


def reward_names() -> list[str]:
    """Built-in and registered reward names."""
    return sorted({**BUILTIN_REWARDS, **_REGISTERED})


def comma_separated_specs(text: str) -> list[str] | None:
    """The reward specs of ``text`` when it holds two or more apart by commas (``'math, my_module:fn'``, a list
    written as one text), else None. A comma-separated piece is one of the spec before it's options when it reads
    as ``key=value`` (an ``=``, and no ``:`` before it) and that spec has options (``numeric:tolerance=0.01,
    abs=1`` is one spec); any other piece starts a spec (``math``, ``my_module:fn``, ``numeric:tolerance=0.1@2``):
    a function or reward name holds no ``=``, so the reading is never ambiguous."""
    if "," not in text:
        return None
    specs: list[str] = []
    for piece in (p.strip() for p in text.split(",")):
        if not piece:
            continue
        head, _, rest = specs[-1].partition(":") if specs else ("", "", "")
        key, equals, _ = piece.partition("=")
        if specs and equals and ":" not in key and "=" in rest:
            specs[-1] += "," + piece
        else:
            specs.append(piece)
    return specs if len(specs) > 1 else None


def several_specs_fix(specs: list[str]) -> str:
    """The fix of several reward specs written as one text: each its own ``--reward``, or a list (YAML, TOML,
    Python)."""
    import shlex

    yaml_list = "[" + ", ".join(specs) + "]" if all(_plain_yaml(s) for s in specs) else json.dumps(specs)
    return (f"give each as its own flag ({' '.join(f'--reward {shlex.quote(s)}' for s in specs)}), or as a list in a "
            f"config file (YAML reward: {yaml_list}; TOML reward = {json.dumps(specs)}) or in Python "
            f"(reward={specs!r})")


def _plain_yaml(text: str) -> bool:
    """Whether ``text`` reads as itself unquoted in a YAML flow list (no ``: ``, ``#``, brackets, quotes, ...)."""
    import re

    return bool(re.fullmatch(r"[A-Za-z0-9_.][A-Za-z0-9_.:=@+\-]*", text)) and ": " not in text


def parse_spec(spec: str, argument: str = "reward") -> tuple[str, dict, float]:
    """``(target, options, weight)`` of one spec string (see the module docstring).

    Raises:
        ValueError: naming ``argument``: several specs apart by commas (:func:`comma_separated_specs`: one
            ``--reward`` or list item is one reward; the fix shows the flags and the list), a weight that is not a
            number, 0 or given twice, an option that is not ``key=value``, no reward name."""
    several = comma_separated_specs(spec.strip())
    if several:
        fail(argument, f"{spec!r} holds {len(several)} rewards apart by commas, but one spec is one reward (a comma "
             "separates only its key=value options)", several_specs_fix(several))
    text, weight = spec.strip(), 1.0
    if "@" in text:
        text, _, raw = text.rpartition("@")
        try:
            weight = float(raw)
        except ValueError:
            fail(argument, f"weight {raw!r} in {spec!r} is not a number", "write e.g. --reward math@0.5")
        if "@" in text:
            fail(argument, f"{spec!r} has more than one @weight",
                 f"write one weight, e.g. --reward {text.split('@')[0]}@{raw}")
        if weight == 0:
            fail(argument, f"{spec!r} has weight 0, which turns the reward off (every completion would get 0 from it)",
                 f"drop --reward {spec}, or give it a weight other than 0")
    target, _, rest = text.partition(":")
    options: dict = {}
    if rest and "=" in rest:
        for pair in rest.split(","):
            key, sep, value = pair.partition("=")
            if not sep or not key.strip():
                fail(argument, f"option {pair!r} in {spec!r} is not key=value", "write e.g. numeric:tolerance=0.01")
            try:
                options[key.strip()] = json.loads(value)
            except json.JSONDecodeError:
                options[key.strip()] = value
    elif rest:
        target = text  # module:function
    if not target:
        fail(argument, f"{spec!r} names no reward", f"pass one of {reward_names()} or module:function")
    return target, options, weight


def load_function(target: str, argument: str = "reward") -> Callable:
    """The callable named by ``target``: a registered/built-in name or ``module:function``."""
    if target in _REGISTERED:
        return _REGISTERED[target]
    if target in BUILTIN_REWARDS:
        return BUILTIN_REWARDS[target]
    if target == "task":
        fail(argument, "'task' names a task's own verifier, and a dataset task has none",
             "with --dataset, name the verifiers: math, exact, numeric, code or module:function")
    module_name, sep, attr = target.partition(":")
    if not sep:
        hint = colon_hint(target, reward_names(), "function")
        fail(argument, f"unknown reward {target!r}{hint or did_you_mean(target, reward_names())}",
             f"pass one of {reward_names()}, or module:function for your own (TRL convention)")
    module = import_user_module(module_name, target, argument, f"train ... --reward {target}",
                                recorded_folder(module_name))
    fn = module
    for part in attr.split("."):
        fn = getattr(fn, part, None)
        if fn is None:
            functions = sorted(name for name, value in vars(module).items()
                               if callable(value) and not name.startswith("_") and not isinstance(value, type))
            fail(argument, f"module {module_name!r} has no attribute {attr!r}{did_you_mean(attr, functions)}",
                 f"check the function name (the module's functions: {', '.join(functions) or 'none'})")
    if not callable(fn):
        fail(argument, f"{target!r} is {type(fn).__name__}, not callable",
             "point at a function fn(prompts, completions, **columns) -> list of float or None")
    return fn


def module_folders(targets) -> dict[str, str]:
    """``{module name: absolute folder}`` for each ``module:function`` of ``targets`` (spec strings) whose
    module is imported: the ``sys.path`` entry it was imported from (the folder above its top package)."""

    folders = {}
    for spec in targets:
        if not isinstance(spec, str) or not spec:
            continue
        module_name, sep, _ = parse_spec(spec)[0].partition(":")
        root = module_root(module_name) if sep else ""
        if root:
            folders[module_name] = root
    return folders


def make_reward(spec, argument: str = "reward") -> tuple[str, Callable, float]:
    """``(name, function with options bound, weight)`` from a spec string, a callable, or a
    ``(callable_or_spec, weight)`` pair."""
    weight = 1.0
    if isinstance(spec, tuple) and len(spec) == 2:
        spec, weight = spec
        weight = float(weight)
    if callable(spec):
        return getattr(spec, "__name__", repr(spec)), spec, weight
    if not isinstance(spec, str):
        fail(argument, f"{spec!r} is neither a spec string nor a callable", "pass 'math', 'mod:fn@0.5' or a function")
    target, options, spec_weight = parse_spec(spec, argument)
    fn = load_function(target, argument)
    if options:
        _check_options(target, fn, options, argument)
        fn = functools.partial(fn, **options)
    return target, fn, weight * spec_weight


def _check_options(target: str, fn: Callable, options: dict, argument: str) -> None:
    """Refuse option names ``fn`` does not take: a built-in reward takes only its named keyword parameters
    (its ``**_`` swallows the dataset's columns, so a misspelled option would be ignored silently); a
    registered function of the user's takes any name when it has ``**kwargs``."""
    import inspect

    try:
        parameters = inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return
    named = [n for n, p in parameters.items() if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
             and n not in ("prompts", "completions")]
    open_ended = any(p.kind is p.VAR_KEYWORD for p in parameters.values())
    strict = target in BUILTIN_REWARDS or not open_ended
    unknown = sorted(set(options) - set(named)) if strict else []
    if unknown:  # options proper have a value by default; parameters defaulting to None are the columns
        settable = [n for n in named if parameters[n].default not in (None, inspect.Parameter.empty)]
        fail(argument, f"{target!r} takes no option(s) {unknown}; its options are {settable}",
             f"write {target}:NAME=VALUE with NAME one of {settable}" if settable
             else f"write {target} without options")
    if target in BUILTIN_REWARDS:
        _check_option_types(target, parameters, options, argument)


MAX_TIMEOUT = 86400.0
"""The largest ``timeout`` of a built-in reward (``code:timeout``, ``math:timeout``), refused when the spec is
read: :data:`treecredit.rewards.code_args.MAX_TIMEOUT`, :data:`treecredit.rewards.math_verify_calls.MAX_SECONDS`."""

POSITIVE_COUNTS = {"workers": "the programs run at once"}
"""Built-in reward options that count something (``code:workers``): a whole number ≥ 1, refused otherwise by the
spec check, before any model loads (``code:workers=0`` was refused only when the reward was first called)."""


def _check_option_types(target: str, parameters, options: dict, argument: str) -> None:
    """A built-in reward's option values must have the type of the parameter's default: a finite number
    ≥ 0 (``timeout`` > 0) for a float (``numeric:tolerance=abc`` would otherwise fail on every
    completion, each counted as a failed reward), a whole number ≥ 1 for a count (:data:`POSITIVE_COUNTS`),
    ``true``/``false`` for a bool."""
    import math

    for name, value in options.items():
        default = parameters[name].default
        if name in POSITIVE_COUNTS:
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                fail(argument, f"option {target}:{name}={value!r} is not a positive integer ({POSITIVE_COUNTS[name]})",
                     f"write {target}:{name}=N with N a positive integer, e.g. {target}:{name}={default}")
        elif isinstance(default, bool):
            if not isinstance(value, bool):
                fail(argument, f"option {name}={value!r} of {target!r} is not true or false",
                     f"write {target}:{name}=true or {target}:{name}=false")
        elif isinstance(default, (int, float)):
            number = isinstance(value, (int, float)) and not isinstance(value, bool)
            low = "> 0" if name == "timeout" else "≥ 0"  # code:timeout=0 would time every program out
            shown = f"{default:g}" if isinstance(default, float) else default
            if not number or not math.isfinite(value) or value < 0 or (value == 0 and low == "> 0"):
                fail(argument, f"option {name}={value!r} of {target!r} is not a finite number {low}",
                     f"write e.g. {target}:{name}={shown}")
            if name == "timeout" and value > MAX_TIMEOUT:  # (code:timeout=1e20, math:timeout=1e10: until
                fail(argument, f"option {name}={value!r} of {target!r} is more than {MAX_TIMEOUT:g} seconds "
                     "(one day)", f"write e.g. {target}:{name}={shown}")  # 2026-12-03 read, then failing late)

