"""Statistics and files of a comparison report: curves with 95% bands, a table with intervals.

Across n seeds the 95% interval of a mean is  x̄ ± t₀.₉₇₅,ₙ₋₁ · s/√n  (s the Bessel standard deviation);
with one seed the half-width is 0 (no spread can be estimated; the report says n = 1).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np

_T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228,
         15: 2.131, 20: 2.086, 30: 2.042}


def t_quantile(dof: int) -> float:
    """Two-sided 95% Student-t quantile for ``dof`` degrees of freedom (table, conservative between rows)."""
    if dof <= 0:
        return 0.0
    keys = [k for k in sorted(_T975) if k <= dof]
    return _T975[keys[-1]] if dof <= 30 else 1.96


def mean_ci(values) -> tuple[float, float]:
    """``(mean, half-width of the 95% interval)`` over axis 0 of ``values`` (scalars or arrays)."""
    values = np.asarray(values, dtype=float)
    n = values.shape[0]
    mean = values.mean(0)
    if n < 2:
        return mean, np.zeros_like(mean)
    return mean, t_quantile(n - 1) * values.std(0, ddof=1) / np.sqrt(n)


def curve_on_grid(records: list[dict], grid: np.ndarray, key: str = "eval_sampled_pass1") -> np.ndarray:
    """A run's evaluation ``key`` against generated tokens, linearly interpolated onto ``grid``."""
    evals = [r for r in records if r["kind"] == "eval"]
    x = np.array([r["generated_tokens"] for r in evals], dtype=float)
    y = np.array([r[key] for r in evals], dtype=float)
    return np.interp(grid, x, y)


def tokens_to_reach(grid: np.ndarray, mean_curve: np.ndarray, target: float) -> float | None:
    """The first grid token count where ``mean_curve`` reaches ``target`` (None if it never does)."""
    hits = np.flatnonzero(np.asarray(mean_curve) >= target - 1e-12)
    return float(grid[hits[0]]) if hits.size else None


def summarise(runs: dict[str, list[list[dict]]], budget: int, points: int = 21) -> dict:
    """Per estimator: mean curve with band, final pass@1 with interval, tokens to reach GRPO's final accuracy."""
    grid = np.linspace(0, budget, points)
    summary = {"grid": grid.tolist(), "estimators": {}}
    for name, seeds in runs.items():
        curves = np.stack([curve_on_grid(r, grid) for r in seeds])  # (n_seeds, points)
        mean, half = mean_ci(curves)
        finals = {key: mean_ci([[r for r in rs if r["kind"] == "eval"][-1][key] for rs in seeds])
                  for key in ("eval_sampled_pass1", "eval_greedy_pass1", "eval_step_accuracy")}
        trains = [[r for r in rs if r["kind"] == "train"] for rs in seeds]
        summary["estimators"][name] = {
            "n_seeds": len(seeds), "curve_mean": mean.tolist(), "curve_half": half.tolist(),
            "final": {k: {"mean": float(m), "ci95": float(h)} for k, (m, h) in finals.items()},
            "start_sampled_pass1": float(np.mean([[r for r in rs if r["kind"] == "eval"][0]["eval_sampled_pass1"]
                                                  for rs in seeds])),
            "generated_tokens": float(np.mean([t[-1]["generated_tokens"] for t in trains])),
            "flops": float(np.mean([t[-1]["flops"] for t in trains])),
            "wall_s": float(np.mean([t[-1]["elapsed_s"] for t in trains])),
            "step_credit_share": float(np.mean([np.mean([r["adv_step_credit_share"] for r in t]) for t in trains])),
        }
    # GRPO's final accuracy = its mean curve at the budget (runs stop just past the budget, at a step's end)
    reference = summary["estimators"].get("grpo")
    target = None if reference is None else reference["curve_mean"][-1]
    summary["grpo_final_on_curve"] = target
    for entry in summary["estimators"].values():
        entry["tokens_to_grpo_final"] = None if target is None else tokens_to_reach(grid, entry["curve_mean"], target)
    return summary


def write_report(folder: Path, summary: dict, settings: dict) -> Path:
    """Write ``report.md``, ``results.csv``, ``results.json`` and ``curves.png``; return the Markdown path."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "results.json").write_text(json.dumps({"settings": settings, **summary}, indent=1))
    header = ["estimator", "seeds", "sampled_pass1", "ci95", "greedy_pass1", "greedy_ci95", "step_accuracy",
              "tokens_to_grpo_final", "step_credit_share", "generated_tokens", "wall_s"]
    rows = []
    for name, e in summary["estimators"].items():
        f = e["final"]
        rows.append([name, e["n_seeds"], f["eval_sampled_pass1"]["mean"], f["eval_sampled_pass1"]["ci95"],
                     f["eval_greedy_pass1"]["mean"], f["eval_greedy_pass1"]["ci95"],
                     f["eval_step_accuracy"]["mean"], e["tokens_to_grpo_final"], e["step_credit_share"],
                     e["generated_tokens"], e["wall_s"]])
    with (folder / "results.csv").open("w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    plot_curves(folder / "curves.png", summary)
    lines = ["# Estimator comparison", "", f"Settings: `{json.dumps(settings)}`", "",
             "Held-out sampled pass@1 after the token budget (mean ± 95% t-interval over seeds); "
             "'tokens to GRPO final' = generated tokens at which the mean curve (on a 21-point grid) first reaches "
             "GRPO's mean curve at the budget.",
             "", "| estimator | seeds | sampled pass@1 | greedy pass@1 | step accuracy | tokens to GRPO final "
             "| step-credit share | wall s/run |", "|---|---|---|---|---|---|---|---|"]
    for row in rows:
        reach = "not reached" if row[7] is None else f"{row[7]:,.0f}"
        lines.append(f"| {row[0]} | {row[1]} | {row[2]:.3f} ± {row[3]:.3f} | {row[4]:.3f} ± {row[5]:.3f} | "
                     f"{row[6]:.3f} | {reach} | {row[8]:.2f} | {row[10]:.0f} |")
    start = np.mean([e["start_sampled_pass1"] for e in summary["estimators"].values()])
    lines += ["", f"Warm start (step 0) sampled pass@1: {start:.3f}.", "", "![curves](curves.png)", ""]
    path = folder / "report.md"
    path.write_text("\n".join(lines))
    return path


def plot_curves(path: Path, summary: dict) -> None:
    """Mean held-out sampled pass@1 against generated tokens, with 95% bands, one line per estimator."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    grid = np.asarray(summary["grid"])
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    for name, e in summary["estimators"].items():
        mean, half = np.asarray(e["curve_mean"]), np.asarray(e["curve_half"])
        ax.plot(grid, mean, label=f"{name} (n={e['n_seeds']})")
        ax.fill_between(grid, mean - half, mean + half, alpha=0.2)
    ax.set_xlabel("generated tokens")
    ax.set_ylabel("held-out sampled pass@1")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
