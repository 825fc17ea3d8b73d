"""Statistics and files of a comparison report: curves against generated tokens and wall time, final
held-out pass@1 with t-intervals, paired t-tests against the reference arm, tokens to its final accuracy.

Intervals and tests are in :mod:`treecredit.training.compare_stats`. A run's wall time at an evaluation
is the training ``elapsed_s`` of the step that preceded it (evaluation time itself is not counted).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

from treecredit.training.compare_stats import mean_ci, paired_t, t_quantile  # noqa: F401 (re-exported)
from treecredit.training.metrics import json_safe

FINAL_KEYS = ("eval_sampled_pass1", "eval_greedy_pass1", "eval_step_accuracy")
GREEDY_FINAL_KEYS = ("eval_greedy_pass1", "eval_sampled_pass1", "eval_step_accuracy")
AGENT_FINAL_KEYS = ("eval_success", "eval_greedy_success", "eval_return")
TITLES = {"eval_sampled_pass1": "sampled pass@1", "eval_greedy_pass1": "greedy pass@1",
          "eval_step_accuracy": "step accuracy", "eval_success": "sampled success",
          "eval_greedy_success": "greedy success", "eval_return": "return"}


def final_keys(runs: dict, agent: bool = False) -> tuple:
    """The held-out metrics of these runs: task runs (pass@1, step accuracy) or agent runs (success, return).
    The first is the main one (curves, paired tests, tokens to the reference's final): sampled pass@1, or greedy
    pass@1 for runs that evaluate greedily only (``--eval-mode greedy``, or ``auto`` on a large model; their
    sampled pass@1 is n/a). Without any evaluation (every run failed), ``agent`` says which."""
    for by_seed in runs.values():
        for records in (by_seed.values() if isinstance(by_seed, dict) else by_seed):
            first = next((r for r in records if r["kind"] == "eval"), {})
            if agent or "eval_success" in first or "eval_dropped_episodes" in first:  # dropped: no success
                return AGENT_FINAL_KEYS
            return GREEDY_FINAL_KEYS if "eval_sampled_pass1" not in first and "eval_greedy_pass1" in first \
                else FINAL_KEYS
    return AGENT_FINAL_KEYS if agent else FINAL_KEYS


CLOSING = "closing_of_earlier_budget"
"""Key of an evaluation record (True) that closed a run at an earlier, smaller budget and that a run started
with its present budget would not have made: the run was resumed with a larger budget past that step, and the
step is neither 0 nor on the ``eval_every`` schedule. It stays in the run's ``metrics.jsonl`` (flagged by
:func:`treecredit.training.metrics.flag_earlier_closings`) and is left out of the curves, so that a comparison
resumed with a larger ``--budget`` reports what one started at that budget does."""


def curve_evals(records: list[dict]) -> list[dict]:
    """The evaluation records of a run that its curves use: all but those flagged :data:`CLOSING`."""
    return [r for r in records if r["kind"] == "eval" and not r.get(CLOSING)]


def curve_on_grid(records: list[dict], grid: np.ndarray, key: str = "eval_sampled_pass1",
                  x: str = "generated_tokens") -> np.ndarray:
    """A run's evaluation ``key`` against ``x`` (``generated_tokens`` or ``wall_s``), interpolated onto ``grid``
    (the evaluations of :func:`curve_evals` that hold ``key``: an agent evaluation whose every episode was
    dropped has none; NaN everywhere when no evaluation holds it)."""
    evals = [r for r in curve_evals(records) if r.get(key) is not None]
    if not evals:
        return np.full(len(grid), np.nan)
    if x == "wall_s":
        wall = {0: 0.0, **{r["step"]: r["elapsed_s"] for r in records if r["kind"] == "train"}}
        xs = np.array([wall.get(r["step"], 0.0) for r in evals], dtype=float)
    else:
        xs = np.array([r[x] for r in evals], dtype=float)
    return np.interp(grid, xs, np.array([r[key] for r in evals], dtype=float))


def curve_area(records: list[dict], grid: np.ndarray, key: str) -> float:
    """The run's mean held-out ``key`` over the budget: the area under its learning curve against generated
    tokens (trapezoids on ``grid``) divided by the budget. One number per run that rewards learning early,
    and averages several evaluations, so it is less noisy than the final value alone."""
    curve = curve_on_grid(records, grid, key)
    return float(np.sum((curve[1:] + curve[:-1]) / 2 * np.diff(grid)) / (grid[-1] - grid[0]))


def tokens_to_reach(grid: np.ndarray, mean_curve: np.ndarray, target: float) -> float | None:
    """The first grid token count where ``mean_curve`` reaches ``target`` (None if it never does)."""
    hits = np.flatnonzero(np.asarray(mean_curve) >= target - 1e-12)
    return float(grid[hits[0]]) if hits.size else None


def _final(records: list[dict], key: str) -> float:
    value = curve_evals(records)[-1].get(key)  # absent: a decoding --eval-mode left out
    return float("nan") if value is None else float(value)  # None: n/a (JSON null), e.g. no step verifier


def _start(records: list[dict], key: str) -> float:
    """``key`` of the run's first evaluation (NaN where it has none: every episode dropped)."""
    value = next(r for r in records if r["kind"] == "eval").get(key)
    return float("nan") if value is None else float(value)


def _mean_of_means(runs: list[list[dict]], keys: tuple[str, ...]) -> float:
    """The mean over runs of each run's mean of the first of ``keys`` its records hold (a step whose every
    episode was dropped holds none and is left out; NaN where no record of a run holds one)."""
    means = []
    for records in runs:
        values = [v for r in records if (v := next((r[k] for k in keys if r.get(k) is not None), None)) is not None]
        means.append(float(np.mean(values)) if values else float("nan"))
    return float(np.nanmean(means)) if not np.all(np.isnan(means)) else float("nan")


def summarise(runs: dict, budget: int, points: int = 21, reference: str = "grpo", failures: dict | None = None,
              pending: int = 0, agent: bool = False) -> dict:
    """Per arm: curves with bands (tokens, wall time), finals with intervals, paired test and tokens to
    ``reference``'s final accuracy. ``runs[label]`` is ``{seed: records}`` (or a list, seeds 0..n−1).
    Task runs are judged by held-out sampled pass@1, agent runs (``train --env``) by sampled success
    (:func:`final_keys`; ``agent``: the runs are agent runs, for the wording when none finished)."""
    runs = {k: (v if isinstance(v, dict) else dict(enumerate(v))) for k, v in runs.items()}
    keys = final_keys(runs, agent)
    main = keys[0]
    grid = np.linspace(0, budget, points)
    summary = {"grid": grid.tolist(), "reference": reference, "metrics": list(keys), "estimators": {},
               "pending_runs": pending,
               "failures": {k: {str(s): e for s, e in v.items()} for k, v in (failures or {}).items() if v}}
    for name, by_seed in runs.items():
        if not by_seed:
            continue
        seeds = list(by_seed.values())
        curves = np.stack([curve_on_grid(r, grid, main) for r in seeds])  # (n_seeds, points)
        mean, half = mean_ci(curves)
        trains = [[r for r in rs if r["kind"] == "train"] for rs in seeds]
        wall_end = min(t[-1]["elapsed_s"] for t in trains)
        wall_grid = np.linspace(0, wall_end, points)
        wall_mean, wall_half = mean_ci(np.stack([curve_on_grid(r, wall_grid, main, x="wall_s") for r in seeds]))
        finals = {key: mean_ci([_final(rs, key) for rs in seeds]) for key in keys}
        area, area_half = mean_ci([curve_area(rs, grid, main) for rs in seeds])
        summary["estimators"][name] = {
            "n_seeds": len(seeds), "seeds": list(by_seed), "curve_mean": mean.tolist(), "curve_half": half.tolist(),
            "wall_grid": wall_grid.tolist(), "wall_mean": wall_mean.tolist(), "wall_half": wall_half.tolist(),
            "final": {k: {"mean": float(m), "ci95": float(h)} for k, (m, h) in finals.items()},
            "final_per_seed": {str(s): _final(rs, main) for s, rs in by_seed.items()},
            "curve_area": {"mean": float(area), "ci95": float(area_half)},
            "start_main": float(np.mean([_start(rs, main) for rs in seeds])),
            "generated_tokens": float(np.mean([t[-1]["generated_tokens"] for t in trains])),
            "flops": float(np.mean([t[-1].get("flops", np.nan) for t in trains])),
            "wall_s": float(np.mean([t[-1]["elapsed_s"] for t in trains])),
            "step_credit_share": _mean_of_means(trains, ("adv_step_credit_share", "step_credit_share")),
            "no_advantage": no_advantage(trains),
        }
    ref = summary["estimators"].get(reference)
    target = None if ref is None else ref["curve_mean"][-1]  # = its final: runs end at or below the budget
    if ref is not None:  # did the reference learn at all? If not, "tokens to its final" says nothing
        starts = [_start(rs, main) for rs in runs[reference].values()]
        finals = [_final(rs, main) for rs in runs[reference].values()]
        summary["reference_improvement"] = paired_t(finals, starts)
    summary["reference_final_on_curve"] = target
    summary["grpo_final_on_curve"] = target if reference == "grpo" else None
    for name, entry in summary["estimators"].items():
        entry["tokens_to_grpo_final"] = None if target is None else tokens_to_reach(grid, entry["curve_mean"], target)
        if target is not None:
            per_seed = [tokens_to_reach(grid, curve_on_grid(runs[name][s], grid, main), target) for s in runs[name]]
            entry["seeds_reaching_grpo_final"] = sum(t is not None for t in per_seed)
            entry["seeds_reaching_at_half_budget"] = sum(t is not None and t <= budget / 2 for t in per_seed)
        if ref is not None and name != reference:
            common = [s for s in runs[name] if s in runs[reference]]
            entry["paired_vs_reference"] = paired_t([_final(runs[name][s], main) for s in common],
                                                    [_final(runs[reference][s], main) for s in common])
            entry["area_paired_vs_reference"] = paired_t([curve_area(runs[name][s], grid, main) for s in common],
                                                         [curve_area(runs[reference][s], grid, main) for s in common])
    return summary


def no_advantage(trains: list[list[dict]]) -> bool:
    """Whether every step of every run (``trains``: each run's train records) had every advantage 0
    (``adv_nonzero_share`` 0.0): such an arm trained nothing (groups of copies, or all right or all wrong), so
    its figures are its warm start's. False when a run records no ``adv_nonzero_share`` (older runs)."""
    shares = [r.get("adv_nonzero_share") for records in trains for r in records]
    return bool(shares) and all(share == 0 for share in shares)


def _fmt(x, spec=".3f") -> str:
    return "–" if x is None or (isinstance(x, float) and not np.isfinite(x)) else format(x, spec)


def _signed(x: float) -> str:
    """A difference with its sign (``+0.014``, ``-0.021``); one that rounds to zero is ``0.000``, not
    ``-0.000`` (a difference of -0.0004 is no evidence of a negative effect)."""
    text = f"{x:+.3f}"
    return "0.000" if float(text) == 0 else text


def _na(value) -> str:
    """A value of a metric that can be missing (step accuracy without a step verifier): ``n/a`` then."""
    return "n/a" if value is None or not np.isfinite(value) else f"{value:.3f}"


def _pm(mean: float, half: float, n: int, short: bool = False) -> str:
    """``mean ± half``; a single seed has no interval (said in full, or with ``short`` the mean alone); ``n/a``
    for a metric the runs do not have (NaN)."""
    if mean is None or not np.isfinite(mean):
        return "n/a"
    if n >= 2:
        return f"{mean:.3f} ± {_fmt(half)}"
    return f"{mean:.3f}" if short else f"{mean:.3f} (1 seed, no interval)"


def _wall(seconds: float) -> str:
    return f"{seconds:.1f}" if seconds < 10 else f"{seconds:.0f}"


def write_report(folder: Path, summary: dict, settings: dict, command: str = "", warned: str = "") -> Path:
    """Write ``report.md``, ``results.csv``, ``results.json`` and ``curves.png``; return the Markdown path.
    ``warned``: the line naming the runs whose log.txt holds warnings (``run_log.warned_runs_line``), if any."""
    folder.mkdir(parents=True, exist_ok=True)
    # n/a (a step accuracy without a step verifier, a p-value of one seed): null in results.json, empty in the CSV
    (folder / "results.json").write_text(json.dumps(json_safe({"settings": settings, **summary}), indent=1,
                                                    allow_nan=False))
    main, second, third = summary.get("metrics", FINAL_KEYS)
    names = [k.removeprefix("eval_") for k in (main, second, third)]
    header = ["estimator", "seeds", names[0], "ci95", names[1], names[1] + "_ci95", names[2],
              "tokens_to_grpo_final", "diff_vs_ref", "diff_ci95", "paired_p", "step_credit_share",
              "generated_tokens", "wall_s", "curve_area", "curve_area_ci95", "area_diff_vs_ref", "area_diff_ci95",
              "area_paired_p"]
    title = [TITLES[k] for k in (main, second, third)]
    rows = []
    for name, e in summary["estimators"].items():
        f, pair, area = e["final"], e.get("paired_vs_reference", {}), e.get("area_paired_vs_reference", {})
        rows.append([name, e["n_seeds"], f[main]["mean"], f[main]["ci95"], f[second]["mean"], f[second]["ci95"],
                     f[third]["mean"], e["tokens_to_grpo_final"], pair.get("mean_diff"),
                     pair.get("ci95"), pair.get("p"), e["step_credit_share"], e["generated_tokens"], e["wall_s"],
                     e["curve_area"]["mean"], e["curve_area"]["ci95"], area.get("mean_diff"), area.get("ci95"),
                     area.get("p")])
    with (folder / "results.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(json_safe(rows))
    if summary["estimators"]:
        plot_curves(folder / "curves.png", summary)
    ref = summary.get("reference", "grpo")
    budget = summary["grid"][-1]
    lines = ["# Estimator comparison", ""]
    if summary.get("pending_runs"):
        lines += [(f"**Partial report: {summary['pending_runs']} run(s) still running or queued**; it is rewritten "
                  "as each run finishes."), ""]
    if command:
        lines += [f"Command: `{command}`", ""]
    lines += [f"Settings: `{json.dumps(settings)}`", "",
              (f"Held-out {title[0]} at the end of each run, its last step within the budget of {budget:.0f} "
               "generated tokens (mean ± 95% t-interval over seeds; each arm's mean tokens spent: generated_tokens "
               "in results.csv). "
              f"'Δ vs {ref}' = paired difference over the seeds both arms finished (mean ± 95% t-interval, "
              f"two-sided paired t-test p). 'Tokens to {ref} final' = generated tokens at which the arm's mean "
              f"curve (21-point grid) first reaches {ref}'s mean curve at the budget; 'seeds ≤ ½' = seeds whose "
              "own curve reaches it within half the budget. 'Mean over budget' = the area under the run's "
              f"learning curve divided by the budget (mean {title[0]} over the run: rewards learning early and "
              "averages several evaluations), with its paired difference to the reference and p."), "",
              (f"| arm | seeds | {title[0]} | Δ vs {ref} (paired) | p | mean over budget | Δ mean over budget "
              f"(paired) | p | {title[1]} | {title[2]} | tokens to {ref} final | seeds ≤ ½ | step-credit share "
              "| wall s/run |"),
              "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for row, (name, e) in zip(rows, summary["estimators"].items()):
        reach = "not reached" if row[7] is None else f"{row[7]:,.0f} ({row[7] / budget:.0%})"
        diff = "–" if row[8] is None else f"{_signed(row[8])} ± {_fmt(row[9])}"
        half = "–" if "seeds_reaching_at_half_budget" not in e else f"{e['seeds_reaching_at_half_budget']}/{row[1]}"
        area_diff = "–" if row[16] is None else f"{_signed(row[16])} ± {_fmt(row[17])}"
        shown = f"{name} (no advantage)" if e.get("no_advantage") else name
        lines.append(f"| {shown} | {row[1]} | {_pm(row[2], row[3], row[1])} | {diff} | {_fmt(row[10])} | "
                     f"{_pm(row[14], row[15], row[1], short=True)} | {area_diff} | {_fmt(row[18])} | "
                     f"{_pm(row[4], row[5], row[1], short=True)} | {_na(row[6])} | {reach} | {half} | {row[11]:.2f} | "
                     f"{_wall(row[13])} |")
    for name, errors in summary.get("failures", {}).items():
        for seed, error in sorted(errors.items(), key=lambda item: int(item[0])):  # seed order, not finish order
            lines.append(f"| {name} | seed {seed} failed | {error.replace('|', '/')} | | | | | | | | | | | |")
    idle = [name for name, e in summary["estimators"].items() if e.get("no_advantage")]
    if idle:
        lines += ["", f"**(no advantage): every advantage of every step of {', '.join(idle)} was 0 "
                  "(adv_nonzero_share 0.0 in each run's metrics.jsonl), so it trained nothing and its figures are "
                  "those of its start: its groups held no difference (a tree sampler's groups of copies when the "
                  "answers have one step, or every answer of a group right or wrong). Its run's log.txt says "
                  "which, with the fix.**"]
    steps = settings.get("warm_start_steps" if settings.get("model", "gpt") == "gpt" else "hf_warm_start_steps")
    start_word, level = ("step 0", "step-0") if steps == 0 else ("its warm start", "warm-start")  # none: step 0
    if summary["estimators"]:
        start = np.mean([e["start_main"] for e in summary["estimators"].values()])
        label = "Step 0 (no warm start)" if steps == 0 else "Warm start (step 0)"
        lines += ["", f"{label} {title[0]}: {start:.3f}."]
    gain = summary.get("reference_improvement")
    if gain and gain["n"] >= 2:
        lines += ["", f"{ref} over {start_word} (paired over seeds): {_signed(gain['mean_diff'])} ± "
                  f"{_fmt(gain['ci95'])} (p {_fmt(gain['p'])})."]
        if not gain["mean_diff"] - gain["ci95"] > 0:
            lines += [f"**{ref} did not improve measurably on {start_word} at this budget, so 'tokens to {ref} "
                      f"final' only says when an arm's curve first touches the {level} level; it is not evidence "
                      "of faster learning.**"]
    lines += ["", "![curves](curves.png)", ""] if summary["estimators"] else ["", "No run finished: no curves.", ""]
    if warned:
        lines += [f"Run logs: {warned} (each run's notes and warnings are in its log.txt).", ""]
    path = folder / "report.md"
    path.write_text("\n".join(lines))
    return path


def plot_curves(path: Path, summary: dict) -> None:
    """Mean held-out main metric (sampled pass@1, or success for agents) against generated tokens and against
    wall time, with 95% bands."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grid = np.asarray(summary["grid"])
    fig, (ax, bx) = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    for name, e in summary["estimators"].items():
        for axis, xs, m, h in ((ax, grid, e["curve_mean"], e["curve_half"]),
                               (bx, e["wall_grid"], e["wall_mean"], e["wall_half"])):
            mean, half = np.asarray(m), np.asarray(h)
            axis.plot(xs, mean, label=f"{name} (n={e['n_seeds']})")
            axis.fill_between(xs, np.clip(mean - half, 0, 1), np.clip(mean + half, 0, 1), alpha=0.2)  # shares
    ax.set_xlabel("generated tokens")
    bx.set_xlabel("training wall time, s (evaluation excluded)")
    ax.set_ylabel("held-out " + TITLES[summary.get("metrics", FINAL_KEYS)[0]])
    for axis in (ax, bx):
        axis.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
