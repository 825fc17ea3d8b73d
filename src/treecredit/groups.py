"""Per-group reductions over flat arrays (segment sums, means, Bessel-corrected stds).

``group_index`` is a ``(B,)`` array of dense group numbers in ``[0, n_groups)``.
"""

from __future__ import annotations

import numpy as np


def group_sum(values: np.ndarray, group_index: np.ndarray, n_groups: int) -> np.ndarray:
    return np.bincount(group_index, weights=values, minlength=n_groups)


def group_mean(values: np.ndarray, group_index: np.ndarray, n_groups: int) -> np.ndarray:
    """μ_g per group; an empty group gets 0."""
    counts = np.bincount(group_index, minlength=n_groups)
    return group_sum(values, group_index, n_groups) / np.maximum(counts, 1)


def centered(values: np.ndarray, group_index: np.ndarray, n_groups: int) -> np.ndarray:
    """``values − μ_g``, exactly 0 in every group whose values are all equal (no rounding residue)."""
    mean = group_mean(values, group_index, n_groups)
    out = values - mean[group_index]
    lo = np.full(n_groups, np.inf)
    hi = np.full(n_groups, -np.inf)
    np.minimum.at(lo, group_index, values)
    np.maximum.at(hi, group_index, values)
    out[(hi == lo)[group_index]] = 0.0
    return out


def group_std(values: np.ndarray, group_index: np.ndarray, n_groups: int) -> np.ndarray:
    """σ_g with Bessel's correction (as ``torch.std``); a group of one gets 0."""
    counts = np.bincount(group_index, minlength=n_groups)
    dev = centered(values, group_index, n_groups)
    ss = group_sum(dev * dev, group_index, n_groups)
    return np.sqrt(ss / np.maximum(counts - 1, 1))


def broadcast_to_tokens(per_response: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """``(B,)`` values → ``(B, T)`` float32, zero where ``mask`` is False."""
    return mask * per_response.astype(np.float32)[:, None]


def divide_or_zero(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    """``numerator / denominator`` with 0 wherever the denominator is 0 (so ε = 0 never gives NaN).

    Every division in the estimators is of a centred quantity by its own spread (σ + ε and the like); a
    zero spread means a centred value of exactly 0, so 0/0 is defined as 0 (no credit), as with ε > 0.
    """
    num = np.asarray(numerator, dtype=np.float64)
    den = np.broadcast_to(np.asarray(denominator, dtype=np.float64), num.shape)
    out = np.zeros(num.shape)
    np.divide(num, den, out=out, where=den != 0)
    return out
