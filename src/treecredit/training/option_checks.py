"""Option names and value types of an estimator's or a sampler's options, checked before any work.

:func:`check_option_values` compares ``--estimator-option`` / ``--sampler-option`` names with the keyword
parameters of the estimator function or sampler class, and values with their defaults' types;
:func:`check_flag_options` refuses a ``--sampler-option`` that one of ``train``'s own flags sets
(:func:`sampler_flags`), naming the flag. Used by :mod:`treecredit.training.preflight` and by
``TrainConfig`` (the flag check runs with the settings, before the tree sampler's own checks).
:func:`option_flag_named` re-raises an error about one such option naming the field, the flag and the value as
typed (tasks, samplers, envs and agents use it; :mod:`treecredit.training.config` re-exports it).
"""

from __future__ import annotations

import difflib
import inspect
import json
from collections.abc import Callable
from contextlib import contextmanager

from treecredit._validation import fail
from treecredit.training.config_values import typed_value


def check_option_values(fn, options: dict, argument: str, owner: str, reserved: tuple = (),
                        flags: dict | None = None) -> None:
    """Option names of ``options`` against ``fn``'s keyword parameters, values against their defaults' types;
    names in ``reserved`` (parameters the caller fills in itself) are refused and not offered; names in
    ``flags`` (``{name: flag}``: settings a train flag gives, such as ``temperature``) are refused naming
    their flag, and not offered either (a sampler option a flag sets was refused when the config was made:
    :func:`check_flag_options`)."""
    flags = flags or {}
    defaults = _defaults(fn)
    params = {name: default for name, default in defaults.items() if name not in reserved and name not in flags}
    for name in options:
        if name in reserved:
            fail(argument, f"{owner}: {name!r} is filled in by the trainer from each sampled batch, not an option",
                 f"drop {name}; the options are: {', '.join(sorted(params)) or 'none'}")
    for name, value in options.items():
        if name not in params:
            close = difflib.get_close_matches(name, [*params, *flags], n=1)
            hint = ("" if not close else f"did you mean {close[0]!r}? " if close[0] in params
                    else f"did you mean {flags[close[0]]} (a train flag)? ")
            accepted = f"use one of: {', '.join(sorted(params))}" if params else \
                f"drop --sampler-option {name} ({owner} takes no options of its own" + \
                (f"; its settings are the train flags {', '.join(flags[n] for n in defaults if n in flags)})"
                 if flags else ")")
            fail(argument, f"{owner} has no option {name!r}", hint + accepted)
        default = params[name]
        if default is inspect.Parameter.empty or default is None:
            continue
        expected = (bool,) if isinstance(default, bool) else (int,) if isinstance(default, int) \
            else (int, float) if isinstance(default, float) else (type(default),)
        if not isinstance(value, expected) or (isinstance(value, bool) and bool not in expected):
            fail(argument, f"{name}={value!r} is a {type(value).__name__}, {owner} expects "
                 f"{' or '.join(t.__name__ for t in expected)}",
                 f"pass {name}={json.dumps(default, default=repr)} or another {expected[-1].__name__}")


def _defaults(fn) -> dict:
    """``{name: default}`` of ``fn``'s keyword parameters (``inspect.Parameter.empty`` where it has none); a
    dataclass field with a ``default_factory`` gets a fresh value of it (its signature shows a sentinel)."""
    import dataclasses

    factories = {f.name: f.default_factory for f in dataclasses.fields(fn)
                 if f.default_factory is not dataclasses.MISSING} if dataclasses.is_dataclass(fn) else {}
    return {p.name: factories[p.name]() if p.name in factories else p.default
            for p in inspect.signature(fn).parameters.values()
            if p.kind in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD)}


def _flag_example(flag: str, value) -> str:
    """``flag`` given ``value`` on the command line: ``--branching entropy``, ``--branching-option children=4``
    (one per key of a dict value)."""
    if flag.endswith("-option"):
        if isinstance(value, dict) and value:
            return " ".join(f"{flag} {k}={json.dumps(v) if not isinstance(v, str) else v}" for k, v in value.items())
        return f"{flag} KEY=VALUE"
    return f"{flag} {value if isinstance(value, str) else json.dumps(value, default=repr)}"


def check_flag_options(options: dict, flags: dict[str, str] | None = None, argument: str = "sampler_options",
                       config=None) -> None:
    """Refuse an option of ``options`` that a train flag sets (``flags``, default :func:`sampler_flags`: the
    ``--sampler-option`` and the flag would disagree), naming the flag with the option's value. With the run's
    ``config``, the fix fits it: a tree sampler's flag also needs ``--sampler tree`` under another sampler, and
    an option whose flag is given with the same value is only to be dropped."""
    flags = sampler_flags() if flags is None else flags
    for name, value in options.items() if isinstance(options, dict) else ():
        if name not in flags:
            continue
        flag, example = flags[name], _flag_example(flags[name], value)
        if config is not None and config.was_given(name) and getattr(config, name, None) == value:
            fail(argument, f"--sampler-option {name}=... sets what {flag} sets, and {example} is given too",
                 f"drop --sampler-option {name}=... ({flag} sets it)")
        if config is not None and config.sampler != "tree" and name in _tree_only_fields():
            fail(argument, f"--sampler-option {name}=... sets what {flag} sets, which only the tree sampler reads "
                 f"(the {config.sampler!r} sampler would ignore both)", f"pass --sampler tree {example} instead")
        fail(argument, f"--sampler-option {name}=... sets what {flag} sets (the sampler gets {flag}), and the two "
             "would disagree", f"pass {example} instead")


def _tree_only_fields() -> dict[str, str]:
    from treecredit.training.train_cli import TREE_ONLY_FIELDS

    return TREE_ONLY_FIELDS


def sampler_flags() -> dict[str, str]:
    """``{sampler option: train flag}``: what the trainer gives the sampler from its own flags (the decoding
    settings, and the tree sampler's ``--branching`` ... ``--replay-max-weight``), so a ``--sampler-option``
    of that name would contradict the flag (refused)."""
    from treecredit.training.train_cli import TREE_ONLY_FIELDS

    return {"temperature": "--temperature", "top_p": "--top-p", "max_new_tokens": "--max-new-tokens",
            "cutoff": "--cutoff", **TREE_ONLY_FIELDS}


@contextmanager
def option_flag_named(options: dict, field: str, flag: str, owner: str | Callable[[str], str]):
    """Re-raise a ``ValueError`` about one of ``options`` (``children: is -2 ...``) with the field and the flag
    that set it, and the value as the user typed it (:func:`~treecredit.training.config_values.typed_value`):
    ``branching_options: --branching-option children=-2 (branching 'fixed'): children: is -2 ...``;
    ``owner`` says whose option it is (text, or a function of the error's text; '' for none). A
    :class:`~treecredit._validation.FixError` keeps its type and parts (:meth:`~treecredit._validation.FixError.
    reworded`: the field is its argument)."""
    from treecredit._validation import FixError

    try:
        yield
    except ValueError as error:
        name = error.argument if isinstance(error, FixError) else str(error).split(":", 1)[0]
        if isinstance(options, dict) and name in options:
            whose = owner(str(error)) if callable(owner) else owner
            named = f"{flag} {name}={typed_value(options, name)}{f' ({whose})' * bool(whose)}"
            if isinstance(error, FixError):
                raise error.reworded(argument=field, problem=f"{named}: {error.argument}: {error.problem}") from error
            raise ValueError(f"{field}: {named}: {error}") from error
        raise


def branching_flag_named(config):
    """:func:`option_flag_named` for the tree sampler's ``--branching-option`` (other samplers ignore them)."""
    return option_flag_named(config.branching_options if config.sampler == "tree" else {}, "branching_options",
                             "--branching-option", f"branching {config.branching!r}")
