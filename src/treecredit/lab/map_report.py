"""The map's part of the lab report: equal-token tables, the heat map and the recommendations table."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from treecredit.lab.token_map import (
    MIN_DIRECTION_COS,
    REFERENCE_RESPONSES,
    arm_label,
    best_per_environment,
    direction_ok,
    recommendation,
    shape_label,
)


def _iv(v, lo, hi, digits=3) -> str:
    if v is None:
        return "–"
    if lo is None or hi is None:
        return f"{v:.{digits}g}"
    if not (math.isfinite(lo) and math.isfinite(hi)):  # too few batches for an interval (``--size tiny``)
        return f"{v:.{digits}g} [no interval]"
    return f"{v:.{digits}g} [{lo:.{digits}g}, {hi:.{digits}g}]"


def _row_iv(row: dict, key: str, digits=3) -> str:
    return _iv(row.get(key), row.get(key + "_lo"), row.get(key + "_hi"), digits)


def _env_name(e: dict) -> str:
    return f"D={e['depth']}, p={e['p_nominal']:g}, {e['reward']}, decisive {e['decisive']}"


def equal_token_tables(records: list[dict]) -> list[str]:
    """Per map environment and shape: GRPO and the least noisy estimator on that shape, per generated token."""
    envs: dict = {}
    for r in records:
        if r.get("sweep") == "map" and "skipped" not in r and r.get("noise_per_token") is not None:
            envs.setdefault(_env_name(r), {}).setdefault(_shape_key(r), []).append(r)
    out = []
    for name, shapes in envs.items():
        out += [f"**{name}**", "",
                ("| shape | tokens/group | leaves at budget | estimator | noise/token (ρ·t) [95 %] | "
                "cos(E ĝ, ∇J) [95 %] | cos at budget [95 %] | nmse at budget [95 %] |"),
                "|---|---|---|---|---|---|---|---|"]
        for _shape, rows in sorted(shapes.items(), key=lambda kv: kv[0]):
            pool = [r for r in rows if not r["estimator"].startswith("(")]
            if not pool:  # only the oracle has a figure (e.g. equal rewards in every group of a tiny lab)
                continue
            sound = [r for r in pool if direction_ok(r)]
            best = min(sound or pool, key=lambda r: r["noise_per_token"])
            tag = " (least noise)" if sound else f" (least noise; every cos interval below {MIN_DIRECTION_COS})"
            for r in [x for x in rows if x["estimator"] == "grpo"] + ([best] if best["estimator"] != "grpo" else []):
                out.append(f"| {shape_label(r)} | {r['tokens_per_group']:.4g} | "
                           f"{r['leaves_at_budget']:.0f} | "
                           f"{r['estimator']}{tag if r is best else ''} | "
                           f"{_row_iv(r, 'noise_per_token')} | {_row_iv(r, 'grad_mean_cos_u', 2)} | "
                           f"{_row_iv(r, 'cos_at_budget', 2)} | {_row_iv(r, 'nmse_at_budget', 2)} |")
        out.append("")
    return out


def _shape_key(r: dict) -> tuple:
    """Sort key of a shape: i.i.d. groups, fixed trees, adaptive trees; then by leaves and branching."""
    order = {"iid": 0, "tree": 1, "adaptive": 2}[r["regime"]]
    return (order, r["branching"] ** r["levels"], r["branching"], r.get("chains") or 0)


def _pick(e: dict, name: str) -> str:
    return f"{e.get(name, '–')}: {_iv(e.get(name + '_gain'), e.get(name + '_gain_lo'), e.get(name + '_gain_hi'), 2)}"


def recommendations_table(entries: list[dict]) -> list[str]:
    out = [("| chain length D | success p (exact) | reward (Var r) | decisive | use | best tree arm: gain over GRPO "
           "[95 %] | best adaptive-tree arm: gain [95 %], cos(E ĝ, ∇J) | best i.i.d. step arm: gain [95 %] | "
           "GRPO reference | left out: biased direction |"),
           "|---|---|---|---|---|---|---|---|---|---|"]
    for e in entries:
        tree = _pick(e, "tree")
        adaptive = _pick(e, "adaptive") + (f", cos {e['adaptive_mean_cos_u']:.2f}"
                                           if e.get("adaptive_mean_cos_u") is not None else "")
        step = (f"{e.get('iid_step', '–')}: "
                f"{_iv(e.get('iid_step_gain'), e.get('iid_step_gain_lo'), e.get('iid_step_gain_hi'), 2)}")
        out.append(f"| {e['depth']} | {e['p_nominal']:g} ({e['success_exact']:.2g}) | {e['reward']} "
                   f"({e['reward_var']:.2g}) | {e['decisive']} | {recommendation(e)} | {tree} | {adaptive} | {step} | "
                   f"{e['grpo']} | "
                   f"{', '.join(e.get('excluded_biased', [])) or '–'} |")
    return out


def map_markdown(records: list[dict], heatmap: Path | None, size: str | None = None) -> list[str]:
    """The report section of the ``map`` sweep (empty if it did not run)."""
    from treecredit.lab.token_map import MAP_ESTIMATORS, MAP_SIZES

    entries = best_per_environment(records)
    if not entries:
        return []
    blocks, groups = MAP_SIZES.get(size or "quick", (None, None))
    out = ["## When does step-level credit pay? Gradient noise per generated token", "",
           f"Map and cutoff cells: {blocks} independent batches × {groups} groups each (size {size}); estimators "
           f"{', '.join(MAP_ESTIMATORS)} with their default options; token MDPs with V = 3 actions per position.",
           "",
           ("Each arm (estimator × sampling shape) is charged the tokens it generates: an i.i.d. group of G "
           "responses generates G·D tokens, a tree generates each shared segment once, so at equal generated "
           "tokens a tree gets more leaves. **Adaptive trees** (`adaptive G=16 M=2`) are grown by the trainer's own "
           "`AdaptiveBranching` rule (E-TreeRPO: M initial chains, then 3 rounds that give new children to step "
           "ends in proportion to entropy × uncertainty of the value, at most 4 per point and round, at most G "
           "leaves); their tokens and leaves per group are measured, and since where they branch depends on the "
           "rewards seen, their cos(E ĝ, ∇J) shows whether that biases the gradient. "
           "**noise/token** = ρ·t (ρ = tr Cov ĝ / ‖E ĝ‖² of one group's "
           "gradient, t = tokens the group generated): the noise-to-signal of a gradient averaged over groups "
           "worth one generated token; divide by a budget T for the noise at T. A gain of 2 means the arm needs "
           "half GRPO's generated tokens for the same gradient noise. **cos at budget** and **nmse at budget** "
           f"are at T = {REFERENCE_RESPONSES} full responses' tokens (the trainer's default batch); "
           "cos(E ĝ, ∇J) below 1 is the bias of the gradient direction, which no budget removes; it is a "
           "debiased estimate (‖E ĝ‖² is estimated as ‖mean ĝ‖² − tr Cov ĝ / k, removing the noise's upward "
           "bias), so noise can put it above 1 (read 1.02 as 1 within its interval). GRPO's "
           "reference is its least noisy i.i.d. group size. Only generation is counted: the update still "
           "processes every leaf's tokens. Gains compare independently sampled cells (95 % log-normal delta "
           "interval, Bonferroni-adjusted: each best arm is picked from m arms, so its interval is at level "
           "0.05/m, which keeps the picked arm's significance honest). ρ is measured around the arm's own "
           "mean gradient, so an arm whose mean gradient points "
           f"away from ∇J (95 % interval of cos(E ĝ, ∇J) entirely below {MIN_DIRECTION_COS}) is not recommended "
           "whatever its noise; such arms are listed in the last column."), ""]
    if heatmap is not None:
        out += [f"![map]({heatmap.name})", ""]
    out += ["### Recommendations", ""] + recommendations_table(entries) + [""]
    out += ["### Equal generated tokens, per environment and shape", "",
            "GRPO, and the estimator with the least noise per generated token on the same samples (among those "
            f"whose 95 % interval of cos(E ĝ, ∇J) reaches {MIN_DIRECTION_COS}; an interval that reaches "
            f"{MIN_DIRECTION_COS} but not 1 is a small bias of direction, shown in the cos column):", ""]
    return out + equal_token_tables(records)


def plot_map(records: list[dict], path: Path) -> Path | None:
    """Heat maps (one per reward kind, decisive actions late): chain length × success rate, colour =
    log₂ of the best arm's gain over GRPO per generated token, each cell labelled with the arm."""
    entries = [e for e in best_per_environment(records) if e["decisive"] == "late" and e.get("best_gain")]
    if not entries:
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rewards = sorted({e["reward"] for e in entries})
    fig, axes = plt.subplots(1, len(rewards), figsize=(5.6 * len(rewards), 4.4), squeeze=False)
    for ax, reward in zip(axes[0], rewards):
        rows = [e for e in entries if e["reward"] == reward]
        depths, ps = sorted({e["depth"] for e in rows}), sorted({e["p_nominal"] for e in rows})
        grid = np.full((len(depths), len(ps)), np.nan)
        for e in rows:
            i, j = depths.index(e["depth"]), ps.index(e["p_nominal"])
            grid[i, j] = np.log2(e["best_gain"])
            shape = {"iid": "iid", "adaptive": f"adaptive G{e['best_branching']}"}.get(
                e["best_regime"], f"B{e['best_branching']} L{e['best_levels']}")
            star = "*" if (e.get("best_gain_lo") or 0) > 1 else ""
            ax.text(j, i, f"{e['best_estimator']}\n{shape}\n×{e['best_gain']:.2g}{star}", ha="center", va="center",
                    fontsize=8)
        image = ax.imshow(grid, cmap="RdYlGn", vmin=-2, vmax=2, origin="lower", aspect="auto")
        ax.set_xticks(range(len(ps)), [f"{p:g}" for p in ps])
        ax.set_yticks(range(len(depths)), [str(d) for d in depths])
        ax.set_xlabel("success rate p")
        ax.set_ylabel("chain length D (actions)")
        ax.set_title(f"{reward} reward: best arm, gain over GRPO per token")
        fig.colorbar(image, ax=ax, label="log₂ gain (* = 95 % interval > 1)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def cutoff_markdown(records: list[dict]) -> list[str]:
    """The ``cutoff`` sweep: tokens saved, value bias, and noise per generated token with and without it."""
    rows = [r for r in records if r.get("sweep") == "cutoff" and "skipped" not in r
            and r.get("noise_per_token") is not None and not r["estimator"].startswith("(")]
    if not rows:
        return []
    out = ["## Early cutoff: tokens saved and value bias", "",
           ("A perfect partial verifier stops each response after a wrong step (`sound`: only where every "
           "completion earns the same reward, which is then assigned, so it is exact; `any`: after the first "
           "wrong decisive action, reward 0, biased where the step is not fatal). Tokens saved = share of the "
           "generated tokens (shared segments once) that are not generated; value bias = mean over cut responses "
           "of (assigned value − exact V* at the cut); a biased cut shows as cos(E ĝ, ∇J) < 1. Noise per token "
           "as in the map (GRPO and the least noisy estimator on the same samples)."), "",
           ("| environment | shape | cutoff | tokens/group | tokens saved | cut responses | value bias | "
           "GRPO noise/token [95 %] | GRPO cos(E ĝ, ∇J) | least noisy: noise/token [95 %] |"),
           "|---|---|---|---|---|---|---|---|---|---|"]
    cells: dict = {}
    for r in rows:
        cells.setdefault((r["reward"], r["regime"], r["branching"], r["levels"], r["cutoff"]), []).append(r)
    for key in sorted(cells, key=lambda k: (k[0], k[1] != "iid", k[2], k[3], k[4] != "off")):
        group = cells[key]
        grpo = next((r for r in group if r["estimator"] == "grpo"), None)
        best = min(group, key=lambda r: r["noise_per_token"])
        r0 = group[0]
        saved = r0.get("cutoff_tokens_saved")
        out.append(f"| D={r0['depth']} {r0['reward']} p={r0['p_nominal']:g} | {arm_label(r0).split(' @ ')[1]} | "
                   f"{r0['cutoff']} | {r0['tokens_per_group']:.1f} | {'–' if saved is None else f'{saved:.0%}'} | "
                   f"{_pct(r0.get('cutoff_cut_share'))} | {_num(r0.get('cutoff_value_bias'))} | "
                   f"{'–' if grpo is None else _row_iv(grpo, 'noise_per_token')} | "
                   f"{'–' if grpo is None else _row_iv(grpo, 'grad_mean_cos_u', 2)} | "
                   f"{best['estimator']}: {_row_iv(best, 'noise_per_token')} |")
    return out + [""]


def _pct(x) -> str:
    return "–" if x is None else f"{x:.0%}"


def _num(x) -> str:
    if x is None:
        return "–"
    text = f"{x:+.3f}"
    return "0.000" if float(text) == 0 else text  # not -0.000
