"""``treecredit lab``: measure every registered estimator against exact advantages and write a report.

The quick sweep (default) runs in under two minutes on a laptop CPU; ``--full`` runs more batches,
larger branchings, budgets and depths. The report directory holds ``report.md`` (tables, claims,
plots), ``results.json`` / ``results.csv`` (every figure with its 95 % interval), ``claims.json`` and
the PNG plots.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

from treecredit._validation import fail


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from treecredit.lab.sweeps import SIZES, SWEEPS

    parser.add_argument("--full", action="store_true", help="the full sweep (more batches and larger sweeps)")
    parser.add_argument("--out", default="reports/lab", help="report directory")
    parser.add_argument("--sweeps", nargs="+", default=list(SWEEPS), choices=SWEEPS, help="sweeps to run")
    parser.add_argument("--size", default=None, choices=tuple(SIZES),
                        help="batches × groups per cell (default: quick, or full with --full)")
    parser.add_argument("--seed", type=int, default=0, help="master seed (same seed, same figures)")
    parser.add_argument("--mc-rollouts", type=int, default=8, help="fresh rollouts per prefix for mc_values (VinePPO)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    parser.add_argument("--overwrite", action="store_true", help="replace the report already in --out")


def check_not_a_run(out: Path) -> None:
    """Refuse an ``out`` that holds a training run (a file of ``preflight.RUN_FILES``) or a comparison (``runs/``,
    or a ``results.json`` of ``compare``) or training runs in its subfolders (a comparison's ``runs/``), even under
    ``--overwrite``: the report's files (``report.md``, ``results.json``, ...) would sit beside the run's checkpoint,
    replace the comparison's own, or sit among the run folders."""
    import json

    from treecredit.training.preflight import holds_run, run_files_in

    elsewhere = f"{str(out).rstrip('/')}-lab" if out.name else "reports/lab"
    held = run_files_in(out)
    if held:
        fail("--out", f"{str(out)!r} holds a training run ({', '.join(held)}); a lab report there would be written "
             "among the run's files (--overwrite does not change that)", f"pass another --out, e.g. {elsewhere}")
    compared = (out / "runs").is_dir()
    if not compared and (out / "results.json").is_file():
        try:
            compared = "settings" in json.loads((out / "results.json").read_text())  # compare's; the lab's has meta
        except (OSError, ValueError, TypeError):
            compared = False
    if compared:
        fail("--out", f"{str(out)!r} holds a comparison (treecredit compare: runs/, report.md, results.json); a lab "
             "report would replace its report.md and results.json (--overwrite does not change that)",
             f"pass another --out, e.g. {elsewhere}")
    runs = sorted(sub.name for sub in out.iterdir() if sub.is_dir() and holds_run(sub)) if out.is_dir() else []
    if runs:  # a comparison's runs/ folder, or any folder of runs
        beside = f"{str(out.parent).rstrip('/')}-lab" if out.name == "runs" and out.parent.name else elsewhere
        whose = " (a comparison's runs/ folder)" if out.name == "runs" and (out.parent / "results.json").is_file() \
            else ""
        shown = ", ".join(runs[:3]) + (f" and {len(runs) - 3} more" if len(runs) > 3 else "")
        fail("--out", f"{str(out)!r} holds training runs{whose} ({shown}); a lab report there would be written "
             "among the run folders (--overwrite does not change that)", f"pass another --out, e.g. {beside}")


def run(args: argparse.Namespace) -> int:
    from treecredit import estimators
    from treecredit.lab.claims import all_claims, summary_lines
    from treecredit.lab.report import summary_markdown, write_report
    from treecredit.lab.sweeps import SIZES, run_sweeps, sweep_names
    from treecredit.lab.token_map import map_summary_lines
    from treecredit.training.out_folder import check_out_folder

    if args.mc_rollouts < 1:
        fail("--mc-rollouts", f"is {args.mc_rollouts}, must be at least 1", "pass e.g. --mc-rollouts 8")
    if args.seed < 0:
        fail("--seed", f"is {args.seed}, must be at least 0", "pass e.g. --seed 0")
    out = Path(args.out)
    check_out_folder(out, "pass a folder for the report", argument="--out")  # a file, or below one
    check_not_a_run(out)
    if (out / "report.md").exists() and not args.overwrite:
        fail("--out", f"{str(out)!r} already holds a lab report", "pass --overwrite to replace it, or another --out")
    size = args.size or ("full" if args.full else "quick")
    args.sweeps = sweep_names(args.sweeps)  # as run_sweeps runs them: `--sweeps map map` once
    start = time.perf_counter()
    records = run_sweeps(args.sweeps, size=size, full=args.full, seed=args.seed, mc_rollouts=args.mc_rollouts,
                         progress=not args.no_progress)
    claims = all_claims(records)
    seconds = time.perf_counter() - start
    blocks, per_block = SIZES[size]
    meta = dict(size=size, full=args.full, seed=args.seed, blocks=blocks, groups_per_block=per_block,
                seconds=seconds, sweeps=list(args.sweeps), mc_rollouts=args.mc_rollouts,
                token_estimators=estimators("token"), turn_estimators=estimators("turn"))
    summary = summary_lines(records, claims) + map_summary_lines(records)
    command = ("treecredit lab " + " ".join(shlex.quote(a) for a in sys.argv[2:])
               if len(sys.argv) > 1 else "treecredit lab")
    paths = write_report(records, claims, out, command=command.strip(), meta=meta, summary=summary)
    print("\n".join(summary or summary_markdown(summary, meta["sweeps"])))
    print(f"\nreport: {paths['md']} ({seconds:.0f} s)")
    return 0
