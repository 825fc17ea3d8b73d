"""``treecredit compare``: estimators × seeds at one token budget → curves, table with intervals, report."""

from __future__ import annotations

import argparse
from pathlib import Path

from treecredit._validation import fail
from treecredit.training.train_cli import add_config_arguments, config_from_args

_PER_RUN = ("estimator", "seed", "out", "steps", "token_budget", "progress")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--estimators", default=None,
                        help="comma-separated arms: estimator names, optionally with a sampler, "
                             "estimator@sampler or estimator@tree:branching (e.g. grpo,treerpo@tree,"
                             "grpo@tree:adaptive) (default: grpo and up to two registered tree "
                             "estimators, else outcome baselines)")
    parser.add_argument("--seeds", type=int, default=3, help="seeds per estimator (0, 1, ..., n−1); ≥ 3 for intervals")
    parser.add_argument("--budget", type=int, default=120_000, help="generated tokens per run")
    parser.add_argument("--jobs", type=int, default=2, help="runs in parallel (processes, one thread each)")
    parser.add_argument("--out", default="runs/compare", help="report folder")
    add_config_arguments(parser, skip=_PER_RUN)


def run(args: argparse.Namespace) -> int:
    import treecredit
    from treecredit.training.compare import default_estimators, run_comparison
    from treecredit.training.report import summarise, write_report

    estimators = args.estimators.split(",") if args.estimators else default_estimators()
    for name in estimators:
        treecredit.get_estimator(name.partition("@")[0])
    if args.seeds < 1:
        fail("seeds", f"is {args.seeds}, must be ≥ 1", "pass --seeds 3 or more for confidence intervals")
    if args.budget < 1:
        fail("budget", f"is {args.budget}, must be ≥ 1", "pass a number of generated tokens, e.g. --budget 60000")
    if args.jobs < 1:
        fail("jobs", f"is {args.jobs}, must be ≥ 1", "pass --jobs 1 or 2")
    base = config_from_args(args, estimator=estimators[0], steps=0, token_budget=args.budget, progress=False)
    out = Path(args.out)
    runs = run_comparison(base, estimators, list(range(args.seeds)), args.budget, out, jobs=args.jobs)
    summary = summarise(runs, args.budget)
    settings = {k: v for k, v in base.to_dict().items() if k not in _PER_RUN}
    settings.update(budget=args.budget, seeds=args.seeds, estimators=estimators)
    report = write_report(out, summary, settings)
    print(report.read_text())
    print(f"report: {report}")
    return 0
