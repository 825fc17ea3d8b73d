"""GRPO, one response and one token at a time (the benchmark's baseline for the outcome estimators)."""

from __future__ import annotations

import math

import numpy as np


def group_rows(group_ids) -> dict:
    """{group id: [row, ...]} in order of first appearance."""
    rows: dict = {}
    for i, g in enumerate(list(group_ids)):
        rows.setdefault(g, []).append(i)
    return rows


def mean_std(values: list) -> tuple[float, float]:
    """Mean and Bessel-corrected std (0 for fewer than two values)."""
    mu = sum(values) / len(values)
    if len(values) < 2:
        return mu, 0.0
    return mu, math.sqrt(sum((v - mu) ** 2 for v in values) / (len(values) - 1))


def grpo_reference(response_ids, response_mask, rewards, group_ids, *, norm_by_std=True, epsilon=1e-6):
    """A_{i,t} = (r_i − μ_g) / (σ_g + ε) on every unmasked token, by plain loops."""
    B, T = np.shape(response_ids)
    out = np.zeros((B, T), dtype=np.float32)
    for rows in group_rows(group_ids).values():
        mu, sd = mean_std([float(rewards[i]) for i in rows])
        for i in rows:
            adv = float(rewards[i]) - mu if len(rows) > 1 else 0.0
            if norm_by_std:
                adv /= sd + epsilon
            for t in range(T):
                if response_mask[i][t]:
                    out[i, t] = adv
    return out
