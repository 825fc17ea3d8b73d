"""What ``treecredit train`` says or refuses about its ``--config`` file and ``key=value`` flags before it builds
the run's config: a copied run folder's config.json that names another ``out`` (:func:`check_config_folder`,
:func:`config_folder_note`), option texts whose backslash escapes a shell or a YAML/TOML file kept as typed
(:func:`escape_notes`); and, once the task is built, a ``delimiter`` that no worked solution holds
(:func:`delimiter_note`)."""

from __future__ import annotations

import argparse

from treecredit._validation import fail
from treecredit.training.config import TrainConfig, field_default, load_config_file


def check_config_folder(args: argparse.Namespace) -> None:
    """Refuse ``--config FILE --resume`` (or ``--overwrite``) without ``--out`` where FILE's folder holds a run of
    its own (a run folder copied or moved: ``cp -r runs/a runs/b``) and FILE names another ``out`` (its run's
    config.json names the folder it was written in): the command would resume (replace) the run in that other
    folder and leave FILE's as it is. The fix names both: ``--out`` FILE's folder, or the other run's config.json.
    A symbolic link to the run folder, or another working folder, is the same folder (paths resolved)."""
    from pathlib import Path

    from treecredit.training.config import resolved_path
    from treecredit.training.preflight import holds_run, run_files_in

    resume, overwrite = getattr(args, "resume", False), getattr(args, "overwrite", False)
    if not getattr(args, "config", None) or hasattr(args, "out") or not (resume or overwrite):
        return
    folder = Path(resolved_path(str(Path(args.config).expanduser().parent)))  # the file itself may be a link
    if not run_files_in(folder, skip=("config.json",)):
        return  # a settings file of its own (my.yaml naming out): it names the run meant
    out = load_config_file(args.config).get("out") or field_default(TrainConfig.__dataclass_fields__["out"])
    out = Path(resolved_path(out))
    if out == folder:
        return
    flag, verb = ("--resume", "resume") if resume else ("--overwrite", "replace")
    action = "continue" if resume else "replace"
    other = (f", or {verb} the run in {out} with --config {out / 'config.json'} {flag}" if holds_run(out)
             else f" ({out} holds no run now)")
    fail("config", f"{args.config} names out {str(out)!r}, not the folder the file is in ({folder}), which holds a "
         f"run of its own (a copied or moved run folder): {flag} would {action} the run in {out} and leave {folder} "
         f"as it is", f"add --out {Path(args.config).parent} to {verb} the run in {folder}{other}")


def escape_notes(args: argparse.Namespace, command: str = "train") -> list[str]:
    """``treecredit COMMAND: warning: ...`` for each option text with backslash escapes a shell or a YAML/TOML
    ``--config`` file kept as typed (:func:`~treecredit.training.config_values.escape_warnings`)."""
    from pathlib import Path

    from treecredit.training.config_file import kept_backslashes
    from treecredit.training.config_values import escape_warnings

    config = getattr(args, "config", None)
    kind = {".yaml": "YAML", ".yml": "YAML", ".toml": "TOML"}.get(Path(config).suffix if config else "", "")
    kept = kept_backslashes(config) if config and load_config_file(config) else []  # the file's checks first
    return [f"treecredit {command}: warning: {said}" for said in escape_warnings(args, kept, kind)]


def config_folder_note(args: argparse.Namespace, config: TrainConfig) -> str:
    """A note when ``--config FILE`` (without ``--out``) sends the run to a folder other than the one FILE is
    in, under ``--resume`` or when that folder holds a run (a run folder copied or moved elsewhere: its
    config.json still names the old ``out``); '' otherwise."""
    from pathlib import Path

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
