"""Saved-run compatibility: how a run reads the ``config.json`` of a run saved by an older treecredit.

A setting added later (today only ``held_out_rule``) had another value in the runs saved before it existed; a
resume must hold the value the run was started with, not the new default. This module is the one place that says
which value an older saved run had (:func:`saved_run_values`), which fields a run leaves out of the file it
writes so that it reads as before (:func:`saved_fields`), adopts it into a resumed ``train``
(:func:`rule_of_resumed_run`) or ``compare`` (:func:`rule_of_resumed_comparison`), checks the setting on a new run
(:func:`check_held_out_rule`), and words the fix when a resume gives another value (:func:`held_out_rule_fix`,
naming the ``--config`` file that gave it: :func:`note_config_file`).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from treecredit._validation import fail

HELD_OUT_RULE_BEFORE = 1
"""The ``held_out_rule`` of a dataset run saved before the field existed (the float product was the only rule)."""


def check_held_out_rule(config) -> None:
    """``held_out_rule`` is 1 or 2, and given only to a ``--dataset`` run (another run would ignore it; an agent
    run's refusal is :func:`~treecredit.training.train_cli.check_task_fields_unset`'s). Raises ``ValueError``
    naming ``held_out_rule``."""
    from treecredit.tasks.fixed import check_held_out_rule_value

    rule = config.held_out_rule
    check_held_out_rule_value(rule)
    if not config.dataset and not config.env and config.was_given("held_out_rule"):
        fail("held_out_rule", f"--held-out-rule {rule} rounds a --dataset's held-out fraction; the "
             f"{config.task!r} task would ignore it", "drop --held-out-rule, or train on a --dataset")


def saved_run_values(saved: dict) -> dict:
    """A run's saved settings (its ``config.json``) with the values that settings added later had in the runs
    saved before them: ``held_out_rule`` :data:`HELD_OUT_RULE_BEFORE` for a dataset run whose file lacks it, so
    that its resume splits the rows as the run did (a new run's default is 2). Anything else is returned as is."""
    if isinstance(saved, dict) and saved.get("dataset") and "held_out_rule" not in saved:
        return {**saved, "held_out_rule": HELD_OUT_RULE_BEFORE}
    return saved


def saved_fields(config) -> dict:
    """What a run writes to its ``config.json`` (``TrainConfig.saved_dict``): ``config.to_dict()`` less ``task``
    where the run has none (a dataset or an agent run, in which ``task`` is only TrainConfig's unused default,
    ``arithmetic``), less ``held_out_rule`` where the run has no dataset (only a dataset's split reads it), and
    less ``max_len`` in an agent run (whose small GPT's positions are ``--sampler-option max_len`` or sized to the
    env's episodes, not the task runs' 96). Loading the file gives the defaults back, and a resume compares a
    missing field as its default."""
    saved = config.to_dict()
    if config.dataset or config.env:
        saved.pop("task")
    if not config.dataset:  # read by a dataset's split only: a task or agent run's file stays as it was
        saved.pop("held_out_rule")
    if config.env:
        saved.pop("max_len")
    return saved


def _saved_rule(path: Path, of_dataset: bool = True) -> int | None:
    """The ``held_out_rule`` of the run whose ``config.json`` is ``path`` (:func:`saved_run_values`), None when the
    file cannot be read, names no valid rule, or (``of_dataset``) is no dataset run's."""
    from treecredit.tasks.fixed import HELD_OUT_RULES

    try:
        saved = saved_run_values(json.loads(path.read_text()))
    except (OSError, ValueError):
        return None
    if not isinstance(saved, dict) or saved.get("held_out_rule") not in HELD_OUT_RULES:
        return None
    if of_dataset and not saved.get("dataset"):
        return None
    return saved["held_out_rule"]


def rule_of_resumed_run(values: dict) -> dict:
    """``values`` (a resumed dataset run's settings without ``held_out_rule``) with the ``held_out_rule`` of the
    run saved in their ``out`` (:func:`saved_run_values`: 1 for a run saved before the setting existed), so that
    the resume holds out the rows the run held out; ``values`` as they are when there is no dataset or no readable
    saved run there (the resume's own checks then say what is wrong)."""
    from treecredit.training.config import TrainConfig, field_default

    if not values.get("dataset"):
        return values
    out = values.get("out") or field_default(TrainConfig.__dataclass_fields__["out"])
    rule = _saved_rule(Path(str(out)).expanduser() / "config.json", of_dataset=False)
    return values if rule is None else {**values, "held_out_rule": rule}


def rule_of_resumed_comparison(args: argparse.Namespace) -> dict:
    """``{"held_out_rule": N}``: the rule the dataset runs of the comparison that ``args`` resume were started with
    (each run's ``config.json`` in ``--out``/runs, read by :func:`saved_run_values`: 1 for a run saved before the
    setting existed; every arm shares it), so that the resumed runs hold out the rows they held out; ``{}`` without
    ``--resume``, with a rule given (``--held-out-rule`` or in the ``--config`` file), without a dataset, or where
    no run of a dataset names one rule (the runs' resume checks then say what differs). Adopted into the base
    config, not after the runs' tasks are built with rule 2."""
    if not getattr(args, "resume", False) or not getattr(args, "out", None):
        return {}
    by_rule = runs_by_rule(Path(args.out).expanduser())
    check_one_rule(Path(args.out), by_rule)
    if hasattr(args, "held_out_rule") or len(by_rule) != 1:
        return {}
    written = {}
    if getattr(args, "config", None):  # a --config file: its held_out_rule is given, its dataset counts
        from treecredit.training.config_file import load_config_file

        written = load_config_file(args.config)
    if "held_out_rule" in written or not (getattr(args, "dataset", None) or written.get("dataset")):
        return {}  # a rule given is kept (and refused if it differs); a run without a dataset is refused as it is
    return {"held_out_rule": next(iter(by_rule))}


def runs_by_rule(out: Path) -> dict[int, list[str]]:
    """The dataset runs of the comparison in ``out`` by the ``held_out_rule`` each was started with (the names of
    their folders under ``out``/runs; :func:`saved_run_values`: 1 for a run saved before the setting existed)."""
    by_rule: dict[int, list[str]] = {}
    for path in sorted((out / "runs").glob("*/config.json")):
        rule = _saved_rule(path)
        if rule is not None:
            by_rule.setdefault(rule, []).append(path.parent.name)
    return by_rule


def check_one_rule(out: Path, by_rule: dict[int, list[str]]) -> None:
    """Refuse ``compare --resume`` of a comparison whose runs were started with different ``held_out_rule``
    (``by_rule``: :func:`runs_by_rule`; runs of treecredit versions before 2026-12-02 beside newer ones), with or
    without ``--held-out-rule``: no one rule resumes every run, and their held-out problems differ, so each run's
    own refusal asked for the rule the others refuse. The one fix: run the runs of one rule anew (their folders
    removed: ``--resume`` then gives them the others' rule), or the comparison anew."""
    if len(by_rule) < 2:
        return
    listed = "; ".join(f"rule {rule}: {', '.join(names)}" for rule, names in sorted(by_rule.items()))
    drop = min(sorted(by_rule), key=lambda rule: (len(by_rule[rule]), rule))  # fewer runs to run again; else 1
    keep = next(rule for rule in sorted(by_rule) if rule != drop)
    folders = " ".join(str(out / "runs" / name) for name in by_rule[drop])
    fail("held_out_rule", f"the runs of the comparison in {str(out)!r} were started with different held-out rules "
         f"({listed}), so no --held-out-rule resumes them all, and their held-out problems differ",
         f"remove the runs of one rule, e.g. `rm -r {folders}`, and resume: --resume runs them anew with rule {keep}, "
         f"the others'; or start the comparison anew with --overwrite or another --out")


def held_out_rule_note(args: argparse.Namespace, written: dict, config) -> str:
    """A one-line note when a new dataset run's ``--config`` file is a run's saved settings (it names
    ``module_folders`` or ``data_fingerprints``, which only a run writes) from before ``held_out_rule`` existed, and
    neither the file nor a flag gives the rule: that run held out rows by rule 1, this one uses the default, 2.
    ``written``: the file's values; '' otherwise (a resume keeps the saved run's rule: :func:`rule_of_resumed_run`)."""
    run_file = "module_folders" in written or "data_fingerprints" in written
    if not (run_file and config.dataset and "held_out_rule" not in written) or hasattr(args, "held_out_rule") \
            or getattr(args, "resume", False):
        return ""
    return (f"note: --config {args.config} is a run's settings from before held_out_rule, whose held-out rows were "
            f"counted by rule {HELD_OUT_RULE_BEFORE} (the float product rounded up); this run uses rule "
            f"{config.held_out_rule}, the default of new runs (the fraction as written). To hold out the rows that "
            f"run held out, add --held-out-rule {HELD_OUT_RULE_BEFORE}")


def note_config_file(config, path, names) -> None:
    """Record that fields ``names`` of ``config`` were set by the ``--config`` file ``path`` (not by a flag, and
    not changed since: ``TrainConfig.replaced`` forgets a field it changes), for :func:`config_file_of`."""
    config._from_file = {**config._from_file, **{name: str(path) for name in names}}


def config_file_of(config, name: str) -> str | None:
    """The ``--config`` file that set field ``name`` of ``config`` (:func:`note_config_file`), None when a flag, a
    Python caller or the default did."""
    return getattr(config, "_from_file", {}).get(name)


def held_out_rule_fix(rule, config, other_way: str) -> str:
    """How to resume a run whose saved ``held_out_rule`` (``rule``) differs from ``config``'s: where a ``--config``
    file set the rule, that file's field (changed or deleted: a resume then keeps the run's rule) and the flag, which
    overrides the file; where a flag gave it (or a value other than 2 whose source is not known), the flag; else
    (a Python caller's TrainConfig, a comparison's base config) both the field and the flag; or ``other_way`` (a
    new run or comparison; a comparison's own "resume with its arguments" is no fix here, since its arguments
    gave the other rule)."""
    file = config_file_of(config, "held_out_rule")
    if file:
        return (f"change held_out_rule from {config.held_out_rule} to {rule} in the --config file {file}, or delete "
                f"it there (a resume keeps the rule the run was started with, the rounding of its held-out rows), or "
                f"pass --held-out-rule {rule}; or {other_way}")
    how = (f"--held-out-rule {rule}" if config.was_given("held_out_rule") else
           f"held_out_rule={rule} to TrainConfig (--held-out-rule {rule} on the command line)")
    return (f"pass {how} (the rounding of the held-out rows the run was started with; a comparison's runs take it "
            f"too), or {other_way}")
