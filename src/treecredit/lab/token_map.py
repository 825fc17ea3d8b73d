"""Gradient noise per generated token: i.i.d. groups against trees at equal generation cost, and the map.

A group (one prompt's i.i.d. responses, or one sampled tree) generates t tokens (a tree counts each shared
segment once) and gives one policy-gradient estimate ĝ with noise-to-signal ρ = tr Cov ĝ / ‖E ĝ‖²
(``grad_rel_var_u``, the version with an unbiased ‖E ĝ‖²). Averaging k independent groups divides ρ by k and
costs k·t tokens, so

- ``noise_per_token`` = ρ · t is the noise-to-signal of a gradient built from *one generated token's worth*
  of groups; at a budget of T generated tokens it is ρ · t / T. Lower is better; the ratio of two arms'
  ``noise_per_token`` is how many times fewer tokens one needs for the same gradient noise.
- ``cos_at_budget`` ≈ cos(E ĝ, ∇J) / √(1 + ρ·t/T) (``grad_mean_cos_u``, capped at 1): the cosine between the
  batch gradient and the true
  gradient at the reference budget T = ``REFERENCE_RESPONSES`` full responses' tokens (the trainer's
  default batch, 16 prompts × 8), using E‖ḡ‖² = ‖E ĝ‖² + tr Cov ĝ / k (Jensen's gap in the cosine is
  ignored). ``nmse_at_budget`` = 1 − cos_at_budget²: the squared error left after the best rescaling
  (scale-free, so normalised estimators compare too); it mixes the bias of the direction with the noise.
- ``leaves_at_budget`` = k · leaves per group: how many responses the budget buys.

Intervals: ``noise_per_token`` scales the jackknife interval of ρ (t is a constant of the cell); the
``cos_at_budget`` interval combines the two intervals' worst ends (conservative). Gains between two cells
(measured on independent batches) use the log-normal delta interval of :func:`treecredit.lab.claims._ratio`.
A gain of an arm *picked* as the least noisy of m candidates gets the Bonferroni interval at level 0.05/m
(``<pick>_arms`` = m in the entry): without it the best of 8–48 arms measured with no real gain was called
significant in 13–29 % of environments instead of ≤ 2.5 % (review42's null simulation); with it, a
"significantly less noisy" call holds at 95 % for the pick, whichever arm it is.

The *map* sweeps chain length, success rate, reward kind and the place of the decisive actions. For each
environment it finds the arm (estimator × tree shape) with the least noise per generated token, the best
i.i.d. step-credit arm, and GRPO's best i.i.d. group size, and their gains over GRPO.
"""

from __future__ import annotations

import math

REFERENCE_RESPONSES = 128
DEBIASED_COS = (" (a debiased estimate: ‖E ĝ‖² is estimated as ‖mean ĝ‖² − tr Cov ĝ / k, so noise can put it "
                "above 1)")
MAP_ESTIMATORS = ("grpo", "rloo", "tempo", "treerl", "treerpo", "spo", "treepo", "ibpo")
OUTCOME_ONLY = frozenset({"grpo", "rloo", "dr_grpo"})  # one advantage per response: no step credit
MAP_SIZES = {"tiny": (3, 4), "quick": (10, 32), "full": (12, 48)}  # (blocks, groups per block)
# (regime, B or G, levels) for i.i.d. groups and fixed trees; ("adaptive", G, M) for adaptive trees of at
# most G leaves from M initial chains (AdaptiveBranching: 3 rounds, at most 4 children per point and round).
SHAPES_QUICK = (("iid", 8, 1), ("iid", 16, 1), ("tree", 2, 3), ("tree", 4, 2), ("tree", 2, 4), ("adaptive", 16, 2))
SHAPES_FULL = (("iid", 8, 1), ("iid", 16, 1), ("iid", 32, 1), ("tree", 2, 2), ("tree", 2, 3),
               ("tree", 2, 4), ("tree", 4, 2), ("tree", 3, 3), ("tree", 8, 2), ("adaptive", 16, 2),
               ("adaptive", 32, 4))
ENV_KEYS = ("depth", "p_nominal", "reward", "decisive")


def map_environments(full: bool) -> list[dict]:
    """The environments of the map (token MDPs, V = 3): a grid of chain length × success rate (× reward
    kind with ``full``), decisive actions late; ``full`` adds early and spread decisive actions."""
    base = {"n_actions": 3, "entropy": "flat", "n_decisive": 2, "seed": 1, "decisive": "late"}
    if not full:
        return [dict(base, depth=d, success_rate=p, reward="binary") for d in (3, 6) for p in (0.1, 0.5)]
    envs = [dict(base, depth=d, success_rate=p, reward=r) for r in ("binary", "noisy") for d in (3, 5, 7)
            for p in (0.05, 0.2, 0.5)]
    return envs + [dict(base, depth=7, success_rate=0.2, reward="binary", decisive=k) for k in ("early", "spread")]


def map_shapes(depth: int, full: bool) -> list[tuple[str, int, int]]:
    """The sampling shapes measured at chain length ``depth`` (fixed trees need ``levels`` ≤ ``depth``)."""
    return [s for s in (SHAPES_FULL if full else SHAPES_QUICK) if s[0] == "adaptive" or s[2] <= depth]


def shape_label(row: dict) -> str:
    """``i.i.d. G=8``, ``tree B=4 L=2`` or ``adaptive G=16 M=2``."""
    if row["regime"] == "iid":
        return f"i.i.d. G={row['budget']}"
    if row["regime"] == "adaptive":
        return f"adaptive G={row['budget']} M={row.get('chains')}"
    return f"tree B={row['branching']} L={row['levels']}"


def arm_label(row: dict) -> str:
    """``grpo @ i.i.d. G=8``, ``treerl @ tree B=4 L=2`` or ``treerl @ adaptive G=16 M=2``."""
    return f"{row['estimator']} @ {shape_label(row)}"


def add_per_token_metrics(row: dict) -> dict:
    """Add ``noise_per_token``, ``cos_at_budget``, ``nmse_at_budget`` and ``leaves_at_budget`` (with
    ``_lo``/``_hi``) to a token-level record that has ``grad_rel_var`` and ``tokens_per_group``."""
    t, rho = row.get("tokens_per_group"), row.get("grad_rel_var_u")
    if not t or rho is None or row.get("grad_mean_cos_u") is None:
        return row
    steps = row["depth"] * row.get("step_len", 1)
    k = REFERENCE_RESPONSES * steps / t
    row["leaves_at_budget"] = k * row.get("leaves_per_group", row["budget"])
    for suffix in ("", "_lo", "_hi"):
        value = row.get("grad_rel_var_u" + suffix)
        row["noise_per_token" + suffix] = None if value is None else value * t
    cos = min(_cos_at(row["grad_mean_cos_u"], rho, k), 1.0)
    lo = _cos_at(row.get("grad_mean_cos_u_lo"), row.get("grad_rel_var_u_hi"), k)
    hi = _cos_at(row.get("grad_mean_cos_u_hi"), row.get("grad_rel_var_u_lo"), k)
    row["cos_at_budget"], row["cos_at_budget_lo"], row["cos_at_budget_hi"] = cos, lo, hi
    row["nmse_at_budget"] = 1.0 - cos * cos
    row["nmse_at_budget_lo"] = None if hi is None else 1.0 - min(hi, 1.0) ** 2
    row["nmse_at_budget_hi"] = None if lo is None else 1.0 - max(lo, 0.0) ** 2
    return row


def _cos_at(mean_cos, rho, k):
    if mean_cos is None or rho is None:
        return None
    return mean_cos / math.sqrt(1.0 + max(rho, 0.0) / k)


def _env_key(row: dict) -> tuple:
    return tuple(row.get(k) for k in ENV_KEYS)


MIN_DIRECTION_COS = 0.95


def direction_ok(row: dict) -> bool:
    """False when the arm's expected gradient points measurably away from the true one: the 95 % interval of
    cos(E ĝ, ∇J) lies below ``MIN_DIRECTION_COS``. Low noise around a wrong direction is no gain: such arms
    are not recommended (the noise-to-signal ρ is measured around the arm's own mean gradient)."""
    hi = row.get("grad_mean_cos_u_hi")
    return hi is None or hi >= MIN_DIRECTION_COS


def _biased_summary(rows: list[dict]) -> list[str]:
    """``["ibpo on 3 shapes (cos 0.78–0.87)", ...]``: the arms left out for a biased gradient direction."""
    by_name: dict = {}
    for r in rows:
        if r.get("grad_mean_cos_u") is not None:
            by_name.setdefault(r["estimator"], []).append(r["grad_mean_cos_u"])
    return [f"{name} on {len(c)} shape{'s' if len(c) > 1 else ''} (cos {min(c):.2f}–{max(c):.2f})"
            for name, c in sorted(by_name.items())]


def best_per_environment(records: list[dict]) -> list[dict]:
    """Per map environment: GRPO's best i.i.d. group, the best fixed-tree arm, the best adaptive-tree arm,
    the best i.i.d. step-credit arm, and the overall best, with gains (GRPO noise per token / arm's) and
    95 % intervals Bonferroni-adjusted for the number of arms each pick was chosen from (``<pick>_arms``).
    Arms whose expected gradient is biased in direction (:func:`direction_ok`) are left out of the picks and
    listed."""
    from treecredit.lab.claims import _ratio

    envs: dict = {}
    for r in records:
        if r.get("sweep") == "map" and "skipped" not in r and r.get("noise_per_token") is not None \
                and r["estimator"] in MAP_ESTIMATORS:
            envs.setdefault(_env_key(r), []).append(r)
    out = []
    for key, rows in envs.items():
        grpo = [r for r in rows if r["estimator"] == "grpo" and r["regime"] == "iid"]
        if not grpo:
            continue
        ref = min(grpo, key=lambda r: r["noise_per_token"])
        biased = [r for r in rows if not direction_ok(r)]
        rows = [r for r in rows if direction_ok(r)]
        picks = {"best": rows, "tree": [r for r in rows if r["regime"] == "tree"],
                 "adaptive": [r for r in rows if r["regime"] == "adaptive"],
                 "iid_step": [r for r in rows if r["regime"] == "iid" and r["estimator"] not in OUTCOME_ONLY]}
        entry = dict(zip(ENV_KEYS, key), success_exact=ref["success_rate"], reward_var=ref["reward_var"],
                     grpo=arm_label(ref), grpo_noise_per_token=ref["noise_per_token"],
                     grpo_cos_at_budget=ref.get("cos_at_budget"),
                     excluded_biased=_biased_summary(biased))
        for name, candidates in picks.items():
            if not candidates:
                continue
            best = min(candidates, key=lambda r: r["noise_per_token"])
            gain = _ratio(_noise_row(ref), _noise_row(best), "noise", comparisons=len(candidates))
            entry.update({name: arm_label(best), f"{name}_estimator": best["estimator"],
                          f"{name}_regime": best["regime"],
                          f"{name}_branching": best["branching"], f"{name}_levels": best["levels"],
                          f"{name}_chains": best.get("chains"),
                          f"{name}_gain": gain[0], f"{name}_gain_lo": gain[1], f"{name}_gain_hi": gain[2],
                          f"{name}_arms": len(candidates),
                          f"{name}_cos_at_budget": best.get("cos_at_budget"),
                          f"{name}_mean_cos": best.get("grad_mean_cos"),
                          f"{name}_mean_cos_u": best.get("grad_mean_cos_u"),
                          f"{name}_mean_cos_u_hi": best.get("grad_mean_cos_u_hi"),
                          f"{name}_token_share": _tokens_per_leaf(best) / _tokens_per_leaf(ref)})
        out.append(entry)
    return sorted(out, key=lambda e: (e["reward"], e["decisive"] != "late", e["decisive"], e["depth"], e["p_nominal"]))


def _tokens_per_leaf(row: dict) -> float:
    return row["tokens_per_group"] / row.get("leaves_per_group", row["budget"])


def _noise_row(row: dict) -> dict:
    """The noise figures under the names :func:`_ratio` reads (value, 95 % bounds, block count)."""
    return {"noise": row["noise_per_token"], "noise_lo": row.get("noise_per_token_lo"),
            "noise_hi": row.get("noise_per_token_hi"), "n_blocks": row.get("n_blocks")}


def recommendation(entry: dict) -> str:
    """One sentence: what to use in this environment, and by how much it beats GRPO per generated token."""
    sure = entry.get("best_gain_lo") is not None and entry["best_gain_lo"] > 1.0
    if entry.get("best_estimator") == "grpo" and entry.get("best_regime") == "iid":
        return "GRPO on i.i.d. groups (no arm is less noisy per generated token)"
    if entry.get("best_regime") == "tree":
        what = (f"{entry['best_estimator']} on trees with depth {entry['best_levels']} (levels), "
                f"{entry['best_branching']} children per node")
    elif entry.get("best_regime") == "adaptive":
        what = (f"{entry['best_estimator']} on adaptive trees (≤ {entry['best_branching']} leaves, "
                f"{entry['best_chains']} initial chains)")
    else:
        what = f"{entry['best_estimator']} on i.i.d. groups of {entry['best_branching']}"
    lo, hi = entry.get("best_gain_lo"), entry.get("best_gain_hi")
    no_interval = lo is not None and hi is not None and not (math.isfinite(lo) and math.isfinite(hi))
    verdict = ("" if sure else " (no 95 % interval: too few batches at this size; run --size quick or full)"
               if no_interval else f" (not significantly better than GRPO at 95 %{_adjusted(entry, 'best')})")
    return f"{what}: {entry['best_gain']:.2g}× less gradient noise per generated token than GRPO{verdict}"


def _adjusted(entry: dict, name: str) -> str:
    m = entry.get(f"{name}_arms") or 1
    return f", adjusted for the best of {m} arms" if m > 1 else ""


def _unsure(entry: dict, name: str) -> str:
    """`` (not significant at 95 %)`` when the 95 % interval of ``entry``'s ``name`` gain does not exclude 1 or
    is undefined (a tiny lab: too few batches for an interval), else ``""``."""
    low = entry.get(f"{name}_gain_lo")
    return ("" if low is not None and math.isfinite(low) and low > 1
            else f" (not significant at 95 %{_adjusted(entry, name)})")


def map_summary_lines(records: list[dict]) -> list[str]:
    """Plain sentences on the map: where a tree or step arm beats GRPO per generated token, by how much."""
    entries = best_per_environment(records)
    if not entries:
        return []
    sig_tree = [e for e in entries if (e.get("tree_gain_lo") or 0) > 1]
    sig_step = [e for e in entries if (e.get("iid_step_gain_lo") or 0) > 1]
    lines = [(f"Map (per generated token, {len(entries)} environments): a tree arm is significantly less noisy than "
             f"GRPO in {len(sig_tree)}/{len(entries)}, an i.i.d. step-credit arm in {len(sig_step)}/{len(entries)} "
             f"(95 %, Bonferroni-adjusted for the number of arms each best pick was chosen from).")]
    adaptive = [e for e in entries if e.get("adaptive_gain") is not None]
    if adaptive:
        sig = [e for e in adaptive if (e.get("adaptive_gain_lo") or 0) > 1]
        ahead = [e for e in adaptive if e["adaptive_gain"] > (e.get("tree_gain") or 0)]
        cos = [e["adaptive_mean_cos_u"] for e in adaptive if e.get("adaptive_mean_cos_u") is not None]
        lines.append(f"Map: adaptive trees are significantly less noisy than GRPO in {len(sig)}/{len(adaptive)} "
                     f"environments and less noisy than the best fixed tree in {len(ahead)}/{len(adaptive)}; "
                     f"gains {min(e['adaptive_gain'] for e in adaptive):.2g}–"
                     f"{max(e['adaptive_gain'] for e in adaptive):.2g}×"
                     + (f", cos(E ĝ, ∇J) of the best adaptive arm {min(cos):.2f}–{max(cos):.2f}"
                        + (f"{DEBIASED_COS}." if max(cos) > 1 else ".") if cos else "."))
    if entries:
        top = max(entries, key=lambda e: e.get("tree_gain") or 0)
        low = min(entries, key=lambda e: e.get("tree_gain") or float("inf"))
        lines.append(f"Map: best tree gain {top['tree_gain']:.2g}×{_unsure(top, 'tree')} ({top['tree']}; "
                     f"D={top['depth']}, p={top['p_nominal']:g}, {top['reward']}, decisive {top['decisive']}); "
                     f"smallest {low['tree_gain']:.2g}× ({low['tree']}; D={low['depth']}, p={low['p_nominal']:g}, "
                     f"{low['reward']}, decisive {low['decisive']}).")
    return lines
