"""What ``treecredit train`` (and ``compare``) says or refuses about its ``--config`` file and ``key=value`` flags
before it builds the run's config: a copied run folder's config.json that names another ``out``, a comparison's run
settings resumed without its ``--out`` (:func:`check_config_folder`, :func:`config_folder_note`), option texts
whose backslash escapes a shell or a YAML/TOML file kept as typed (:func:`escape_notes`); and, once the task is
built, a ``delimiter`` that no worked solution holds (:func:`delimiter_note`)."""

from __future__ import annotations

import argparse
from pathlib import Path

from treecredit._validation import fail
from treecredit.training.config import TrainConfig, field_default, load_config_file


def check_config_folder(args: argparse.Namespace, command: str = "train") -> None:
    """Refuse ``--config FILE --resume`` (or ``--overwrite``) without ``--out`` where FILE is a run's settings in a
    folder other than the one the command would work in, which it would then resume (replace) while FILE's is left
    as it is. The fix names both folders. A symbolic link to the folder, or another working folder, is the same
    folder (paths resolved).

    ``train``: FILE's folder holds a run of its own (a run folder copied or moved: ``cp -r runs/a runs/b``) and
    FILE names another ``out`` (its run's config.json names the folder it was written in).
    ``compare``: FILE is the config.json of a run of a comparison, finished or partly run (:func:`config_comparison`),
    and that comparison is not in compare's default ``--out`` (a comparison folder copied, moved or written under
    another ``--out``): a comparison's settings are the same in each of its runs' config.json, whose ``out`` compare
    does not read."""
    from treecredit.training.config import resolved_path
    from treecredit.training.preflight import holds_run, run_files_in

    resume, overwrite = getattr(args, "resume", False), getattr(args, "overwrite", False)
    if not getattr(args, "config", None) or hasattr(args, "out") or not (resume or overwrite):
        return
    flag, verb = ("--resume", "resume") if resume else ("--overwrite", "replace")
    action = "continue" if resume else "replace"
    folder = Path(resolved_path(str(Path(args.config).expanduser().parent)))  # the file itself may be a link
    if command == "compare":
        from treecredit.training.compare_cli import DEFAULT_OUT

        comparison = config_comparison(args.config)
        if comparison is None:
            return  # a settings file of one's own, or a train run's: compare reads no folder from it
        out = Path(resolved_path(DEFAULT_OUT))
        if out == comparison:
            return
        other = (f", or add --out {DEFAULT_OUT} to {verb} the comparison there" if holds_comparison(out)
                 else f" ({out} holds no comparison)")
        fail("config", f"{args.config} is the settings of a run of the comparison in {comparison}, but without --out "
             f"{flag} would {action} the comparison in {out} (compare's default --out) and leave {comparison} as it "
             f"is", f"add --out {typed_path(comparison)} to {verb} the comparison in {comparison}{other}")
    if not run_files_in(folder, skip=("config.json",)):
        return  # a settings file of its own (my.yaml naming out): it names the run meant
    out = load_config_file(args.config).get("out") or field_default(TrainConfig.__dataclass_fields__["out"])
    out = Path(resolved_path(out))
    if out == folder:
        return
    other = (f", or {verb} the run in {out} with --config {out / 'config.json'} {flag}" if holds_run(out)
             else f" ({out} holds no run now)")
    fail("config", f"{args.config} names out {str(out)!r}, not the folder the file is in ({folder}), which holds a "
         f"run of its own (a copied or moved run folder): {flag} would {action} the run in {out} and leave {folder} "
         f"as it is", f"add --out {Path(args.config).parent} to {verb} the run in {folder}{other}")


def holds_report(folder) -> bool:
    """Whether ``folder`` holds a comparison's report (``report.md`` or ``results.json``, written after each of its
    runs)."""
    return (Path(folder) / "report.md").exists() or (Path(folder) / "results.json").exists()


def config_comparison(config_file) -> Path | None:
    """The comparison folder CMP when ``config_file`` is the config.json of one of its runs
    (``CMP/runs/grpo-seed0/config.json``; CMP holding its report, or the run being one as compare writes them:
    :func:`comparison_run`, for a comparison stopped before its first run finished); else None. Resolved."""
    import re

    from treecredit.training.config import resolved_path
    from treecredit.training.preflight import run_files_in

    folder = Path(resolved_path(str(Path(config_file).expanduser().parent)))  # the file itself may be a link
    comparison = folder.parent.parent  # CMP of CMP/runs/ARM-seedN/config.json
    if (folder.parent.name == "runs" and re.search(r"-seed\d+$", folder.name) and run_files_in(folder)
            and (holds_report(comparison) or comparison_run(folder))):
        return comparison
    return None


def comparison_config_note(args: argparse.Namespace) -> str:
    """``compare --config CMP/runs/RUN/config.json`` without ``--out``, ``--resume`` or ``--overwrite``: a note that
    the command starts a new comparison with those settings in compare's default ``--out`` and leaves CMP as it is,
    and how to continue CMP instead (as ``train`` notes a copied run folder's config.json: :func:`config_folder_note`);
    '' otherwise."""
    from treecredit.training.config import resolved_path

    if (not getattr(args, "config", None) or hasattr(args, "out") or getattr(args, "resume", False)
            or getattr(args, "overwrite", False)):
        return ""
    from treecredit.training.compare_cli import DEFAULT_OUT

    comparison = config_comparison(args.config)
    if comparison is None or comparison == Path(resolved_path(DEFAULT_OUT)):
        return ""
    return (f"treecredit compare: note: --config {args.config} is the settings of a run of the comparison in "
            f"{comparison}; this command starts a comparison with them in {DEFAULT_OUT} (compare's default --out) and "
            f"leaves {comparison} as it is. To continue that comparison instead, add --out {typed_path(comparison)} "
            "--resume")


def comparison_run(folder) -> bool:
    """Whether ``folder`` is a run as ``compare`` writes them, finished or not (a comparison stopped before its first
    run finished has no report yet): ``CMP/runs/ARM-seedN`` holding a run whose config.json gives seed N, an
    estimator that ARM (the arm's folder name) starts with, ``steps`` 0 and a ``token_budget`` (compare's runs end
    at its ``--budget``). A train run under ./runs (``--out runs/mine-seed0``, or with ``--steps``) is none."""
    import json
    import re

    from treecredit.training.preflight import run_files_in

    folder = Path(folder)
    name = re.fullmatch(r"(.+)-seed(\d+)", folder.name)
    if not name or folder.parent.name != "runs" or not run_files_in(folder):
        return False
    try:
        config = json.loads((folder / "config.json").read_text())
    except (OSError, ValueError):
        return False
    if not isinstance(config, dict):
        return False
    estimator, seed = config.get("estimator"), config.get("seed")
    return (isinstance(estimator, str) and bool(estimator) and name.group(1).startswith(estimator)
            and seed == int(name.group(2)) and config.get("steps") == 0 and (config.get("token_budget") or 0) > 0)


def holds_comparison(folder) -> bool:
    """Whether ``folder`` holds a comparison, finished or partly run: its report (:func:`holds_report`) or a run of
    one in ``folder/runs`` (:func:`comparison_run`)."""
    runs = Path(folder) / "runs"
    return holds_report(folder) or (runs.is_dir() and any(comparison_run(run) for run in runs.glob("*-seed*")))


def typed_path(folder) -> str:
    """``folder`` (absolute) as the user may type it: relative to the working folder when it lies under it."""
    import os

    relative = os.path.relpath(folder)
    return str(folder) if relative.startswith("..") else str(Path(relative))


def escape_notes(args: argparse.Namespace, command: str = "train") -> list[str]:
    """``treecredit COMMAND: warning: ...`` for each option text with backslash escapes a shell or a YAML/TOML
    ``--config`` file kept as typed (:func:`~treecredit.training.config_escapes.escape_warnings`)."""
    from treecredit.training.config_escapes import escape_warnings
    from treecredit.training.config_file import kept_backslashes

    config = getattr(args, "config", None)
    kind = {".yaml": "YAML", ".yml": "YAML", ".toml": "TOML"}.get(Path(config).suffix if config else "", "")
    kept = kept_backslashes(config) if config and load_config_file(config) else []  # the file's checks first
    return [f"treecredit {command}: warning: {said}" for said in escape_warnings(args, kept, kind)]


def arm_escape_notes(arms: list[str], command: str = "compare") -> dict[str, list[str]]:
    """Per arm of ``compare`` (as written), ``treecredit COMMAND: warning: ...`` for each of its own option texts
    (``tempo[task.template=Q:\\n{prompt}]``) with backslash escapes kept as typed
    (:func:`~treecredit.training.config_escapes.arm_escape_warnings`); an arm without any: ``[]``."""
    from treecredit.training.config_escapes import arm_escape_warnings

    return {arm: [f"treecredit {command}: warning: {said}" for said in arm_escape_warnings(arm)] for arm in arms}


def config_folder_note(args: argparse.Namespace, config: TrainConfig) -> str:
    """A note when ``--config FILE`` (without ``--out``) sends the run to a folder other than the one FILE is
    in, under ``--resume`` or when that folder holds a run (a run folder copied or moved elsewhere: its
    config.json still names the old ``out``); '' otherwise."""
    from treecredit.training.config import resolved_path
    from treecredit.training.preflight import run_files_in

    if not getattr(args, "config", None) or hasattr(args, "out"):
        return ""
    folder = Path(resolved_path(args.config)).parent
    copied_run = bool(run_files_in(folder, skip=("config.json",)))
    if Path(config.out) == folder or not (args.resume or copied_run):
        return ""
    verb = "resumes the run in" if args.resume else "writes to"
    return (f"treecredit train: note: --config {args.config} names out {config.out!r}, not the folder the file is "
            f"in ({folder}); this command {verb} {config.out}. To use the run in {folder} instead, add --out "
            f"{folder}")


def delimiter_note(config, task) -> str:
    """A note when ``--task-option delimiter`` was given for a dataset with worked solutions (``solution_column``)
    and occurs in none of its training rows' solutions: the warm start then teaches no step ends, so a tree forks
    at none and a step estimator sees each response as one step (the run said so only once sampled trees did not
    branch); '' otherwise."""
    options = config.task_options if isinstance(config.task_options, dict) else {}
    given, inner = options.get("delimiter"), getattr(task, "task", task)  # a task scored by --reward: its own
    column = getattr(inner, "solution_column", "")
    if not isinstance(given, str) or not given or not column or not hasattr(inner, "train_problems"):
        return ""
    solutions = [problem.solution for problem in inner.train_problems]
    if not solutions or any(given in solution for solution in solutions):
        return ""
    shell = (" (a shell passes a backslash as typed: for a line break write --task-option 'delimiter=\"\\n\"')"
             if "\\" in given else "")
    return (f"note: --task-option delimiter={given!r} occurs in none of the {len(solutions)} worked solutions "
            f"(column {column!r}), so a warm start on them teaches no step ends: a tree forks at none and a step "
            f"estimator sees each response as one step{shell}")
