"""The ``treecredit`` command: one subcommand per module, each imported only when it runs.

Every subcommand module exposes ``add_arguments(parser)`` and ``run(args) -> int``; keep heavy imports
(torch, transformers, matplotlib) inside ``run`` so that ``treecredit --help`` stays instant.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from treecredit.warnings_display import show_warnings_plainly

COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("treecredit.demo", "show every estimator's credit on a small built-in group"),
    "train": ("treecredit.training.train_cli", "RL-train a policy on a task, dataset or environment"),
    "compare": ("treecredit.training.compare_cli", "compare estimators over seeds at one generated-token budget"),
    "export": ("treecredit.export_cli", "write a trained Hugging Face policy as a save_pretrained folder"),
    "lab": ("treecredit.lab.command", "measure every estimator against exact advantages; write a report"),
}


class HelpFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """argparse's formatter that appends ``(default: X)`` only where it tells something: not to an option
    whose default is None (its help says what leaving it out does) nor to a help that states its default."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        if action.default is None or "default" in (action.help or ""):
            return action.help
        return super()._get_help_string(action)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="treecredit", description="Step-level credit for RL of language models, without a critic."
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for name, (module_name, help_text) in COMMANDS.items():
        module = importlib.import_module(module_name)
        command_parser = sub.add_parser(name, help=help_text, description=help_text,
                                        formatter_class=HelpFormatter)
        module.add_arguments(command_parser)
        command_parser.set_defaults(_module=module)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    show_warnings_plainly()
    try:
        return int(args._module.run(args) or 0)
    except ValueError as exc:
        print(f"treecredit {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # output piped into a reader that closed early (`treecredit demo | head`)
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 0
    except KeyboardInterrupt:  # `train` saves and stops on the first Ctrl-C; this is any other interruption
        hint = ("; to go on, run the same command again with --resume (a run stopped before its first "
                "checkpoint starts again from step 0)") if args.command in ("train", "compare") else ""
        print(f"treecredit {args.command}: interrupted; stopped without saving more than was already written{hint}",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
