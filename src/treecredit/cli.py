"""The ``treecredit`` command: one subcommand per module, each imported only when it runs.

Every subcommand module exposes ``add_arguments(parser)`` and ``run(args) -> int``; keep heavy imports
(torch, transformers, matplotlib) inside ``run`` so that ``treecredit --help`` stays instant.
"""

from __future__ import annotations

import argparse
import difflib
import importlib
import sys
from typing import NoReturn

from treecredit.process_end import (
    FLUSH_FAILED,
    GuardedStdout,
    StdoutFailed,
    Terminated,
    end_process,
    stdout_failed_line,
    terminate_interrupts,
)
from treecredit.warnings_display import show_warnings_plainly

COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("treecredit.demo", "show every estimator's credit on a small built-in group"),
    "train": ("treecredit.training.train_cli", "RL-train a policy on a task, dataset or environment"),
    "compare": ("treecredit.training.compare_cli", "compare estimators over seeds at one generated-token budget"),
    "export": ("treecredit.export_cli", "write a trained Hugging Face policy as a save_pretrained folder"),
    "lab": ("treecredit.lab.command", "measure every estimator against exact advantages; write a report"),
}


FLAG_ALIASES: dict[str, dict[str, tuple[str, str]]] = {
    "compare": {
        **dict.fromkeys(("--arms", "--arm", "--estimator"), (
            "--estimators", "compare's arms are one comma-separated --estimators list (grpo,treerl@tree:fixed)")),
        "--token-budget": ("--budget", "compare's generated-token budget per run is --budget"),
        **dict.fromkeys(("--steps", "--step", "--max-steps"), (
            "", "compare runs every arm to the same --budget of generated tokens; a run's steps are not a flag")),
    },
    "train": {
        **dict.fromkeys(("--arms", "--arm", "--estimators"), (
            "", "train runs one --estimator; arms belong to `treecredit compare --estimators grpo,tempo`")),
        "--budget": ("--token-budget", "train's generated-token budget is --token-budget"),
    },
}
"""Flags a user may reach for that a subcommand does not have, with the flag meant ('' = none: say why) and why:
these beat ``difflib`` (which took ``compare --steps`` for ``--seeds`` and ``--arms`` for ``--task``)."""

FLAG_CUTOFF = 0.75
"""``difflib`` ratio (on the names without ``--``) below which no flag is suggested: ``sed``→``seeds`` is 0.75,
``steps``→``seeds`` 0.6."""


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """argparse's formatter that appends ``(default: X)`` only where it tells something: not to an option
    whose default is None (its help says what leaving it out does) nor to a help that states its default."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or "default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(  # no abbreviations: `--no-progres` is not silently `--no-progress`
        prog="treecredit", description="Step-level credit for RL of language models, without a critic.",
        allow_abbrev=False,
    )
    from treecredit import __version__

    parser.add_argument("--version", action="version", version=f"treecredit {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, (module_name, help_text) in COMMANDS.items():
        module = importlib.import_module(module_name)
        command_parser = sub.add_parser(name, help=help_text, description=help_text,
                                        formatter_class=HelpFormatter, allow_abbrev=False)
        module.add_arguments(command_parser)
        command_parser.set_defaults(_module=module)
    return parser


def unknown_arguments_error(command: str, parser: argparse.ArgumentParser, extras: list[str]) -> str:
    """The error for arguments ``treecredit <command>`` does not know (``extras``, as argparse left them): the
    first unknown flag, the closest valid flag of ``parser`` (``difflib``, else the flags it begins: ``--lora`` for
    ``--lora-rank``) with the corrected words, or the subcommand's ``--help``."""
    flags = sorted({s for a in parser._actions for s in a.option_strings if s.startswith("--")})
    unknown = next((e for e in extras if e.startswith("-")), extras[0])
    name, eq, value = unknown.partition("=")
    if not name.startswith("-"):
        return (f"treecredit {command}: error: unexpected argument {unknown!r} (it follows no flag that takes a "
                f"value). Fix: drop it, or put the flag it belongs to before it; `treecredit {command} --help` "
                "lists the flags")
    after = extras[extras.index(unknown) + 1:]
    words = [unknown] if eq else [name, *after[:1]] if after and not after[0].startswith("-") else [name]
    alias, why = FLAG_ALIASES.get(command, {}).get(name, (None, ""))
    if alias == "" and command == "compare":
        return (f"treecredit {command}: error: unknown flag {name}; {why}. Fix: drop {' '.join(words)} and set "
                "the length of every run with --budget TOKENS (e.g. --budget 60000)")
    if alias == "":
        return (f"treecredit {command}: error: unknown flag {name}; {why}. Fix: pass one --estimator here, or "
                f"run `treecredit compare --estimators ...` to compare arms")
    stems = {flag[2:]: flag for flag in flags}
    close = [alias] if alias else [stems[c] for c in difflib.get_close_matches(name[2:], stems, n=1,
                                                                            cutoff=FLAG_CUTOFF)]
    longer = [flag for flag in flags if flag.startswith(name + "-")] if not close and len(name) > 3 else []
    if len(longer) == 1:  # the first words of a flag: --lora for --lora-rank
        close = longer
    elif longer:
        return (f"treecredit {command}: error: unknown flag {name}; did you mean one of {', '.join(longer)}? "
                f"Fix: write the one you mean instead of {' '.join(words)}")
    if close:
        fixed = " ".join([close[0] + eq + value, *words[1:]])
        said = f" ({why})" if why else ""
        return (f"treecredit {command}: error: unknown flag {name}; did you mean {close[0]}?{said} "
                f"Fix: write {fixed} instead of {' '.join(words)}")
    return (f"treecredit {command}: error: unknown flag {name}. Fix: check its spelling; "
            f"`treecredit {command} --help` lists the flags")


def unknown_command_error(word: str) -> str:
    """The error for ``treecredit WORD`` where WORD is no subcommand: the closest one, or the list."""
    close = difflib.get_close_matches(word, COMMANDS, n=1, cutoff=0.6)
    fix = f"; did you mean {close[0]}? Fix: write treecredit {close[0]}" if close else \
        f". Fix: use one of {', '.join(COMMANDS)}"
    return f"treecredit: error: unknown command {word!r}{fix} (`treecredit --help` lists them)"


def main(argv: list[str] | None = None) -> int:
    """Run the ``treecredit`` command ``argv`` (its words after ``treecredit``; None: ``sys.argv``'s) and return its
    exit status. The process goes on (until 2026-12-03, without ``argv`` it ended here, and the caller's
    ``finally`` blocks never ran): :func:`entry` is the one that ends it."""
    return _command(argv, own_process=False)


def entry() -> NoReturn:
    """The ``treecredit`` script and ``python -m treecredit``: run the command ``sys.argv`` names and end the process
    once it is over (:func:`~treecredit.process_end.end_process`): a first stop signal then changes nothing (a
    finished run or comparison exits 0, not 130/143 from a signal during Python's own exit, which took 0.8 s after
    a small run, 3 s on a busy machine), a second ends the process at once with the command's status, and the
    process ends without that teardown."""
    end_process(_command(None, own_process=True))


def _command(argv: list[str] | None, own_process: bool) -> int:
    """:func:`main`'s command; ``own_process``: the process ends with it (the stop signals go to
    :func:`~treecredit.process_end.after_command` once it returned). Stdout is guarded meanwhile
    (:class:`~treecredit.process_end.GuardedStdout`): once a write to it failed (a full disk, not a closed pipe),
    one line on stderr says so and the status is :data:`~treecredit.process_end.FLUSH_FAILED` (120), also where
    the failure was swallowed (argparse's help) or the command stopped on it (until 2026-12-03 a run's
    ``write_errors`` took it for a full run folder, and ``demo`` ended in a traceback)."""
    stdout = GuardedStdout.install()
    args = None
    try:
        code = _parsed_command(argv, own_process, stdout)
    except StdoutFailed as exc:  # the command stopped on it: the line says what it left
        args, code = getattr(exc, "args_namespace", None), FLUSH_FAILED
    finally:
        stdout.uninstall()
    if stdout.failed is None:
        return code
    note = interrupted_note(args) if args is not None and args.command in ("train", "compare") else ""
    print(stdout_failed_line(stdout.failed, getattr(args, "command", ""), note), file=sys.stderr)
    if own_process:  # what stdout still holds cannot be written either: no second line at the end
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
    return FLUSH_FAILED


def _parsed_command(argv: list[str] | None, own_process: bool, stdout: GuardedStdout) -> int:
    """:func:`_command` once stdout is guarded: argparse's exits (``--help``, ``--version``, a usage error) are
    returned as statuses, never raised (until 2026-12-03 :func:`main` raised ``SystemExit`` for them). A command of
    :data:`GOES_ON_AFTER_CLOSED_PIPE` goes on after stdout's reader closed the pipe (:func:`closed_pipe_note`);
    another (``demo``, a ``--help``) ends quietly with status 0."""
    words = sys.argv[1:] if argv is None else argv
    if words and not words[0].startswith("-") and words[0] not in COMMANDS:  # argparse names no close command
        print(unknown_command_error(words[0]), file=sys.stderr)
        return 2
    parser = build_parser()
    try:
        args, extras = parser.parse_known_args(argv)
    except SystemExit as exc:  # argparse printed the help, the version or the usage error
        return exc.code if isinstance(exc.code, int) else 0 if exc.code is None else 2
    if extras:  # argparse would name none of the subcommand, the closest flag, or the fix
        subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        print(unknown_arguments_error(args.command, subparsers.choices[args.command], extras), file=sys.stderr)
        return 2
    show_warnings_plainly()
    from treecredit.training.stopping import mark_command_done, mark_run_ended

    mark_run_ended(False)
    mark_command_done(None)
    stdout.closed_pipe_note = closed_pipe_note(args)
    args._checkpoints_before = checkpoint_stamps(args)  # an interrupted --overwrite start: the earlier run's?
    try:
        with terminate_interrupts(ignore_after=own_process) as ending:
            ending.code = code = int(args._module.run(args) or 0)
        return code
    except StdoutFailed as exc:
        exc.args_namespace = args  # type: ignore[attr-defined]  # for _command's line: what the command left
        raise
    except ValueError as exc:
        print(f"treecredit {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into a reader that closed early (`treecredit demo | head`)
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        if args.command not in GOES_ON_AFTER_CLOSED_PIPE:
            return 0
        # not through the guard (a write straight to file descriptor 1): the command stopped on it; say so
        print(f"treecredit {args.command}: error: stopped: stdout's reader closed the pipe; "
              f"{interrupted_note(args)}", file=sys.stderr)
        return 1
    except KeyboardInterrupt as exc:  # `train` saves and stops on the first Ctrl-C; this is any other interruption
        from treecredit.training.stopping import command_done, run_ended

        how = "terminated (SIGTERM)" if isinstance(exc, Terminated) else "interrupted"
        # only `train` ends when its run does: `compare` runs many (in this process with --jobs 1) and writes
        # its report after the last, so a signal then stops it before its work is done
        if args.command == "train" and run_ended():  # the run wrote its summary: the signal came at the close
            print(f"treecredit {args.command}: {how} after the run ended; its checkpoint and summary are "
                  "written", file=sys.stderr)
            return 0
        done = command_done()
        if done is not None:  # compare: its report was written
            print(f"treecredit {args.command}: {how} after its report was written (in {_out_folder(args)}); "
                  "nothing was left to stop", file=sys.stderr)
            return done
        print(f"treecredit {args.command}: {how}; {interrupted_note(args)}", file=sys.stderr)
        return 143 if isinstance(exc, Terminated) else 130


GOES_ON_AFTER_CLOSED_PIPE = ("train", "compare", "lab", "export")
"""The commands that write files, and go on to their end once stdout's reader closed the pipe (``train ... | head
-1``), their further output dropped; the others (``demo``, a ``--help``) end quietly then, with status 0."""


def closed_pipe_note(args: argparse.Namespace) -> str | None:
    """The line on stderr when stdout's reader closed the pipe while ``args``' command runs (None: a command not
    in :data:`GOES_ON_AFTER_CLOSED_PIPE`, which ends there): that it goes on, and where its results are."""
    if args.command not in GOES_ON_AFTER_CLOSED_PIPE:
        return None
    try:
        out = _out_folder(args)
    except Exception:  # an unreadable --config: the run's own check says so; name no folder here
        out = "its --out folder"
    from pathlib import Path

    where = {"train": f"the run's lines are in {Path(out) / 'log.txt'}",
             "compare": f"its report will be {Path(out) / 'report.md'}",
             "lab": f"its report will be {Path(out) / 'report.md'}",
             "export": f"the model goes to {out}"}[args.command]
    return (f"treecredit {args.command}: stdout's reader closed the pipe (as `| head` does); the command goes on "
            f"to its end with its further output dropped ({where})")


def interrupted_note(args: argparse.Namespace) -> str:
    """What an interruption that the command did not handle itself (a Ctrl-C while Python imports, in the
    pre-flight, the warm start, a second Ctrl-C) left, for ``train`` and ``compare``: ``--resume`` only where the
    run folder (a comparison's runs) holds a checkpoint to resume from; otherwise that nothing of a run was
    written, or that the folder holds a start without a checkpoint (which ``train --resume`` starts again from step
    0, and ``--overwrite`` replaces)."""
    from pathlib import Path

    if args.command not in ("train", "compare"):
        return "stopped without saving more than was already written"
    try:
        out = Path(_out_folder(args))
    except Exception:  # an unreadable --config: say nothing about a folder rather than a wrong one
        return "stopped without saving more than was already written"
    from treecredit.training.checkpoint import CHECKPOINT, PREVIOUS, checkpoint_files  # no torch: fast here
    from treecredit.training.preflight import run_files_in

    runs = sorted(out.glob("runs/*")) if args.command == "compare" else [out]
    before = getattr(args, "_checkpoints_before", ())
    if args.command == "train" and getattr(args, "overwrite", False) and before and checkpoint_stamps(args) == before:
        return (f"the earlier run in {out} is there as it was: this start with --overwrite stopped before its "
                "first training step and saved no checkpoint (the one there is the earlier run's). Start this run "
                "again with the same command (with --overwrite)")
    if any(checkpoint_files(run) for run in runs):
        what = "the comparison's runs in" if args.command == "compare" else "the run in"
        again = (" in place of --overwrite" if getattr(args, "overwrite", False) else "") * (not args.resume)
        return (f"{what} {out} saved a checkpoint: to go on from it, run the same command again"
                + ("" if args.resume else f" with --resume{again}"))
    started = any((out / name).exists() for name in ("report.md", "runs")) if args.command == "compare" else \
        bool(run_files_in(out, skip=(CHECKPOINT, PREVIOUS)))
    if not started:
        return f"nothing of a run was written to {out}: run the same command again to start"
    if args.resume or getattr(args, "overwrite", False):
        return f"{out} holds no checkpoint, so the run starts again from step 0: run the same command again"
    if args.command == "train":  # --resume starts a run without a checkpoint again from step 0 (docs/runs.md)
        return (f"{out} holds no checkpoint, so the run starts again from step 0: run the same command again with "
                "--resume (its saved settings), or with --overwrite to start anew there with new settings")
    return (f"{out} holds no checkpoint, so there is nothing to resume: run the same command again with "
            "--overwrite to start anew there")


def checkpoint_stamps(args: argparse.Namespace) -> tuple:
    """``train --overwrite``'s run folder's checkpoints as (name, modification time, size), () for another
    command or when none is there: the same stamps when an interruption comes mean that the new start saved
    none, so the checkpoint there is the earlier run's (kept, or put back by ``out_folder.put_back``)."""
    if args.command != "train" or not getattr(args, "overwrite", False):
        return ()
    try:
        from pathlib import Path

        from treecredit.training.checkpoint import checkpoint_files

        files = checkpoint_files(Path(_out_folder(args)))
        return tuple((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in files)
    except Exception:  # an unreadable --config or folder: no claim about the earlier run
        return ()


def _out_folder(args: argparse.Namespace) -> str:
    """The ``--out`` a ``train`` or ``compare`` command names: the flag, else a ``--config`` file's ``out``, else
    the default."""
    if getattr(args, "out", None):
        return args.out
    if args.command == "train":
        from treecredit.training.config import TrainConfig, field_default, load_config_file

        values = load_config_file(args.config) if getattr(args, "config", None) else {}
        return values.get("out") or field_default(TrainConfig.__dataclass_fields__["out"])
    return "runs/compare"


if __name__ == "__main__":
    entry()
