"""Evidence for docs/results/agents: turn-credit estimators on text envs, and the signature audit.

``compare``: arms × seeds of ``treecredit train --env ...`` at one generated-token budget, identical
settings except the arm's estimator (and, for the revisit-rate suites, the env's ``signature`` mode,
``rtmc@history``, or its ``unmatched_share``, ``rtmc@u0.5``), all from one cached warm start. Writes
``<out>/compare.json`` and ``<out>/compare.md``: held-out success (sampled, greedy) at the end with 95 %
intervals over seeds, the paired difference to the reference arm, per arm the mean state-revisit rate
and share of turns with non-zero step credit, and the sampled success on training instances over the
last quarter of the steps (with its paired difference).

``audit``: the TextWorld signature audit (:func:`treecredit.agents.audit.signature_audit`) → ``audit.json``.

Usage (sized for 2 shared cores)::

    nice -n 10 python benchmarks/agents_evidence.py compare --out docs/results/agents/gridworld \\
        --arms grpo,rtmc,gigpo,rtmc@history --seeds 5 --budget 20000 --jobs 2
    nice -n 10 python benchmarks/agents_evidence.py audit --out docs/results/agents/textworld
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

import numpy as np

BASE = dict(env="gridworld", n_layer=2, n_head=2, n_embd=64, warm_start_steps=500, warm_start_batch=32,
            prompts_per_step=8, group_size=8, eval_every=10, eval_problems=128, max_new_tokens=8, lr=3e-4,
            epochs=1, threads=1, progress=False, tensorboard=False)


def arm_config(base, label: str, seed: int, budget: int, out: Path):
    """``estimator``, ``estimator@signature`` (the env's signature mode for that arm) or ``estimator@uP``
    (the env's ``unmatched_share=P``: a share P of states never matched, e.g. ``rtmc@u0.5``)."""
    estimator, _, signature = label.partition("@")
    env_options = dict(base.env_options)
    if signature.startswith("u") and signature[1:2].isdigit():
        env_options["unmatched_share"] = float(signature[1:])
    elif signature:
        env_options["signature"] = signature
    return replace(base, estimator=estimator, env_options=env_options, seed=seed, token_budget=budget, steps=0,
                   out=str(out / "runs" / f"{label.replace('@', '_')}-seed{seed}"))


def _run(config) -> list[dict]:
    from treecredit.training.agent_loop import train_agent

    return train_agent(config, overwrite=True, log=lambda *a: None)  # a rerun replaces the arm's run


def summarise(runs: dict[str, list[list[dict]]], reference: str) -> dict:
    from treecredit.training.compare_stats import mean_ci, paired_t

    def final(records, key):
        return [r for r in records if r["kind"] == "eval"][-1][key]

    def train_mean(records, key):
        return float(np.mean([r[key] for r in records if r["kind"] == "train"]))

    def late_train_success(records):  # sampled success on training instances, last quarter of the steps
        train = [r["success"] for r in records if r["kind"] == "train"]
        return float(np.mean(train[-max(1, len(train) // 4):]))

    out = {}
    for label, seeds in runs.items():
        row = {"n_seeds": len(seeds)}
        for key in ("eval_success", "eval_greedy_success", "eval_invalid_share", "eval_turns"):
            mean, half = mean_ci([final(rs, key) for rs in seeds])
            row[key] = {"mean": float(mean), "ci95": float(half)}
        start = [[r for r in rs if r["kind"] == "eval"][0]["eval_success"] for rs in seeds]
        row["start_success"] = float(np.mean(start))
        row["start_greedy_success"] = float(np.mean([[r for r in rs if r["kind"] == "eval"][0]["eval_greedy_success"]
                                                     for rs in seeds]))
        mean, half = mean_ci([final(rs, "eval_success") - s for rs, s in zip(seeds, start)])
        row["vs_start"] = {"mean": float(mean), "ci95": float(half)}
        for key in ("revisit_rate", "step_credit_share", "success", "time_credit_s", "elapsed_s"):
            row[f"train_{key}"] = float(np.mean([train_mean(rs, key) for rs in seeds]))
        row["generated_tokens"] = float(np.mean([final(rs, "generated_tokens") for rs in seeds]))
        mean, half = mean_ci([late_train_success(rs) for rs in seeds])
        row["late_train_success"] = {"mean": float(mean), "ci95": float(half)}
        if label != reference and reference in runs:
            row["vs_reference"] = paired_t([final(rs, "eval_success") for rs in seeds],
                                           [final(rs, "eval_success") for rs in runs[reference]])
            row["vs_reference_greedy"] = paired_t([final(rs, "eval_greedy_success") for rs in seeds],
                                                  [final(rs, "eval_greedy_success") for rs in runs[reference]])
            row["vs_reference_late_train"] = paired_t([late_train_success(rs) for rs in seeds],
                                                      [late_train_success(rs) for rs in runs[reference]])
        out[label] = row
    return out


def write_compare_report(out: Path, summary: dict, settings: dict) -> Path:
    lines = [f"# Agent estimators on `{settings['env']}` at {settings['budget']} generated tokens per run", "",
             f"Settings: `{json.dumps(settings)}`", "",
             "| arm | seeds | held-out success (sampled) | greedy | gain over warm start | Δ vs "
             + settings["reference"] + " (95 % CI, p) | greedy Δ (95 % CI, p) | state revisit rate¹ "
             "| turns with step credit | invalid share | training-instance success, last ¼ of steps "
             "| its Δ (95 % CI, p) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for label, row in summary.items():
        vs = row.get("vs_reference")
        delta = f"{vs['mean_diff']:+.3f} ± {vs['ci95']:.3f} (p={vs['p']:.2f})" if vs else "—"
        vg = row.get("vs_reference_greedy")
        delta += f" | {vg['mean_diff']:+.3f} ± {vg['ci95']:.3f} (p={vg['p']:.2f})" if vg else " | —"
        success = row["eval_success"]
        gain = f"{row['vs_start']['mean']:+.3f} ± {row['vs_start']['ci95']:.3f}" if "vs_start" in row else "—"
        lines.append(f"| {label} | {row['n_seeds']} | {success['mean']:.3f} ± {success['ci95']:.3f}"
                     f" | {row['eval_greedy_success']['mean']:.3f} ± {row['eval_greedy_success']['ci95']:.3f}"
                     f" | {gain} | {delta}"
                     f" | {row['train_revisit_rate']:.2f} | {row['train_step_credit_share']:.2f}"
                     f" | {row['eval_invalid_share']['mean']:.3f} | {_late(row)} |")
    start = np.mean([row["start_success"] for row in summary.values()])
    greedy = np.mean([row.get("start_greedy_success", np.nan) for row in summary.values()])
    lines += ["", f"Warm start (step 0) held-out success: {start:.3f} sampled, {greedy:.3f} greedy.", "",
              "¹ Share of training turns whose state (under the arm's signature) another episode of the same group "
              "also visited: a property of the arm's episodes. Only the estimators that match states use it (rtmc, "
              "gigpo); grpo, rloo and dr_grpo match nothing, so in their rows it only describes the episodes."]
    path = out / "compare.md"
    path.write_text("\n".join(lines) + "\n")
    return path


def _late(row: dict) -> str:
    """The late training success and its paired Δ as two table cells ("—" for reports written before them)."""
    late, vs = row.get("late_train_success"), row.get("vs_reference_late_train")
    cell = f"{late['mean']:.3f} ± {late['ci95']:.3f}" if late else "—"
    return cell + (f" | {vs['mean_diff']:+.3f} ± {vs['ci95']:.3f} (p={vs['p']:.2f})" if vs else " | —")


def plot(out: Path, runs: dict, budget: int) -> None:
    """``success_curves.png`` (held-out success at each evaluation) and ``train_success_curves.png`` (sampled
    success on the training instances, a moving mean over 8 steps), means over seeds with 95 % bands."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from treecredit.training.compare_stats import mean_ci

    def points(rs, kind: str, key: str):
        picked = [r for r in rs if r["kind"] == kind]
        values = [r[key] for r in picked]
        if kind == "train":
            values = [float(np.mean(values[max(0, i - 7):i + 1])) for i in range(len(values))]
        return [r["generated_tokens"] for r in picked], values

    grid = np.linspace(0, budget, 11)
    for kind, key, name, label_y in (("eval", "eval_success", "success_curves.png", "held-out success (sampled)"),
                                     ("train", "success", "train_success_curves.png",
                                      "training success (sampled, 8-step mean)")):
        fig, ax = plt.subplots(figsize=(6, 4))
        for label, seeds in runs.items():
            mean, half = mean_ci([np.interp(grid, *points(rs, kind, key)) for rs in seeds])
            ax.plot(grid, mean, label=label)
            ax.fill_between(grid, mean - half, mean + half, alpha=0.2)
        ax.set_xlabel("generated tokens")
        ax.set_ylabel(label_y)
        ax.legend()
        fig.tight_layout()
        fig.savefig(out / name, dpi=120)
        plt.close(fig)


def compare(args) -> None:
    import multiprocessing

    from treecredit.agents.episodes import EpisodeSettings
    from treecredit.envs import env_factory
    from treecredit.training.agent_loop import build_agent_policy, split_sampler_options
    from treecredit.training.config import TrainConfig
    from treecredit.training.startup import torch_threads

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    env_options = _options(args.env_option)
    overrides = {**_options(args.set), "sampler_options": _options(args.sampler_option)}
    base = TrainConfig(**{**BASE, "env": args.env, "env_options": env_options, "steps": 1,
                          "eval_every": args.eval_every, **overrides})
    episode_options, agent = split_sampler_options(base.sampler_options)
    settings = EpisodeSettings(action_max_tokens=base.max_new_tokens, **episode_options)
    with torch_threads(base.threads):  # as the runs train it (the thread count is in its cache key)
        build_agent_policy(base, env_factory(base.env, **base.env_options), settings, agent, print)  # warm start once
    arms = args.arms.split(",")
    # seed-major order: an interrupted comparison has every arm at the seeds it finished
    configs = [arm_config(base, label, seed, args.budget, out) for seed in range(args.seeds) for label in arms]
    print(f"{len(configs)} runs, {args.jobs} at a time")
    with multiprocessing.get_context("spawn").Pool(args.jobs) as pool:
        results = []
        for i, records in enumerate(pool.imap(_run, configs), 1):
            results.append(records)
            print(f"{i}/{len(configs)} done", flush=True)
    runs: dict[str, list] = {label: [] for label in arms}
    for config, records in zip(configs, results):
        label = Path(config.out).name.rsplit("-seed", 1)[0]
        runs[arms[[a.replace("@", "_") for a in arms].index(label)]].append(records)
    summary = summarise(runs, arms[0])
    settings = {**{k: v for k, v in BASE.items() if k not in ("progress", "tensorboard")},  # BASE's env is a default
                "env": args.env, "env_options": env_options, "budget": args.budget, "seeds": args.seeds,
                "reference": arms[0], "eval_every": args.eval_every, **overrides}
    (out / "compare.json").write_text(json.dumps({"settings": settings, "summary": summary}, indent=1))
    plot(out, runs, args.budget)
    print(write_compare_report(out, summary, settings).read_text())


def _resume(job) -> list[dict]:
    from treecredit.training.agent_loop import train_agent

    config, = job
    return train_agent(config, resume=True, log=lambda *a: None)


def extend(args) -> None:
    """Copy the runs of ``--from`` into ``--out`` and resume each to ``--budget`` generated tokens (same
    settings otherwise; a setting added to ``TrainConfig`` since the run was saved takes its default)."""
    import multiprocessing
    import shutil
    from dataclasses import fields

    from treecredit.training.config import TrainConfig

    source, out = Path(getattr(args, "from")), Path(args.out)
    defaults = TrainConfig().to_dict()
    names = {f.name for f in fields(TrainConfig)}
    arms = [a.replace("@", "_") for a in args.arms.split(",")]
    jobs = []
    for seed in range(args.seeds):  # seed-major, as compare
        for arm in arms:
            folder = out / "runs" / f"{arm}-seed{seed}"
            if not folder.exists():
                shutil.copytree(source / "runs" / folder.name, folder)
            saved = json.loads((folder / "config.json").read_text())
            saved = {**{k: v for k, v in defaults.items() if k not in saved}, **saved}
            (folder / "config.json").write_text(json.dumps(saved, indent=1))
            values = {k: v for k, v in saved.items() if k in names}
            jobs.append((TrainConfig(**{**values, "token_budget": args.budget, "out": str(folder)}),))
    print(f"{len(jobs)} runs resumed to {args.budget} tokens, {args.jobs} at a time")
    with multiprocessing.get_context("spawn").Pool(args.jobs) as pool:
        for i, _ in enumerate(pool.imap(_resume, jobs), 1):
            print(f"{i}/{len(jobs)} done", flush=True)
    data = summary_from_runs(out, args)
    print(write_compare_report(out, data["summary"], data["settings"]).read_text())


def _options(pairs: list[str]) -> dict:
    """``["k=v", ...]`` → ``{k: v}``, values read as JSON when they parse (``true``, numbers, lists), else text."""
    from treecredit.training.train_cli import parse_key_values

    return parse_key_values(pairs, "--env-option")


def summary_from_runs(out: Path, args) -> dict:
    """Summarise the finished runs under ``<out>/runs`` (finished: spent its budget), at the seeds that
    every arm finished (so that the paired differences pair equal seeds); the reference arm is ``grpo``.
    Writes ``compare.json`` and the curves (``success_curves.png``); arms added by a later ``compare``
    into the same ``--out`` are summarised with the others."""
    from treecredit.training.budget import run_finished

    by_arm: dict[str, dict[int, list]] = {}
    configs: dict[tuple[str, int], dict] = {}
    for folder in sorted((out / "runs").iterdir()):
        if not (folder / "metrics.jsonl").exists():
            continue
        records = [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines() if line]
        config = json.loads((folder / "config.json").read_text())
        if not run_finished(folder):  # ended at its last step within the budget (docs/runs.md)
            continue
        label, _, seed = folder.name.rpartition("-seed")
        by_arm.setdefault(label.replace("_", "@"), {})[int(seed)] = records
        configs[label.replace("_", "@"), int(seed)] = config
    if not by_arm:
        raise SystemExit(f"report --from-runs: no finished run under {out / 'runs'} (a run is finished when its "
                         "next step would pass the token budget); finish them with compare --resume first")
    seeds = sorted(set.intersection(*(set(v) for v in by_arm.values())))
    if not seeds:
        raise SystemExit(f"report --from-runs: no seed is finished in every arm under {out / 'runs'} "
                         f"(finished: { {arm: sorted(done) for arm, done in by_arm.items()} }); finish the runs "
                         "with compare --resume first")
    runs = {label: [done[s] for s in seeds] for label, done in by_arm.items()}
    first = "grpo" if "grpo" in runs else next(iter(runs))
    runs = {first: runs.pop(first), **runs}
    used = [configs[label, s] for label in runs for s in seeds]
    settings = {**run_settings(used), "budget": used[0]["token_budget"], "seeds": len(seeds), "reference": first,
                "from_runs": True}
    data = {"settings": settings, "summary": summarise(runs, first)}
    (out / "compare.json").write_text(json.dumps(data, indent=1))
    plot(out, runs, used[0]["token_budget"])
    return data


def run_settings(configs: list[dict]) -> dict:
    """The settings ``compare`` reports, read back from the runs' ``config.json``: ``BASE``'s fields and every
    other field off its ``TrainConfig`` default, as far as all runs share them (the arm's estimator, seed,
    folder and budget are per run; ``env_options`` keeps the options every run has alike)."""
    from treecredit.training.config import TrainConfig

    defaults = TrainConfig().to_dict()
    per_run = ("estimator", "seed", "out", "token_budget", "steps", "progress", "tensorboard", "module_folders")
    shared = {k: v for k, v in configs[0].items() if k not in per_run and all(c.get(k) == v for c in configs)}
    env_options = {k: v for k, v in configs[0]["env_options"].items()
                   if all(c["env_options"].get(k) == v for c in configs)}  # arms may differ (signature, ...)
    keep = {k for k in BASE if k not in per_run} | {k for k, v in shared.items() if v != defaults.get(k)}
    return {**{k: v for k, v in shared.items() if k in keep}, "env": configs[0]["env"], "env_options": env_options}


def audit(args) -> None:
    import time

    from treecredit.agents.audit import signature_audit
    from treecredit.envs import env_factory

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    options = dict(view=args.view, rooms=args.rooms, objects=args.objects, quest_length=args.quest_length,
                   pool=args.games, max_turns=12)
    make = env_factory("textworld", **options)
    extra = {"look (room + inventory)": lambda env: env.look(),
             "observation + look": lambda env: env.observation + " " + env.look()} if args.view == "text" else {}
    result = signature_audit(make, list(range(args.games)), args.episodes, noise=args.noise, seed=0, extra=extra)
    result["settings"] = {"env": "textworld", "games": args.games, **options, "episodes_per_game": args.episodes,
                          "noise": args.noise}
    result["seconds"] = time.time() - started
    (out / "audit.json").write_text(json.dumps(result, indent=1))
    print(json.dumps(result, indent=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("compare")
    c.add_argument("--out", required=True)
    c.add_argument("--env", default="gridworld")
    c.add_argument("--env-option", action="append", default=[])
    c.add_argument("--arms", default="grpo,rtmc,gigpo")
    c.add_argument("--seeds", type=int, default=5)
    c.add_argument("--budget", type=int, default=30_000)
    c.add_argument("--jobs", type=int, default=2)
    c.add_argument("--eval-every", type=int, default=10)
    c.add_argument("--set", action="append", default=[], help="a TrainConfig field, e.g. warm_start_steps=200")
    c.add_argument("--sampler-option", action="append", default=[], help="e.g. expert_noise=0.5, max_len=1024")
    e = sub.add_parser("extend", help="resume a comparison's runs to a larger budget, in a new folder")
    e.add_argument("--from", required=True)
    e.add_argument("--out", required=True)
    e.add_argument("--arms", default="grpo,rtmc,gigpo")
    e.add_argument("--seeds", type=int, default=5)
    e.add_argument("--budget", type=int, required=True)
    e.add_argument("--jobs", type=int, default=2)
    r = sub.add_parser("report", help="rewrite compare.md from compare.json")
    r.add_argument("--out", required=True)
    r.add_argument("--from-runs", action="store_true", help="summarise the finished runs under <out>/runs")
    a = sub.add_parser("audit")
    a.add_argument("--out", required=True)
    a.add_argument("--games", type=int, default=8)
    a.add_argument("--episodes", type=int, default=16)
    a.add_argument("--noise", type=float, default=0.4)
    a.add_argument("--view", default="text", help="the textworld env's view: text or compact")
    a.add_argument("--rooms", type=int, default=3)
    a.add_argument("--objects", type=int, default=4)
    a.add_argument("--quest-length", type=int, default=3)
    args = parser.parse_args()
    if args.command == "report":
        out = Path(args.out)
        data = json.loads((out / "compare.json").read_text()) if (out / "compare.json").exists() else None
        if data is None or args.from_runs:  # runs finished so far (e.g. an interrupted comparison)
            data = summary_from_runs(out, args)
        print(write_compare_report(out, data["summary"], data["settings"]).read_text())
        return
    {"compare": compare, "extend": extend, "audit": audit}[args.command](args)


if __name__ == "__main__":
    main()
