"""The seed's claims, tested on the sweep records: fitted slopes and ratios with 95 % intervals.

- C1, bias ∝ 1/B: the log–log slope of ``rms_bias`` (and of the attenuation |1 − gain|) against the
  branching B of two-level trees; "consistent" when the interval holds −1.
- C2, variance = σ²/B + tree term: a weighted least-squares fit var(B) = a/B + c; c is the tree term
  (the variance that does not fall with B), and the log–log slope of var against B.
- C3, variance reduction of step-level credit over GRPO: grad_rel_var(GRPO, i.i.d. G) / grad_rel_var(
  estimator, tree of the same budget) per condition (chain length, success rate, reward kind, entropy
  profile, decisive place), the scale-free noise-to-signal ratio of the policy-gradient estimate; and
  mse(dr_grpo, i.i.d.) / mse(estimator, tree) for the estimators on A*'s scale.
- C4, budget: the log–log slope of grad_rel_var against the leaf budget, per regime (−1 = 1/N).

C1 and C2 are fitted only for estimators on A*'s scale (``normalised`` false in the records): a
normalised estimator's bias and variance mix its error with a data-dependent scale (1/σ, 1/√|L|, …), so
a slope of them says nothing about the claims; those rows are listed as excluded. A metric below
``EXACT_FLOOR`` is zero up to the float32 rounding of the estimator output (VinePPO with exact values),
and a slope of rounding noise is not fitted: the verdict is "exact".

Why C1 is expected to fail on ``rms_bias`` even for an ideal tree estimator: Â is compared per token with
A*(s, a), but a two-level tree gives one advantage per *segment* (here three tokens), the one of the whole
segment V*(end) − V*(start). The tokens inside a segment then carry a bias that no branching removes
(the credit resolution of the tree); the O(1/B) part (the leave-self-in sibling mean, gain 1 − 1/B) is
what |1 − gain| isolates.

A metric's standard error is read back from its interval as (hi − lo) / (2 · t), with t the quantile the
interval was built with: t₀.₉₇₅ with K − 1 degrees of freedom for a record's K jackknife blocks (``n_blocks``;
1.96 for records written before it was stored). Log-scale errors use the delta method se/|value|. Fits are
weighted by 1/se² and their covariance is inflated by the reduced χ² when it exceeds 1 (the points scatter more
than their errors say); the error is then estimated from the n − 2 residual degrees of freedom, so the slope's
interval uses t₀.₉₇₅,ₙ₋₂ (1.96 when the quoted errors are trusted, χ²_red ≤ 1). A ratio of two metrics
uses the log-normal delta interval with t of the smaller block count (``comparisons`` > 1: Bonferroni, the
quantile of 0.05 / comparisons, for a ratio picked as the best of that many).
"""

from __future__ import annotations

import math
from statistics import NormalDist

import numpy as np

from treecredit.lab.runner import ORACLE
from treecredit.lab.token_map import MIN_DIRECTION_COS, direction_ok
from treecredit.training.compare_stats import t_quantile

Z = 1.959963984540054
EXACT_FLOOR = 1e-6  # rms_bias / sd / var below this are float32 rounding of an exact estimate
BASELINE_SCALE_FREE = "grpo"
BASELINE_RAW = "dr_grpo"


def _dof(row: dict) -> int | None:
    """The degrees of freedom of the record's jackknife intervals (K − 1 blocks), None when not stored."""
    k = row.get("n_blocks")
    return int(k) - 1 if k is not None and k >= 3 else None


def _quantile(dof: int | None, alpha: float = 0.05) -> float:
    """Two-sided ``1 − alpha`` quantile: Student's t with ``dof``, the normal one when ``dof`` is None."""
    if dof is None:
        return Z if alpha == 0.05 else NormalDist().inv_cdf(1.0 - alpha / 2)
    return t_quantile(dof, alpha)


def _se(row: dict, metric: str) -> float:
    lo, hi = row.get(metric + "_lo"), row.get(metric + "_hi")
    if lo is None or hi is None:
        return float("nan")
    return (hi - lo) / (2 * _quantile(_dof(row)))


def _fit_interval(fit: dict, coef: str) -> tuple[float, float]:
    """95 % interval of ``fit[coef]``: t with n − 2 dof when the covariance was inflated by χ²_red, else 1.96."""
    q = t_quantile(fit["n"] - 2) if fit["chi2_red"] > 1.0 else Z
    return fit[coef] - q * fit[coef + "_se"], fit[coef] + q * fit[coef + "_se"]


def wls_fit(x: np.ndarray, y: np.ndarray, se: np.ndarray) -> dict:
    """Fit y = a + b·x weighted by 1/se²; returns a, b, their standard errors and the reduced χ²."""
    x, y, se = (np.asarray(v, dtype=np.float64) for v in (x, y, se))
    ok = np.isfinite(x) & np.isfinite(y) & np.isfinite(se) & (se > 0)
    x, y, se = x[ok], y[ok], se[ok]
    if x.size < 3:
        return dict(n=int(x.size))
    X = np.stack([np.ones_like(x), x], axis=1)
    W = 1.0 / se ** 2
    cov = np.linalg.inv(X.T @ (W[:, None] * X))
    beta = cov @ X.T @ (W * y)
    chi2 = float((W * (y - X @ beta) ** 2).sum() / (x.size - 2))
    cov = cov * max(chi2, 1.0)
    return dict(n=int(x.size), a=float(beta[0]), b=float(beta[1]), a_se=float(math.sqrt(cov[0, 0])),
                b_se=float(math.sqrt(cov[1, 1])), chi2_red=chi2)


def loglog_slope(rows: list[dict], xkey: str, metric: str) -> dict:
    """Slope of log(metric) against log(x) with a 95 % interval."""
    pts = [(r[xkey], r[metric], _se(r, metric)) for r in rows if r.get(metric) is not None and r[metric] > 0]
    if len(pts) < 3:
        return dict(n=len(pts))
    x, v, se = (np.array(c, dtype=np.float64) for c in zip(*pts))
    fit = wls_fit(np.log(x), np.log(v), se / v)
    if "b" in fit:
        lo, hi = _fit_interval(fit, "b")
        fit.update(slope=fit["b"], lo=lo, hi=hi)
    return fit


def _verdict_slope(fit: dict, expected: float) -> str:
    if "slope" not in fit:
        return "too few points"
    if fit["lo"] <= expected <= fit["hi"] and fit["lo"] <= 0 <= fit["hi"]:
        return f"inconclusive (interval holds {expected:g} and 0)"
    if fit["lo"] <= expected <= fit["hi"]:
        return f"consistent with slope {expected:g}"
    if fit["lo"] <= 0 <= fit["hi"]:
        return "no significant change"
    return "falls faster" if fit["hi"] < expected else ("falls slower" if fit["slope"] < 0 else "grows")


def _by_estimator(records: list[dict], raw_scale_only: bool = False, **match) -> dict:
    out: dict = {}
    for r in records:
        if "skipped" in r or r["estimator"] == ORACLE or any(r.get(k) != v for k, v in match.items()):
            continue
        if raw_scale_only and r.get("normalised"):
            continue
        out.setdefault(r["estimator"], []).append(r)
    return out


def _is_exact(rows: list[dict], metric: str = "") -> bool:
    """Every point's rms_bias and sd lie below ``EXACT_FLOOR`` (a clipped bias of 0 alone is not exact)."""
    for m in ("rms_bias", "sd"):
        vals = [r.get(m) for r in rows if r.get(m) is not None]
        if not vals or max(abs(v) for v in vals) >= EXACT_FLOOR:
            return False
    return True


EXACT = dict(verdict="exact (zero up to float32 rounding)")


def _bias_verdict(fit: dict, rows: list[dict]) -> str:
    """Estimated bias² is clipped at 0; when most points are 0 the bias is below what the sweep resolves."""
    if "slope" not in fit and sum(1 for r in rows if r.get("rms_bias") == 0) >= len(rows) - 2:
        return "bias not resolved from 0"
    return _verdict_slope(fit, -1.0)


def excluded_normalised(records: list[dict], sweep: str = "branching") -> list[str]:
    """The estimators left out of C1/C2 because they are not on A*'s scale."""
    return sorted({r["estimator"] for r in records if r.get("sweep") == sweep and r.get("normalised")
                   and "skipped" not in r})


def bias_claim(records: list[dict], suffix: str = "") -> list[dict]:
    """C1 on the branching sweep's trees (``suffix="_root"``: on the first tree segment's tokens only)."""
    out = []
    rows_by = _by_estimator(records, raw_scale_only=True, sweep="branching", regime="tree")
    for est, rows in rows_by.items():
        rows = [_unsuffixed(r, suffix) for r in rows]
        fit = {} if _is_exact(rows, "rms_bias") else loglog_slope(rows, "branching", "rms_bias")
        atten = []
        for r in rows:
            if r.get("gain") is not None:
                a, half = abs(1 - r["gain"]), _quantile(_dof(r)) * _se(r, "gain")
                atten.append(dict(r, atten=a, atten_lo=a - half, atten_hi=a + half))
        afit = loglog_slope(atten, "branching", "atten")
        out.append(dict(claim="C1 bias ∝ 1/B", estimator=est, bias_slope=fit.get("slope"), bias_lo=fit.get("lo"),
                        bias_hi=fit.get("hi"),
                        verdict=EXACT["verdict"] if _is_exact(rows, "rms_bias") else _bias_verdict(fit, rows),
                        atten_slope=afit.get("slope"),
                        atten_lo=afit.get("lo"), atten_hi=afit.get("hi"), atten_verdict=_verdict_slope(afit, -1.0)))
    return out


def _unsuffixed(row: dict, suffix: str) -> dict:
    """The row with ``metric + suffix`` (and its interval) read as ``metric``."""
    if not suffix:
        return row
    out = dict(row)
    for m in ("rms_bias", "sd", "var", "gain"):
        for tail in ("", "_lo", "_hi"):
            out[m + tail] = row.get(m + suffix + tail)
    return out


def variance_claim(records: list[dict], suffix: str = "") -> list[dict]:
    """C2 on the branching sweep's trees: var = a/B + c and the log–log slope."""
    out = []
    for est, rows in _by_estimator(records, raw_scale_only=True, sweep="branching", regime="tree").items():
        rows = [_unsuffixed(r, suffix) for r in rows]
        if _is_exact(rows, "sd"):
            out.append(dict(claim="C2 var = a/B + c", estimator=est, **EXACT))
            continue
        pts = [(1.0 / r["branching"], r["var"], _se(r, "var")) for r in rows if r.get("var") is not None]
        fit = wls_fit(*zip(*pts)) if len(pts) >= 3 else {}
        slope = loglog_slope(rows, "branching", "var")
        row = dict(claim="C2 var = a/B + c", estimator=est, var_slope=slope.get("slope"), var_slope_lo=slope.get("lo"),
                   var_slope_hi=slope.get("hi"), verdict=_verdict_slope(slope, -1.0))
        if "b" in fit:
            (a_lo, a_hi), (tree_lo, tree_hi) = _fit_interval(fit, "b"), _fit_interval(fit, "a")
            row.update(a=fit["b"], a_lo=a_lo, a_hi=a_hi, tree_term=fit["a"], tree_lo=tree_lo, tree_hi=tree_hi,
                       chi2_red=fit["chi2_red"])
        out.append(row)
    return out


def _ratio(num: dict, den: dict, metric: str, comparisons: int = 1) -> tuple:
    """``(a/b, lo, hi)``: the ratio of ``num``'s and ``den``'s ``metric`` with its log-normal delta interval,
    95 % for one planned comparison; ``comparisons`` = m > 1 widens it to the Bonferroni level 0.05/m, for a
    ratio whose arm was picked as the best of m (so the chance that the pick's interval excludes 1 when no arm
    is better stays ≤ 5 % two-sided)."""
    a, b = num.get(metric), den.get(metric)
    if not a or not b or a <= 0 or b <= 0:
        return (None, None, None)
    se = math.sqrt((_se(num, metric) / a) ** 2 + (_se(den, metric) / b) ** 2)
    dof_num, dof_den = _dof(num), _dof(den)
    dof = None if dof_num is None or dof_den is None else min(dof_num, dof_den)
    q = _quantile(dof, 0.05 / max(int(comparisons), 1))
    r = a / b
    return (r, r * math.exp(-q * se), r * math.exp(q * se))


CONDITION_KEYS = ("depth", "success_rate", "reward", "entropy", "decisive")


def reduction_claim(records: list[dict], sweep: str = "conditions") -> list[dict]:
    """C3: per condition and estimator, the variance-reduction factors over GRPO on i.i.d. groups."""
    out = []
    envs: dict = {}
    for r in records:
        if r.get("sweep") == sweep and "skipped" not in r:
            key = tuple((k, r.get(k)) for k in CONDITION_KEYS)
            envs.setdefault(key, {}).setdefault(r["regime"], {})[r["estimator"]] = r
    for key, regimes in envs.items():
        iid, tree = regimes.get("iid", {}), regimes.get("tree", {})
        base_sf, base_raw = iid.get(BASELINE_SCALE_FREE), iid.get(BASELINE_RAW)
        for est, row in sorted(tree.items()):
            g = _ratio(base_sf, row, "grad_rel_var") if base_sf else (None,) * 3
            exact = row.get("rmse") is not None and row["rmse"] < EXACT_FLOOR
            m = _ratio(base_raw, row, "mse") if base_raw and not row.get("normalised") and not exact else (None,) * 3
            own = _ratio(iid[est], row, "grad_rel_var") if est in iid else (None,) * 3
            token_share = (row["tokens_per_group"] / base_sf["tokens_per_group"]
                           if base_sf and row.get("tokens_per_group") and base_sf.get("tokens_per_group") else None)
            out.append(dict(claim="C3 reduction over GRPO", **dict(key), success_exact=row.get("success_rate"),
                            token_share=token_share,
                            reward_var=row.get("reward_var"), estimator=est, budget=row["budget"],
                            grad_ratio=g[0], grad_lo=g[1], grad_hi=g[2], mse_ratio=m[0], mse_lo=m[1], mse_hi=m[2],
                            tree_vs_iid=own[0], tree_vs_iid_lo=own[1], tree_vs_iid_hi=own[2]))
    return out


def budget_claim(records: list[dict]) -> list[dict]:
    """C4: log–log slope of grad_rel_var (and mse) against the leaf budget, per estimator and regime."""
    out = []
    for regime in ("iid", "tree"):
        for est, rows in _by_estimator(records, sweep="budget", regime=regime).items():
            g = loglog_slope(rows, "budget", "grad_rel_var")
            m = loglog_slope(rows, "budget", "mse")
            out.append(dict(claim="C4 budget", regime=regime, estimator=est, grad_slope=g.get("slope"),
                            grad_lo=g.get("lo"), grad_hi=g.get("hi"), mse_slope=m.get("slope"), mse_lo=m.get("lo"),
                            mse_hi=m.get("hi"), verdict=_verdict_slope(g, -1.0)))
    return out


def all_claims(records: list[dict]) -> dict:
    return dict(bias=bias_claim(records), variance=variance_claim(records),
                bias_root=bias_claim(records, "_root"), variance_root=variance_claim(records, "_root"),
                reduction=reduction_claim(records),
                budget=budget_claim(records), excluded_normalised=excluded_normalised(records))


def summary_lines(records: list[dict], claims: dict) -> list[str]:
    """A few plain sentences with the numbers: what holds and what does not."""
    lines = []
    head = [r for r in records if r.get("sweep") == "headline" and r.get("env") == "token" and "skipped" not in r]
    base = next((r for r in head if r["estimator"] == BASELINE_SCALE_FREE and r["regime"] == "iid"), None)
    usable = [r for r in head if r.get("grad_rel_var") and not r["estimator"].startswith("(")
              and "mc=exact" not in r["estimator"]]
    if base and usable:
        for label, pool in (("using only the leaf budget", [r for r in usable if not r.get("extra_rollouts")]),
                            ("with extra value rollouts", [r for r in usable if r.get("extra_rollouts")])):
            if not pool:
                continue
            sound = [r for r in pool if direction_ok(r)]
            best = min(sound or pool, key=lambda r: r["grad_rel_var"])  # none sound: the least noisy, tagged so
            extra = f", {best['extra_rollouts']} extra rollouts per response" if best.get("extra_rollouts") else ""
            quieter = sorted({r["estimator"] for r in pool if not direction_ok(r)
                              and r["grad_rel_var"] < best["grad_rel_var"]})
            left_out = (f" Less noisy but left out, their mean gradient pointing away from ∇J (95 % interval of "
                        f"cos(E ĝ, ∇J) entirely below {MIN_DIRECTION_COS}): {', '.join(quieter)}." if quieter else "")
            among = (f"among arms whose cos(E ĝ, ∇J) interval reaches {MIN_DIRECTION_COS}" if sound else
                     f"every arm's cos(E ĝ, ∇J) interval below {MIN_DIRECTION_COS}, so none is recommended")
            lines.append(f"Headline token MDP, budget {base['budget']}: GRPO (i.i.d.) gradient noise-to-signal "
                         f"{base['grad_rel_var']:.3g}{_cos(base)}; lowest {label}, {among}: "
                         f"{best['estimator']} on {_where(best)} at "
                         f"{best['grad_rel_var']:.3g} (factor {base['grad_rel_var'] / best['grad_rel_var']:.2g}"
                         f"{extra}{_cos(best, ', ')}{_below_one(best, base)}).{left_out}")
    for key, name in (("bias", "C1 (bias ∝ 1/B)"), ("variance", "C2 (variance ∝ 1/B)"),
                      ("variance_root", "C2 on the first tree segment only")):
        rows = claims.get(key, [])
        if not rows:
            continue
        yes = [c["estimator"] for c in rows if c["verdict"].startswith("consistent")]
        slopes = ", ".join(f"{c['estimator']} {_fmt(c.get('bias_slope', c.get('var_slope')))}" for c in rows
                           if not c["verdict"].startswith("exact"))
        lines.append(f"{name}, estimators on A*'s scale: consistent with slope −1 for "
                     f"{', '.join(yes) or 'no estimator'}; slopes: {slopes}.")
        if key.startswith("variance"):
            falling = [f"{c['estimator']} (a {c['a']:.2g}, c {c['tree_term']:.2g})" for c in rows
                       if c.get("a_lo") is not None and c["a_lo"] > 0]
            lines.append(f"{name}: var = a/B + c with a significant a/B part for "
                         f"{', '.join(falling) or 'no estimator'}.")
        if key == "bias":
            att = [c["estimator"] for c in rows if str(c.get("atten_verdict", "")).startswith("consistent")]
            lines.append("C1, the O(1/B) part alone (|1 − gain|, the leave-self-in shrinkage): consistent with "
                         f"slope −1 for {', '.join(att) or 'no estimator'}. The per-token bias keeps a floor that "
                         "branching does not remove: one advantage per tree segment (or per response) cannot "
                         "match A* on every token inside it.")
    by_est: dict = {}
    for c in claims.get("reduction", []):
        if c.get("grad_ratio") and c["estimator"] != ORACLE:
            by_est.setdefault(c["estimator"], []).append(c)
    if by_est:
        lines.append("C3, gradient noise-to-signal of each estimator on trees (B=4, L=2) against GRPO on i.i.d. "
                     "groups of the same 16 leaves; a factor > 1 is less noise; counts are of conditions whose "
                     "95 % interval excludes 1. Same leaves, not same compute: the trees generate "
                     f"{_share_range(claims.get('reduction', []))} of the i.i.d. groups' tokens.")
    for est, rows in sorted(by_est.items()):
        lo = min(rows, key=lambda c: c["grad_ratio"])
        hi = max(rows, key=lambda c: c["grad_ratio"])
        better = sum(1 for c in rows if c.get("grad_lo") is not None and c["grad_lo"] > 1)
        worse = sum(1 for c in rows if c.get("grad_hi") is not None and c["grad_hi"] < 1)
        lines.append(f"C3 {est}: less noise in {better}/{len(rows)} conditions, more in {worse}/{len(rows)}; "
                     f"factor {lo['grad_ratio']:.2g} ({_cond(lo)}) to {hi['grad_ratio']:.2g} ({_cond(hi)}).")
    return lines


def _where(r: dict) -> str:
    return "i.i.d. G" if r["regime"] == "iid" else f"tree B={r['branching']} L={r['levels']}"


def _cos(r: dict, sep: str = " (") -> str:
    """``" (cos(E ĝ, ∇J) 0.99 [0.97, 1])"``: an arm's mean-gradient cosine beside its noise ("" when not measured);
    ``sep`` ", " writes it inside a bracket already open."""
    if r.get("grad_mean_cos_u") is None:
        return ""
    lo, hi = r.get("grad_mean_cos_u_lo"), r.get("grad_mean_cos_u_hi")
    iv = "" if lo is None or hi is None else f" [{lo:.2f}, {hi:.2f}]"
    return f"{sep}cos(E ĝ, ∇J) {r['grad_mean_cos_u']:.2f}{iv}{')' if sep == ' (' else ''}"


def _below_one(r: dict, base: dict) -> str:
    """``"; its interval excludes 1: a small bias of direction"`` when ``r``'s cos interval excludes 1, else ""."""
    hi = r.get("grad_mean_cos_u_hi")
    if hi is None or hi >= 1 or r is base:
        return ""
    return "; its interval excludes 1: a small bias of direction"


def _cond(c: dict) -> str:
    return f"D={c['depth']}, {c['reward']}, {c['entropy']}, decisive {c['decisive']}, E r={c['success_rate']:.2g}"


def _fmt(x) -> str:
    return "–" if x is None else f"{x:.2f}"


def _share_range(rows: list[dict]) -> str:
    shares = sorted({round(c["token_share"], 2) for c in rows if c.get("token_share")})
    if not shares:
        return "an unknown share"
    return f"{shares[0]:.0%}" if len(shares) == 1 else f"{shares[0]:.0%}–{shares[-1]:.0%}"
