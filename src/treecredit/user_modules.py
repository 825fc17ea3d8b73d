"""A user's ``module:name`` target (a reward function, an environment class): importing its module the way
both ``--reward module:function`` and ``--env module:Class`` do, and the folder a run records to import it
again from anywhere (resume, ``compare``'s worker processes)."""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

from treecredit._validation import did_you_mean, fail

_FOLDERS: dict[str, str] = {}
"""Module name → the folder a run recorded it was imported from (:func:`add_module_folders`)."""


def add_module_folders(folders: dict) -> None:
    """Let ``module:name`` targets (``--reward module:function``, ``--env module:Class``) import from the
    ``folders`` a run recorded (``TrainConfig.module_folders``), after the current folder and ``PYTHONPATH``: a
    resumed run (or a ``compare`` worker) finds its module from any working folder."""
    for module_name, folder in folders.items():
        _FOLDERS[module_name] = folder
        if folder not in sys.path:
            sys.path.append(folder)


def recorded_folder(module_name: str) -> str:
    """The folder a run recorded ``module_name`` was imported from (:func:`add_module_folders`), else ``""``."""
    return _FOLDERS.get(module_name, "")


def import_user_module(module_name: str, target: str, argument: str, command: str, recorded: str = "") -> ModuleType:
    """Import ``module_name`` (the module of ``target``), with the current folder first on ``sys.path`` as
    ``python -m`` has it.

    Raises ``ValueError`` naming ``argument``: a module that is found but fails while it runs (with the line of
    the module where it failed), or one that is not found (with ``recorded``, the folder a run recorded, when
    given; ``command``: the command line to show with ``PYTHONPATH``, e.g. ``train ... --reward m:f``)."""
    if "" not in sys.path:
        sys.path.insert(0, "")
    try:
        return importlib.import_module(module_name)
    except Exception as exc:  # noqa: BLE001 — ImportError, or any error raised while the module ran
        found = _found_module_file(module_name, exc)
        if found:  # the module is there; its own code failed while it was imported
            fail(argument, f"module {module_name!r} of {target!r} ({found}) was found but failed while it was "
                 f"imported: {type(exc).__name__}: {exc}{_where_in(exc, found)}",
                 "fix that line of the module (or install the package it imports), then run the same command")
        where = f", nor from {recorded}, the folder the run recorded at its start" if recorded else ""
        fail(argument, f"module {module_name!r} of {target!r} does not import ({type(exc).__name__}: {exc}{where})",
             f"check the module name and that its folder is the current folder or on PYTHONPATH (e.g. "
             f"PYTHONPATH=/path/to/folder treecredit {command})")
    raise AssertionError("unreachable")  # fail() raises


def colon_hint(target: str, known, kind: str) -> str:
    """`` (did you mean module:name? a <kind> is named module:<kind>)`` for a ``target`` written
    ``module.name`` (a dot where the colon goes: ``--env myenvs.Guess``, ``--reward my_rewards.fmt``), else
    ``""``; also ``""`` when ``did_you_mean`` finds ``target`` close to one of the ``known`` names (that hint is
    the better one). ``kind``: ``"function"`` or ``"Class"``."""
    head, dot, tail = target.rpartition(".")
    if not (dot and head and tail) or did_you_mean(target, known):
        return ""
    return f" (did you mean {head}:{tail}? a {kind.lower()} is named module:{kind})"


def module_root(module_name: str) -> str:
    """The folder to put on ``sys.path`` to import the already imported ``module_name`` again (its file's
    folder, up one level per package part), or ``""`` when it has no file."""
    file = getattr(sys.modules.get(module_name), "__file__", None)
    if not file:
        return ""
    folder = Path(file).resolve().parent
    for _ in range(module_name.count(".") + (Path(file).stem == "__init__")):
        folder = folder.parent
    return str(folder)


def _found_module_file(module_name: str, exc: BaseException) -> str:
    """The file of ``module_name`` when it exists and ``exc`` came from running it (not from finding it),
    else ``""``."""
    import importlib.util

    missing = getattr(exc, "name", None) if isinstance(exc, ModuleNotFoundError) else None
    if missing is not None and (module_name + ".").startswith(missing + "."):
        return ""  # the module (or a package above it) is not there
    try:
        spec = importlib.util.find_spec(module_name)
    except Exception:  # noqa: BLE001 — a parent package that itself fails to import
        return ""
    return str(spec.origin) if spec is not None and spec.origin else ""


def _where_in(exc: BaseException, file: str) -> str:
    """`` (line N of <file>)`` for the deepest frame of ``exc``'s traceback in ``file``, else ``""``."""
    import traceback

    lines = [frame.lineno for frame in traceback.extract_tb(exc.__traceback__) if frame.filename == file]
    return f" (line {lines[-1]} of {file})" if lines else ""
