"""Run several estimators × seeds at one generated-token budget with identical settings, in parallel.

An arm can also name its sampler (``treerpo@tree``, ``grpo@tree:adaptive``), so samplers are compared
at the same generated-token budget (a tree counts each shared segment once).

Every run gets the same ``TrainConfig`` except ``estimator``, ``seed`` and ``out``: the comparison is
honest by construction (no estimator is tuned more than another). The warm start is trained once in
the parent process and shared from the cache, so all runs start from the same policy.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from treecredit.training.config import TrainConfig

PREFERRED = ("grpo", "tempo", "treerl", "treerpo", "spo", "treepo", "dr_grpo", "rloo")


def default_estimators(limit: int = 3) -> list[str]:
    """GRPO plus the first registered tree estimators in ``PREFERRED`` order (outcome ones fill in)."""
    import treecredit

    known = set(treecredit.estimators("token"))
    return [name for name in PREFERRED if name in known][:limit]


def arm_config(base: TrainConfig, label: str) -> TrainConfig:
    """The config of one arm: ``estimator``, ``estimator@sampler`` or ``estimator@tree:branching``
    (e.g. ``grpo``, ``treerpo@tree``, ``grpo@tree:adaptive``); everything else comes from ``base``."""
    estimator, _, spec = label.partition("@")
    sampler, _, branching = spec.partition(":")
    changes = {"estimator": estimator}
    if sampler:
        changes["sampler"] = sampler
    if branching:
        changes["branching"] = branching
    return replace(base, **changes)


def _run_one(config: TrainConfig) -> list[dict]:
    from treecredit.training.loop import train

    return train(config, log=lambda *a: None)


def run_comparison(base: TrainConfig, estimators: list[str], seeds: list[int], budget: int, out: Path,
                   jobs: int = 2, log=print) -> dict[str, list[list[dict]]]:
    """Train every (arm, seed) to ``budget`` generated tokens; return records by arm label, seed order."""
    import multiprocessing

    from treecredit.tasks import make_task
    from treecredit.training.loop import build_policy

    labels = [name for name in estimators for _ in seeds]
    configs = [replace(arm_config(base, name), seed=seed, token_budget=budget, steps=0, progress=False,
                       out=str(out / "runs" / f"{name.replace('@', '_at_').replace(':', '_')}-seed{seed}"))
               for name in estimators for seed in seeds]
    build_policy(base, make_task(base.task, **base.task_options), log)  # warm start once, into the cache
    log(f"compare: {len(configs)} runs ({len(estimators)} estimators × {len(seeds)} seeds), {jobs} at a time")
    if jobs > 1:
        with multiprocessing.get_context("spawn").Pool(jobs) as pool:
            results = []
            for done, records in enumerate(pool.imap(_run_one, configs), 1):
                results.append(records)
                log(f"compare: {done}/{len(configs)} runs done")
    else:
        results = [_run_one(c) for c in configs]
    runs: dict[str, list[list[dict]]] = {name: [] for name in estimators}
    for label, records in zip(labels, results):
        runs[label].append(records)
    return runs
