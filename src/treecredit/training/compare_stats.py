"""Small-sample statistics of a comparison: t-intervals over seeds and the paired t-test.

Across n seeds the 95% interval of a mean is  x̄ ± t₀.₉₇₅,ₙ₋₁ · s/√n  (s the Bessel standard deviation);
with one seed the half-width is 0 (no spread can be estimated; the report says n = 1). The quantile is the
exact one of the distribution the p-value uses (no table), so "the interval excludes 0" and "p < 0.05" agree.

The paired test (Student 1908; any statistics text) compares two arms run with the same seeds: with
dₛ = x_A(s) − x_B(s), t = d̄ / (s_d/√n) has n − 1 degrees of freedom under "no difference"; its two-sided
p-value is I_{ν/(ν+t²)}(ν/2, 1/2), the regularised incomplete beta function, evaluated here by its
continued fraction (Numerical Recipes §6.4) so that no SciPy is needed.
"""

from __future__ import annotations

import math
from functools import lru_cache
from statistics import NormalDist

import numpy as np


def t_quantile(dof: float, alpha: float = 0.05) -> float:
    """Two-sided ``1 − alpha`` Student-t quantile: the t with P(|T| ≥ t) = ``alpha`` for ``dof`` degrees of
    freedom (t₀.₉₇₅ for the default), found by inverting :func:`t_two_sided_p` (exact to ~1e-9 relative), so
    the intervals and the p-values use the same distribution. 0.0 for ``dof`` ≤ 0 (no interval), NaN for a NaN
    ``dof``, the normal quantile for an infinite one. Raises ValueError unless 0 < ``alpha`` < 1."""
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha: {alpha!r} is not in (0, 1)")
    if math.isnan(dof):
        return math.nan
    if dof <= 0:
        return 0.0
    if math.isinf(dof):  # Student's t tends to the normal
        return NormalDist().inv_cdf(1.0 - alpha / 2.0)
    return _t_quantile(float(dof), float(alpha))


@lru_cache(maxsize=512)
def _t_quantile(dof: float, alpha: float) -> float:
    lo, hi = 0.0, 2.0
    while t_two_sided_p(hi, dof) > alpha:  # P(|T| ≥ t) falls as t grows: bracket, then bisect
        lo, hi = hi, hi * 2.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if t_two_sided_p(mid, dof) > alpha:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-12 * hi:
            break
    return 0.5 * (lo + hi)


def mean_ci(values) -> tuple[float, float]:
    """``(mean, half-width of the 95% interval)`` over axis 0 of ``values`` (scalars or arrays)."""
    values = np.asarray(values, dtype=float)
    n = values.shape[0]
    mean = values.mean(0)
    if n < 2:
        return mean, np.zeros_like(mean)
    return mean, t_quantile(n - 1) * values.std(0, ddof=1) / np.sqrt(n)


def _beta_fraction(a: float, b: float, x: float) -> float:
    """The continued fraction of the incomplete beta function (modified Lentz)."""
    tiny, qab, qap, qam = 1e-300, a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 300):
        m2 = 2 * m
        for num in (m * (b - m) * x / ((qam + m2) * (a + m2)), -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))):
            d = 1.0 + num * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + num / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < 1e-14:
            break
    return h


def incomplete_beta(a: float, b: float, x: float) -> float:
    """The regularised incomplete beta function I_x(a, b) for a, b > 0 and 0 ≤ x ≤ 1."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    log_front = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    if x < (a + 1.0) / (a + b + 2.0):
        return math.exp(log_front) * _beta_fraction(a, b, x) / a
    return 1.0 - math.exp(log_front) * _beta_fraction(b, a, 1.0 - x) / b


def t_two_sided_p(t: float, dof: float) -> float:
    """P(|T| ≥ |t|) for Student's t with ``dof`` degrees of freedom."""
    if dof <= 0 or not math.isfinite(t):
        return float("nan") if dof <= 0 else 0.0
    return incomplete_beta(dof / 2.0, 0.5, dof / (dof + t * t))


def paired_t(a, b) -> dict:
    """Paired t-test of ``a − b`` (same seeds, same order): mean difference, its 95% half-width, t, p, n.

    With fewer than 2 pairs, or identical pairs (every difference 0), ``t`` and ``p`` are NaN (no test possible).
    A constant non-zero difference (no spread, every seed moved the same way) gives ``t`` = ±inf, ``p`` = 0 and a
    zero-width interval: the limit of the test as the spread goes to 0, not a small-sample claim."""
    d = np.asarray(a, dtype=float) - np.asarray(b, dtype=float)
    n = int(d.size)
    out = {"n": n, "mean_diff": float(d.mean()) if n else float("nan"), "ci95": float("nan"),
           "t": float("nan"), "p": float("nan")}
    if n < 2:
        return out
    sd = float(d.std(ddof=1))
    out["ci95"] = t_quantile(n - 1) * sd / math.sqrt(n)
    if sd > 0:
        out["t"] = float(d.mean() / (sd / math.sqrt(n)))
        out["p"] = t_two_sided_p(out["t"], n - 1)
    elif math.isfinite(out["mean_diff"]) and out["mean_diff"] != 0:  # every pair differs by the same amount
        # (a NaN score, e.g. a run with no evaluation value, leaves t and p NaN: no test possible)
        out["t"] = math.copysign(math.inf, out["mean_diff"])
        out["p"] = 0.0
    return out
