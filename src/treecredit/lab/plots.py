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


EXACT_FLOOR = 1e-6  # a series whose values all lie below this is float32 rounding of an exact estimate
MARKERS = "osD^v<>pPXh*"


def _series(records, sweep, regime, xkey, metric, raw_scale_only=False):
    out: dict = {}
    for r in records:
        if r.get("sweep") != sweep or r.get("regime") != regime or r.get(metric) is None or r[metric] <= 0:
            continue
        if raw_scale_only and r.get("normalised"):
            continue
        out.setdefault(r["estimator"], []).append((r[xkey], r[metric], r[metric + "_lo"], r[metric + "_hi"]))
    return {k: sorted(v) for k, v in sorted(out.items()) if max(p[1] for p in v) >= EXACT_FLOOR}


def _styles(labels):
    """A colour and a marker per label: tab10 colours, with the marker changing every ten labels."""
    plt = _plt()
    cmap = plt.get_cmap("tab10")
    return {label: (cmap(i % 10), MARKERS[(i // 10) % len(MARKERS)]) for i, label in enumerate(sorted(labels))}


def _errorbars(ax, series, styles, linestyle="-"):
    for label, pts in series.items():
        x, y, lo, hi = (np.array(c, dtype=float) for c in zip(*pts))
        lo = np.where(np.isfinite(lo), np.maximum(lo, y * 1e-3), y)
        hi = np.where(np.isfinite(hi), hi, y)
        color, marker = styles[label]
        ax.errorbar(x, y, yerr=[y - lo, hi - y], color=color, linestyle=linestyle, marker=marker,
                    markersize=4, capsize=2, label=label, linewidth=1.3)


def _reference(ax, x0, x1, y0, slope, text):
    xs = np.array([x0, x1], dtype=float)
    ax.plot(xs, y0 * (xs / x0) ** slope, color="black", linestyle=":", linewidth=1.5, label=text)


def _plain_x_ticks(ax, values):
    from matplotlib.ticker import NullFormatter

    ticks = sorted(set(values))
    ax.set_xticks(ticks)
    ax.set_xticklabels([f"{t:g}" for t in ticks])
    ax.xaxis.set_minor_formatter(NullFormatter())


def plot_branching(records: list[dict], path: Path) -> Path | None:
    """Two log–log panels: RMS bias and per-node sd of two-level trees against their branching B.

    Only estimators on A*'s scale (normalised ones carry a data-dependent scale) and not exact ones."""
    bias = _series(records, "branching", "tree", "branching", "rms_bias", raw_scale_only=True)
    sd = _series(records, "branching", "tree", "branching", "sd", raw_scale_only=True)
    bias.pop(ORACLE, None)
    sd.pop(ORACLE, None)
    if not bias and not sd:
        return None
    plt = _plt()
    styles = _styles(set(bias) | set(sd))
    fig, axes = plt.subplots(1, 2, figsize=(12, 4.8))
    for ax, series, title, ylabel, slope, ref in (
            (axes[0], bias, "bias: RMS over nodes of E[Â | node] − A*", "rms_bias", -1.0, "∝ 1/B (claim C1)"),
            (axes[1], sd, "noise: √ mean over nodes of Var(Â | node)", "sd", -0.5, "∝ 1/√B (claim C2: var ∝ 1/B)")):
        _errorbars(ax, series, styles)
        xs = [p[0] for pts in series.values() for p in pts]
        ys = [p[1] for pts in series.values() for p in pts]
        if xs:
            _reference(ax, min(xs), max(xs), float(np.max(ys)), slope, ref)
            _plain_x_ticks(ax, xs)
        ax.set_xscale("log")
        ax.set_yscale("log")
        if xs:
            _plain_x_ticks(ax, xs)
        ax.set_xlabel("branching B (two-level tree, B² leaves)")
        ax.set_ylabel(ylabel + " (log scale)")
        ax.set_title(title, fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=7, loc="lower left", ncol=2)
    fig.suptitle("Per-token error against the exact A* (token MDP), estimators on A*'s scale", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot_budget(records: list[dict], path: Path) -> Path | None:
    """Noise-to-signal of the policy-gradient estimate against the leaf budget: i.i.d. groups | binary trees."""
    iid = _series(records, "budget", "iid", "budget", "grad_rel_var")
    tree = _series(records, "budget", "tree", "budget", "grad_rel_var")
    if not iid and not tree:
        return None
    plt = _plt()
    styles = _styles(set(iid) | set(tree))
    fig, axes = plt.subplots(1, 2, figsize=(13, 5.2), sharey=True)
    for ax, series, title in ((axes[0], iid, "i.i.d. groups of G = budget"),
                              (axes[1], tree, "binary trees (B = 2, budget = 2^L leaves)")):
        _errorbars(ax, series, styles)
        xs = [p[0] for pts in series.values() for p in pts]
        ys = [p[1] for pts in series.values() for p in pts]
        if xs:
            _reference(ax, min(xs), max(xs), max(ys), -1.0, "∝ 1/budget")
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        if xs:
            _plain_x_ticks(ax, xs)
        ax.set_xlabel("leaf budget (responses per prompt)")
        ax.set_title(title, fontsize=10)
        ax.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("tr Cov(ĝ) / ‖E ĝ‖²   (log scale, lower is better)")
    handles, labels = [], []
    for ax in axes:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            if lab not in labels:
                handles.append(h)
                labels.append(lab)
    fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=8)
    fig.suptitle("Noise-to-signal of the policy gradient built from each estimator's advantages (token MDP)",
                 fontsize=11)
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def plot_conditions(reduction: list[dict], path: Path) -> Path | None:
    """Heat map: variance-reduction factor over GRPO (i.i.d.) per condition (row) and tree estimator (column).

    Cell text is the factor; ``*`` marks a 95 % interval that excludes 1."""
    rows = [r for r in reduction if r.get("grad_ratio")]
    if not rows:
        return None
    plt = _plt()
    from matplotlib.colors import LogNorm

    conds = sorted({_condition_label(r) for r in rows})
    ests = sorted({r["estimator"] for r in rows})
    grid = np.full((len(conds), len(ests)), np.nan)
    sig = np.zeros_like(grid, dtype=bool)
    for r in rows:
        i, j = conds.index(_condition_label(r)), ests.index(r["estimator"])
        grid[i, j] = r["grad_ratio"]
        lo, hi = r.get("grad_lo"), r.get("grad_hi")
        sig[i, j] = lo is not None and hi is not None and (lo > 1 or hi < 1)
    span = float(np.nanmax(np.abs(np.log(grid)))) if np.isfinite(grid).any() else 1.0
    span = max(span, 0.1)
    fig, ax = plt.subplots(figsize=(1.0 + 0.62 * len(ests) + 3.2, 1.2 + 0.42 * len(conds)))
    im = ax.imshow(grid, cmap="RdBu", norm=LogNorm(vmin=np.exp(-span), vmax=np.exp(span)), aspect="auto")
    for i in range(len(conds)):
        for j in range(len(ests)):
            if np.isfinite(grid[i, j]):
                ax.text(j, i, f"{grid[i, j]:.2g}{'*' if sig[i, j] else ''}", ha="center", va="center", fontsize=7,
                        color="white" if abs(np.log(grid[i, j])) > 0.6 * span else "black")
    ax.set_xticks(np.arange(len(ests)))
    ax.set_xticklabels(ests, rotation=60, ha="right", fontsize=8)
    ax.set_yticks(np.arange(len(conds)))
    ax.set_yticklabels(conds, fontsize=8)
    bar = fig.colorbar(im, ax=ax, fraction=0.03, pad=0.02)
    bar.set_label("grad_rel_var(GRPO, i.i.d. G=16) / grad_rel_var(estimator, tree B=4, L=2)", fontsize=8)
    ax.set_title("Gradient-noise reduction over GRPO at the same leaf budget (> 1, blue: less noise; "
                 "* = 95 % interval excludes 1)", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


def _condition_label(r: dict) -> str:
    return (f"D={r['depth']} p={r['success_rate']:g} {r['reward']} {r['entropy']} decisive={r['decisive']}")
