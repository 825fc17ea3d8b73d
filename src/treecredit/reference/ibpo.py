"""Reference ``ibpo``: per-pair Python LCS tables and per-token loops (slow and obvious; a test oracle)."""

from __future__ import annotations

import numpy as np


def _lcs_matched(a: list, b: list) -> tuple[list[bool], list[bool]]:
    n, m = len(a), len(b)
    dp = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            if a[i - 1] == b[j - 1]:
                dp[i][j] = dp[i - 1][j - 1] + 1
            else:
                dp[i][j] = max(dp[i - 1][j], dp[i][j - 1])
    ma, mb = [False] * n, [False] * m
    i, j = n, m
    while i > 0 and j > 0:
        if a[i - 1] == b[j - 1]:
            ma[i - 1] = mb[j - 1] = True
            i, j = i - 1, j - 1
        elif dp[i - 1][j] >= dp[i][j - 1]:
            i -= 1
        else:
            j -= 1
    return ma, mb


def _steps(ids: list, ends: list | None) -> tuple[list, list]:
    """(units, unit of each token): tokens themselves, or tuples of step contents."""
    if ends is None:
        return list(ids), list(range(len(ids)))
    units: list = []
    unit_of: list = []
    current: list = []
    for t, tok in enumerate(ids):
        current.append(tok)
        unit_of.append(len(units))
        if ends[t] or t == len(ids) - 1:
            units.append(tuple(current))
            current = []
    return units, unit_of


def ibpo_reference(ids, mask, rewards, groups, *, norm_by_std=True, epsilon=1e-6, step_ends=None) -> np.ndarray:
    """Same formula as :func:`treecredit.methods.ibpo.ibpo`; ``step_ends`` is an already resolved (B, T) mask."""
    ids, mask = np.asarray(ids), np.asarray(mask).astype(bool)
    B, T = ids.shape
    out = np.zeros((B, T), dtype=np.float64)
    members: dict = {}
    for row, g in enumerate(groups):
        members.setdefault(g, []).append(row)
    for rows in members.values():
        r = [float(rewards[i]) for i in rows]
        mu = sum(r) / len(r)
        sd = (sum((x - mu) ** 2 for x in r) / (len(r) - 1)) ** 0.5 if len(r) > 1 else 0.0
        seqs = {}
        for i in rows:
            length = max([t + 1 for t in range(T) if mask[i, t]], default=0)
            ends = None if step_ends is None else [bool(e) for e in step_ends[i, :length]]
            seqs[i] = _steps(ids[i, :length].tolist(), ends)
        for i, ri in zip(rows, r):
            adv = ri - mu if len(set(r)) > 1 else 0.0
            if norm_by_std:
                adv = adv / (sd + epsilon)
            units, unit_of = seqs[i]
            partners = [j for j, rj in zip(rows, r) if (rj - mu) * (ri - mu) < 0 and len(set(r)) > 1]
            unmatched = [0] * len(units)
            for j in partners:
                above = ri > float(rewards[j])
                a, b = (units, seqs[j][0]) if above else (seqs[j][0], units)
                ma, mb = _lcs_matched(a, b)
                mine = ma if above else mb
                for u in range(len(units)):
                    unmatched[u] += not mine[u]
            w = [1.0] * len(unit_of)
            if partners:
                w = [unmatched[unit_of[t]] / len(partners) for t in range(len(unit_of))]
                trained = [w[t] for t in range(len(unit_of)) if mask[i, t]]
                mean_w = sum(trained) / max(len(trained), 1)
                w = [x / mean_w for x in w] if mean_w > 0 else [1.0] * len(unit_of)
            for t in range(len(unit_of)):
                if mask[i, t]:
                    out[i, t] = adv * w[t]
    return out.astype(np.float32)
