"""The options of an environment class: which ``__init__`` parameters ``make_env(name, **options)`` (and
``--env-option key=value``) can set, why a base class's parameter cannot be set, and each value converted to the
type of its default.

An env's options are the keyword parameters of its ``__init__`` and, as far as each ``__init__`` passes unknown
keywords on (``**kwargs``), those of its base classes' ``__init__``. A base class's parameter is no option when

- an ``__init__`` between them takes no ``**kwargs`` (the option could not reach the base class), or
- a subclass's ``__init__`` sets it itself (``super().__init__(n=size, **kwargs)``: ``n`` given as an option
  too would reach the base class twice; ``kwargs["n"] = size``: the option would be dropped without a word).

A value given for a parameter whose default is an ``int``, ``float``, ``bool`` or ``str`` is converted to that
type (``--env-option`` values are read as JSON, else kept as text: ``size=abc`` is the text ``'abc'``); one that
does not convert (``size=abc`` or ``size=3.5`` for ``size=4``) is refused, naming the option, the type and the
class whose ``__init__`` has it, with the fix as a flag and in Python; so is a non-finite float (``ratio=nan``)
and None (``label=null``) unless the parameter's annotation allows it (``label: str | None = "x"``).
"""

from __future__ import annotations

import ast
import inspect
import json
import math
import shlex
import textwrap
from typing import NoReturn

from treecredit._validation import fail

_BOOLS = {"true": True, "false": False}
_TYPE_NAMES = {bool: "a bool", int: "an int", float: "a finite float", str: "a str"}


def parameters(init) -> list[inspect.Parameter]:
    """The parameters of an ``__init__``, ``self`` left out; [] when it has no signature."""
    try:
        return list(inspect.signature(init).parameters.values())[1:]
    except (TypeError, ValueError):
        return []


def settable(params: list[inspect.Parameter]) -> list[inspect.Parameter]:
    """Of an ``__init__``'s parameters, those an option can set: keyword-only ones and positional-or-keyword
    ones (``def __init__(self, size=4, **kwargs)``)."""
    return [p for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)]


def passed_on(init) -> set[str]:
    """The keywords an ``__init__`` gives its base class's ``__init__`` itself (``super().__init__(n=size)``,
    ``Base.__init__(self, n=size)``, or set in its ``**kwargs`` before they are passed on: ``kwargs["n"] = size``,
    ``kwargs.update(n=size)``; not ``kwargs.setdefault("n", ...)``, which an option given still wins), read from
    its source; empty when the source cannot be read."""
    try:
        tree = ast.parse(textwrap.dedent(inspect.getsource(init)))
    except (OSError, TypeError, SyntaxError):
        return set()
    names = {keyword.arg for node in ast.walk(tree) if isinstance(node, ast.Call)
             and isinstance(node.func, ast.Attribute) and node.func.attr == "__init__"
             for keyword in node.keywords if keyword.arg is not None}
    extra = next((p.name for p in parameters(init) if p.kind is p.VAR_KEYWORD), None)
    if extra is not None:
        names |= _set_in(tree, extra)
    return names


def _set_in(tree: ast.AST, extra: str) -> set[str]:
    """The keys that the code ``tree`` sets in the dict named ``extra`` (``extra["n"] = ...``,
    ``extra.update(n=..., **{"m": ...})``, ``extra.update({"n": ...})``)."""
    def named(node) -> bool:
        return isinstance(node, ast.Name) and node.id == extra

    def key(node) -> str | None:
        return node.value if isinstance(node, ast.Constant) and isinstance(node.value, str) else None

    keys: list[str | None] = []
    for node in ast.walk(tree):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target] if isinstance(
            node, (ast.AugAssign, ast.AnnAssign)) else []
        keys += [key(t.slice) for t in targets if isinstance(t, ast.Subscript) and named(t.value)]
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr == "update" \
                and named(node.func.value):
            keys += [k.arg for k in node.keywords]
            keys += [key(k) for arg in node.args if isinstance(arg, ast.Dict) for k in arg.keys]
    return {k for k in keys if k is not None}


def class_options(env_cls: type) -> tuple[dict[str, inspect.Parameter], dict[str, str]]:
    """``(accepted, refused)`` of the class ``env_cls``: ``accepted[name]`` = the parameter an option sets (a
    subclass's parameter wins over a base class's of the same name; the base classes' are listed first); ``refused
    [name]`` = why a base class's parameter cannot be given (module docstring)."""
    accepted: dict[str, inspect.Parameter] = {}
    refused: dict[str, str] = {}
    set_by: dict[str, str] = {}  # a base class's parameter that a subclass's __init__ sets itself → that class
    closed = ""  # the class whose __init__ takes no **kwargs, once one is met
    levels: list[list[str]] = []  # the names accepted from each __init__, the class's own first
    for klass in env_cls.__mro__:
        init = klass.__dict__.get("__init__")
        if klass is object:
            break
        if init is None:
            continue
        params = parameters(init)
        levels.append([])
        for param in settable(params):
            if param.name in accepted or param.name in refused:
                continue
            if closed:
                refused[param.name] = (f"{klass.__name__}.__init__ takes {param.name}, but {closed}.__init__ does not "
                                       f"take **kwargs, so options of its parent classes cannot reach "
                                       f"{klass.__name__}.__init__")
            elif param.name in set_by:
                refused[param.name] = (f"{set_by[param.name]}.__init__ sets {klass.__name__}'s {param.name} itself "
                                       f"(it passes {param.name}=... to {klass.__name__}.__init__)")
            else:
                accepted[param.name] = param
                levels[-1].append(param.name)
        if not closed:
            for name in passed_on(init):
                set_by.setdefault(name, klass.__name__)
            if not any(p.kind is p.VAR_KEYWORD for p in params):
                closed = klass.__name__
    ordered = {name: accepted[name] for level in reversed(levels) for name in level}  # the base classes' first
    return ordered, refused


def shown_options(accepted: dict[str, object]) -> str:
    return ", ".join(f"{k} (required)" if v is inspect.Parameter.empty else f"{k} (default {v!r})"
                     for k, v in accepted.items())


def allows_none(annotation) -> bool:
    """Whether a parameter's annotation (a type, or its text under ``from __future__ import annotations``)
    allows None: ``str | None``, ``Optional[str]``. :func:`converted` keeps such a parameter's None, and
    ``treecredit train`` keeps ``--env-option NAME=null`` as None for it
    (:func:`treecredit.training.train_cli.texts_as_typed`)."""
    text = annotation if isinstance(annotation, str) else repr(annotation)
    return annotation is not inspect.Parameter.empty and ("None" in text or "Optional" in text)


def converted(klass: type, options: dict, accepted: dict[str, inspect.Parameter], *, flag: str = "--env-option",
              where: str = "", python: str = "") -> dict:
    """``options`` with each value converted to the type of its parameter's default (int, float, bool, str;
    other defaults leave the value as it is); a value that does not convert is refused, naming the option
    (``size: ...``, which a run's error names ``--env-option size``), the type and the class whose ``__init__``
    has the parameter, with the fix as a flag and in Python. Refused too: a non-finite float (``nan``, ``inf``;
    unless the default is one), as task options refuse it, and None (``--env-option label=null``) unless the
    parameter's annotation allows it (``label: str | None = "x"``): ``converted`` cannot tell a flag's ``null``
    from a Python None, and either would reach an env that expects its default's type.

    Options that are not an env's (an agent run's ``--sampler-option``, :func:`treecredit.training.agent_checks.
    split_sampler_options`) go through the same conversion: ``flag`` is their flag, ``where`` says where their
    defaults are (``"in EpisodeSettings"``; '' for the class whose ``__init__`` has the parameter) and
    ``python`` the Python form of the fix, with ``{name}`` and ``{value}`` (''  for ``name=value``)."""
    out = dict(options)
    for name, value in options.items():
        param = accepted[name]
        default = param.default
        kind = type(default)
        if kind not in _TYPE_NAMES or (value is None and allows_none(param.annotation)):
            continue
        new = value if type(value) is kind else None if value is None else _convert(value, kind)
        finite = kind is not float or new is None or math.isfinite(new) or not math.isfinite(default)
        if new is None or not finite:
            _refuse(klass, name, value, default, flag, where, python)
        out[name] = new
    return out


def _refuse(klass: type, name: str, value, default, flag: str = "--env-option", where: str = "",
            python: str = "") -> NoReturn:
    """Raise the error of a value that is not of its default's type (:func:`converted`)."""
    kind = type(default)
    home = next((c for c in klass.__mro__ if name in {p.name for p in settable(parameters(
        c.__dict__.get("__init__")))}), klass)  # the class whose own __init__ has the parameter
    owner, own = home.__name__, not home.__module__.startswith("treecredit.") and not where
    example = f"{name}={json.dumps(default) if kind is not str else default}"
    if kind is str and not (default.isprintable() and default.split() == [default]):  # "\n> ": JSON, quoted
        example = shlex.quote(f"{name}={json.dumps(default)}")
    in_python = (python or "{name}={value}").format(name=name, value=repr(default))
    how = f"pass {_TYPE_NAMES[kind]}{' (true or false)' * (kind is bool)}, e.g. {flag} {example} (in " \
          f"Python: {in_python})"
    if value is None and own:  # a built-in env's option never takes None
        how += (f"; to let it be None, annotate it in {owner}.__init__ ({name}: {kind.__name__} | None = "
                f"{default!r})") + f"; for the text null: {flag} {name}=null (in Python: {name}='null')" * (kind is str)
    fail(name, f"is {value!r} ({type(value).__name__}), not {_TYPE_NAMES[kind]} (the type of its default "
         f"{default!r} {where or f'in {owner}.__init__'})", how)


def _convert(value, kind: type):
    """``value`` as ``kind``, or None when it does not convert without loss."""
    if kind is bool:
        return _BOOLS.get(value.strip().lower()) if isinstance(value, str) else None
    if isinstance(value, bool):  # True is no number here: a bool given for a number is a mistake
        return str(value).lower() if kind is str else None
    if kind is str:
        return json.dumps(value) if isinstance(value, (int, float)) else None
    if isinstance(value, str):
        try:
            value = float(value) if kind is float else int(value.strip())
        except ValueError:
            return None
        return value
    if kind is float:
        try:
            return float(value) if isinstance(value, (int, float)) else None
        except OverflowError:  # an int too large for a float
            return None
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    return None
