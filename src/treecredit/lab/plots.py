"""Log–log plots of the lab's sweeps (matplotlib, Agg backend, imported only here)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from treecredit.lab.runner import ORACLE


def _plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _series(records, sweep, regime, xkey, metric):
    out: dict = {}
    for r in records:
        if r.get("sweep") != sweep or r.get("regime") != regime or r.get(metric) is None or r[metric] <= 0:
            continue
        out.setdefault(r["estimator"], []).append((r[xkey], r[metric], r[metric + "_lo"], r[metric + "_hi"]))
    return {k: sorted(v) for k, v in sorted(out.items())}


def _colors(labels):
    plt = _plt()
    cmap = plt.get_cmap("tab20")
    return {label: cmap(i % 20) for i, label in enumerate(sorted(labels))}


def _errorbars(ax, series, colors, linestyle="-", marker="o", suffix=""):
    for label, pts in series.items():
        x, y, lo, hi = (np.array(c, dtype=float) for c in zip(*pts))
        lo = np.where(np.isfinite(lo), np.maximum(lo, y * 1e-3), y)
        hi = np.where(np.isfinite(hi), hi, y)
        ax.errorbar(x, y, yerr=[y - lo, hi - y], color=colors[label], linestyle=linestyle, marker=marker,
                    markersize=4, capsize=2, label=label + suffix, linewidth=1.3)


def _reference(ax, x0, x1, y0, slope, text):
    xs = np.array([x0, x1], dtype=float)
    ax.plot(xs, y0 * (xs / x0) ** slope, color="black", linestyle=":", linewidth=1.2, label=text)


def plot_branching(records: list[dict], path: Path) -> Path | None:
    """Two panels: RMS bias and per-token variance of two-level trees against their branching B."""
    bias = _series(records, "branching", "tree", "branching", "rms_bias")
    var = _series(records, "branching", "tree", "branching", "var")
    bias.pop(ORACLE, None)
    var.pop(ORACLE, None)
    if not bias:
        return None
    plt = _plt()
    colors = _colors(set(bias) | set(var))
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8))
    for ax, series, title in ((axes[0], bias, "RMS bias of Â vs A* (per token)"),
                              (axes[1], var, "variance of Â given the token's node")):
        _errorbars(ax, series, colors)
        xs = [p[0] for pts in series.values() for p in pts]
        ys = [p[1] for pts in series.values() for p in pts]
        if xs:
            _reference(ax, min(xs), max(xs), float(np.median(ys)), -1.0, "∝ 1/B")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("branching B (two-level tree, B² leaves)")
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
    handles, labels = axes[1].get_legend_handles_labels()
    fig.legend(handles, labels, loc="center left", bbox_to_anchor=(0.83, 0.5), fontsize=8)
    fig.tight_layout(rect=(0, 0, 0.82, 1))
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_budget(records: list[dict], path: Path) -> Path | None:
    """Relative variance of the policy-gradient estimate against the leaf budget, i.i.d. vs trees."""
    iid = _series(records, "budget", "iid", "budget", "grad_rel_var")
    tree = _series(records, "budget", "tree", "budget", "grad_rel_var")
    if not iid and not tree:
        return None
    plt = _plt()
    colors = _colors(set(iid) | set(tree))
    fig, ax = plt.subplots(figsize=(9.5, 5))
    _errorbars(ax, iid, colors, "-", "o", " (i.i.d. G)")
    _errorbars(ax, tree, colors, "--", "s", " (tree B=2)")
    xs = [p[0] for pts in iid.values() for p in pts]
    ys = [p[1] for pts in iid.values() for p in pts]
    if xs:
        _reference(ax, min(xs), max(xs), max(ys), -1.0, "∝ 1/budget")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("leaf budget (responses per prompt)")
    ax.set_ylabel("tr Cov(ĝ) / ‖E ĝ‖²  (lower is better)")
    ax.set_title("Noise-to-signal of the policy gradient built from each estimator's advantages")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_conditions(reduction: list[dict], path: Path) -> Path | None:
    """Variance-reduction factor over GRPO (i.i.d.) per condition, one bar per estimator on trees."""
    rows = [r for r in reduction if r.get("grad_ratio")]
    if not rows:
        return None
    plt = _plt()
    conds = sorted({_condition_label(r) for r in rows})
    ests = sorted({r["estimator"] for r in rows})
    colors = _colors(ests)
    fig, ax = plt.subplots(figsize=(10, 0.5 * len(conds) * max(1, len(ests) / 4) + 1.5))
    height = 0.8 / len(ests)
    for j, est in enumerate(ests):
        for i, cond in enumerate(conds):
            match = [r for r in rows if r["estimator"] == est and _condition_label(r) == cond]
            if not match:
                continue
            r = match[0]
            y = i + j * height
            ax.barh(y, r["grad_ratio"], height=height, color=colors[est], label=est if i == 0 else None)
            if r.get("grad_lo") is not None:
                ax.plot([r["grad_lo"], r["grad_hi"]], [y, y], color="black", linewidth=0.8)
    ax.axvline(1.0, color="black", linestyle=":")
    ax.set_xscale("log")
    ax.set_yticks(np.arange(len(conds)) + 0.4 - height / 2)
    ax.set_yticklabels(conds, fontsize=8)
    ax.set_xlabel("grad_rel_var(GRPO, i.i.d. G=16) / grad_rel_var(estimator, tree B=4, L=2)  (> 1: less noise)")
    ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=7)
    ax.grid(True, axis="x", which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def _condition_label(r: dict) -> str:
    return (f"D={r['depth']} p={r['success_rate']:g} {r['reward']} {r['entropy']} decisive={r['decisive']}")
