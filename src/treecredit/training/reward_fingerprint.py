"""Fingerprints of a run's own reward modules (``--reward module:function``, a ``step_checker`` given as
``module:function``), recorded in its ``config.json`` beside the data files' (``data_fingerprints``), so that
``--resume`` can say when such a module was edited since the run started.

A resume imports the module anew, on purpose: a broken reward can be fixed and the run resumed. So an edited
module is not refused; the resume warns (:func:`warn_changed_modules`: a Python warning, which the command shows
on stderr and the run's ``log.txt`` keeps) that the steps trained from then on use the edited reward, so that
the run's results (and a comparison's runs) mix two rewards. Built-in and registered rewards have no module file
and no fingerprint; runs saved before modules were fingerprinted are not checked.

What is read: the file of the named module (its ``__init__.py`` for a package) and, when the function is defined
in another module's file, that file too; each whole (``{"module_file": PATH, "bytes": N, "sha256": HEX}``, keyed
``module:NAME``). Only the content counts: the same file found elsewhere (a resume from another folder) is the
same module.
"""

from __future__ import annotations

import inspect
import sys
from pathlib import Path

PREFIX = "module:"
"""The key of a module's fingerprint in ``data_fingerprints``: ``module:NAME`` (data files and models are keyed
by their path)."""


def module_fingerprints(specs) -> dict[str, dict]:
    """``{"module:NAME": {"module_file", "bytes", "sha256"}}`` for each imported module that the
    ``module:function`` specs among ``specs`` (reward spec strings, step checkers; others are skipped) name or
    define their function in. A module not imported (yet) or without a file is left out."""
    from treecredit.rewards.load import parse_spec
    from treecredit.tasks.dataset_io import data_fingerprint  # (a file's bytes and sha256, as data files get)

    found: dict[str, dict] = {}
    for spec in specs:
        if not isinstance(spec, str) or ":" not in spec:
            continue
        try:
            target = parse_spec(spec)[0]
        except ValueError:
            continue
        module_name, sep, attr = target.partition(":")
        module = sys.modules.get(module_name)
        if not sep or module is None:
            continue
        names = [module_name]
        fn = module
        for part in attr.split("."):
            fn = getattr(fn, part, None)
        defined_in = getattr(fn, "__module__", None)
        if isinstance(defined_in, str) and defined_in != module_name and defined_in in sys.modules:
            names.append(defined_in)
        for name in names:
            file = _source_file(sys.modules[name])
            if file:
                found[PREFIX + name] = {"module_file": file, **data_fingerprint(file)}
    return found


def is_module_fingerprint(value) -> bool:
    """Whether a recorded fingerprint is a module's (:func:`module_fingerprints`), not a data file's or model's."""
    return isinstance(value, dict) and "module_file" in value


def changed_modules(saved: dict, now: dict) -> list[tuple[str, dict, dict]]:
    """``[(module name, fingerprint before, now)]`` of the modules in ``now`` whose content differs from the one
    recorded in ``saved`` (a run's ``data_fingerprints``); a module ``saved`` does not name is not checked."""
    out = []
    for key, fingerprint in now.items():
        before = saved.get(key)
        if is_module_fingerprint(fingerprint) and is_module_fingerprint(before) \
                and before.get("sha256") != fingerprint.get("sha256"):
            out.append((key.removeprefix(PREFIX), before, fingerprint))
    return out


def changed_modules_text(saved: dict, now: dict, run) -> str:
    """The warning for the modules :func:`changed_modules` finds (``run``: the run's folder), '' when none."""
    changed = changed_modules(saved, now)
    if not changed:
        return ""
    said = "; ".join(
        f"{name} ({now_['module_file']}: {before.get('bytes')} bytes, sha256 {str(before.get('sha256'))[:12]}… when "
        f"the run started; now {now_['bytes']} bytes, {now_['sha256'][:12]}…)" for name, before, now_ in changed)
    which = "module" if len(changed) == 1 else "modules"
    return (f"reward: the reward {which} {said} changed since the run in {run} started. The resume imports it anew, "
            "so the steps trained from here on use the edited reward and the steps before used the old one: this "
            "run's results mix two rewards (if it had finished, it trains no more steps, but its results are the "
            "old reward's while runs started or continued now use the edited one, so a comparison's runs differ). "
            "To keep one reward, put the old file back before resuming, or start anew with --overwrite (or another "
            "--out)")


def warn_changed_modules(saved: dict, now: dict, run) -> None:
    """Warn (a ``UserWarning``, which the command shows on stderr and a run's ``log.txt`` keeps) when a module
    changed since the run in ``run`` started (:func:`changed_modules_text`); nothing otherwise."""
    text = changed_modules_text(saved, now, run)
    if text:
        import warnings

        warnings.warn(text, UserWarning, stacklevel=2)


def _source_file(module) -> str:
    file = getattr(module, "__file__", None)
    if not file:
        return ""
    try:
        source = inspect.getsourcefile(module) or file
    except TypeError:
        source = file
    path = Path(source)
    return str(path.resolve()) if path.is_file() else ""
