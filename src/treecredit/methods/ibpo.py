"""IBPO-style counterfactual credit: token credit goes where a response differs from its opposites.

Index convention: ``_resp`` rows, ``_tok`` token positions, ``_unit`` alignment units (tokens, or steps
when a step option is given), ``_pair`` (higher-reward, lower-reward) response pairs of one group.
"""

from __future__ import annotations

import numpy as np

from treecredit._validation import check_positive
from treecredit.batch import TokenBatch
from treecredit.groups import centered
from treecredit.methods.outcome import grpo_response_advantages
from treecredit.registry import register_estimator
from treecredit.steps import resolve_step_ends, step_index

_DP_BUDGET_BYTES = 32 * 2**20  # DP tables of one chunk of pairs stay under this


@register_estimator("ibpo")
def ibpo(batch: TokenBatch, *, norm_by_std: bool = True, epsilon: float = 1e-6, step_ends=None,
         delimiter=None, step_tokens=None) -> np.ndarray:
    """IBPO (counterfactual comparison): GRPO credit, concentrated on what differs from opposite outcomes.

    O(i) = responses of i's group on the other side of the group mean (r_j > μ_g if r_i < μ_g, and
    vice versa); each pair (i, j) is aligned by a longest common subsequence (LCS) over units
    (tokens, or steps when ``step_ends``/``delimiter``/``step_tokens`` is given; steps match when their
    token content is identical).
        u_{i,t} = |{j ∈ O(i) : the unit of token t is unmatched in the LCS of (i, j)}| / |O(i)|
        w_{i,t} = u_{i,t} / mean of u_{i,·} over i's unmasked tokens
        A_{i,t} = A^grpo_i · w_{i,t}     (A^grpo_i = (r_i − μ_g)/(σ_g + ε), or r_i − μ_g)
    so w averages 1 over each response and Σ_t A_{i,t} equals GRPO's.

    Special cases: no opposite partner (a group of one, all rewards equal, r_i = μ_g) → w = 1; a
    response matched everywhere by all its partners (u ≡ 0) → w = 1; all rewards equal → exactly 0.
    Binary rewards make O(i) the responses of the other correctness. A fully masked row gets 0.
    Paper: IBPO, arXiv 2605.16302 (its operator is not public). Ours: the whole operator above —
    the mean split of "opposite", LCS alignment, the unmatched share and its rescaling. The alignment
    is the one found by backtracking from the end (match on equal units, else drop a unit of the
    higher-reward response when that keeps the LCS length, else of the lower-reward one). Masked
    tool/observation tokens inside a response take part in the alignment but get advantage 0.

    Cost: O(P · U²) for P opposite pairs of U units. At token level U = T, so for responses longer than
    a few hundred tokens give steps (``step_tokens=64`` or a delimiter): U = T/64 is thousands of times
    cheaper, and step-level credit is usually what is wanted.

    Args:
        batch: responses ``(B, T)``, rewards ``(B,)``, groups ``(B,)``.
        norm_by_std: GRPO's division by σ_g + ε.
        epsilon: ε.
        step_ends, delimiter, step_tokens: at most one; align over steps instead of tokens
            (see :mod:`treecredit.steps`).
    Returns:
        ``(B, T)`` float32, zero on masked tokens.
    """
    check_positive(epsilon, "epsilon", allow_zero=True)
    base = grpo_response_advantages(batch.rewards, batch.group_index, batch.n_groups,
                                    norm_by_std=norm_by_std, epsilon=epsilon)
    ends = resolve_step_ends(batch, step_ends=step_ends, delimiter=delimiter, step_tokens=step_tokens,
                             required=False)
    units, n_units, unit_of_tok = _units(batch, ends)
    side = centered(batch.rewards, batch.group_index, batch.n_groups)
    hi, lo = opposite_pairs(side, batch.group_index, batch.n_groups)
    share = unmatched_share(units, n_units, hi, lo)
    in_response = np.arange(batch.shape[1])[None, :] < batch.lengths[:, None]
    w_tok = np.where(in_response, np.take_along_axis(share, np.minimum(unit_of_tok, share.shape[1] - 1), 1)
                     if share.shape[1] else 0.0, 0.0)
    mask = batch.response_mask
    mean_w = (w_tok * mask).sum(1) / np.maximum(mask.sum(1), 1)
    w_tok = np.where(mean_w[:, None] > 0, w_tok / np.where(mean_w > 0, mean_w, 1.0)[:, None], 1.0)
    return (mask * (base[:, None] * w_tok)).astype(np.float32)


def _units(batch: TokenBatch, ends: np.ndarray | None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(units (B, U) int64 padded with −1, n_units (B,), unit_of_tok (B, T))``."""
    B, T = batch.shape
    positions = np.broadcast_to(np.arange(T), (B, T))
    if ends is None:
        units = np.where(positions < batch.lengths[:, None], batch.response_ids, -1)
        return units, batch.lengths.copy(), positions
    unit_of_tok = step_index(ends)
    n_units = ends.sum(1).astype(np.int64)
    valid = positions < batch.lengths[:, None]
    content = step_content_ids(batch.response_ids[valid], ends[valid])
    units = np.full((B, int(n_units.max(initial=0))), -1, dtype=np.int64)
    rows = np.repeat(np.arange(B), n_units)
    cols = np.arange(rows.size) - np.repeat(np.cumsum(n_units) - n_units, n_units)
    units[rows, cols] = content
    return units, n_units, unit_of_tok


def _mix64(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: a cheap bijective scramble of uint64 values."""
    z = x + np.uint64(0x9E3779B97F4A7C15)
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def _polynomial_hash(tokens: np.ndarray, starts: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    powers = np.cumprod(np.full(max(int(offsets.max(initial=0)) + 1, 1), 0x100000001B3, dtype=np.uint64))
    terms = _mix64(tokens.astype(np.uint64)) * powers[offsets]
    return np.add.reduceat(terms, starts)


def step_content_ids(tokens: np.ndarray, ends: np.ndarray, hash_fn=_polynomial_hash) -> np.ndarray:
    """Exact ids of the steps in a flat token stream: equal ids iff identical token content.

    ``tokens`` and ``ends`` are 1-D (the valid tokens of all rows, row after row; each row's last token
    is an end). Steps are hashed, then every step is compared token by token with the first step of
    its hash class; steps of a class that fails the check (a hash collision) are re-identified exactly.
    """
    if tokens.size == 0:
        return np.zeros(0, dtype=np.int64)
    stop = np.flatnonzero(ends) + 1
    starts = np.concatenate(([0], stop[:-1]))
    lengths = stop - starts
    step_of_tok = np.repeat(np.arange(starts.size), lengths)
    offsets = np.arange(tokens.size) - starts[step_of_tok]
    key = hash_fn(tokens, starts, offsets) ^ (_mix64(lengths.astype(np.uint64)) >> np.uint64(1))
    _, first, ids = np.unique(key, return_index=True, return_inverse=True)
    ids = ids.reshape(-1)
    rep = first[ids]
    same_len = lengths == lengths[rep]
    ok_tok = same_len[step_of_tok]
    ok_tok[ok_tok] = tokens[ok_tok] == tokens[starts[rep][step_of_tok][ok_tok] + offsets[ok_tok]]
    bad_steps = ~np.logical_and.reduceat(ok_tok, starts) | ~same_len
    if not bad_steps.any():
        return ids.astype(np.int64)
    # Collisions: give the steps of every class that failed fresh ids from their exact content.
    bad_class = np.unique(ids[bad_steps])
    redo = np.flatnonzero(np.isin(ids, bad_class))
    fresh: dict[bytes, int] = {}
    next_id = int(ids.max()) + 1
    for s in redo:
        content = tokens[starts[s]: starts[s] + lengths[s]].astype(np.int64).tobytes()
        if content not in fresh:
            fresh[content] = next_id
            next_id += 1
        ids[s] = fresh[content]
    return ids.astype(np.int64)


def opposite_pairs(side: np.ndarray, group_index: np.ndarray, n_groups: int) -> tuple[np.ndarray, np.ndarray]:
    """All (above-mean row, below-mean row) pairs within each group, from centred rewards ``side``."""
    hi_rows = np.flatnonzero(side > 0)
    lo_rows = np.flatnonzero(side < 0)
    hi_rows = hi_rows[np.argsort(group_index[hi_rows], kind="stable")]
    lo_rows = lo_rows[np.argsort(group_index[lo_rows], kind="stable")]
    n_lo = np.bincount(group_index[lo_rows], minlength=n_groups)
    lo_start = np.cumsum(n_lo) - n_lo
    reps = n_lo[group_index[hi_rows]]
    pair_hi = np.repeat(hi_rows, reps)
    offsets = np.arange(pair_hi.size) - np.repeat(np.cumsum(reps) - reps, reps)
    pair_lo = lo_rows[lo_start[group_index[pair_hi]] + offsets]
    return pair_hi, pair_lo


def unmatched_share(units: np.ndarray, n_units: np.ndarray, hi: np.ndarray, lo: np.ndarray) -> np.ndarray:
    """``(B, U)``: per unit, the share of the row's opposite partners whose LCS leaves it unmatched.

    Rows without a partner get 1 everywhere.
    """
    B, U = units.shape
    counts = np.zeros(B * U, dtype=np.float64)
    partners = np.bincount(np.concatenate([hi, lo]), minlength=B)
    order = np.argsort(np.maximum(n_units[hi], n_units[lo]), kind="stable")  # similar lengths per chunk
    start = 0
    while start < order.size:
        longest = int(max(n_units[hi[order[start]]], n_units[lo[order[start]]]))
        stop = order.size
        if longest:
            per_pair = (int(n_units[hi[order[start:]]].max()) + 1) * (int(n_units[lo[order[start:]]].max()) + 1)
            stop = min(order.size, start + max(1, _DP_BUDGET_BYTES // (4 * per_pair)))
        chunk = order[start:stop]
        a, b = hi[chunk], lo[chunk]
        matched_a, matched_b = lcs_matches(units[a], n_units[a], units[b], n_units[b])
        _add_unmatched(counts, a, matched_a, n_units, U)
        _add_unmatched(counts, b, matched_b, n_units, U)
        start = stop
    share = counts.reshape(B, U) / np.maximum(partners, 1)[:, None]
    share[partners == 0] = 1.0
    return share


def _add_unmatched(counts: np.ndarray, rows: np.ndarray, matched: np.ndarray, n_units: np.ndarray, U: int) -> None:
    cols = np.arange(matched.shape[1])
    unmatched = ~matched & (cols[None, :] < n_units[rows][:, None])
    r, c = np.nonzero(unmatched)
    counts += np.bincount(rows[r] * U + c, minlength=counts.size)


def lcs_matches(a: np.ndarray, len_a: np.ndarray, b: np.ndarray, len_b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vectorised LCS alignment of P sequence pairs; returns matched flags ``(P, La)``, ``(P, Lb)``.

    dp[p, i, j] = LCS length of a[p, :i] and b[p, :j], one row i at a time for all pairs:
    dp[i, j] = max_{j' ≤ j} max(dp[i−1, j'−1] + [a_i = b_j'], dp[i−1, j'])   (exact, a running maximum).
    The backtrack from (len_a, len_b) walks all pairs at once: a diagonal on equal units, else up when
    dp[i−1, j] ≥ dp[i, j−1], else left.
    """
    P = a.shape[0]
    La, Lb = int(len_a.max(initial=0)), int(len_b.max(initial=0))
    A = np.where(np.arange(La)[None, :] < len_a[:, None], a[:, :La], -1)
    Bq = np.where(np.arange(Lb)[None, :] < len_b[:, None], b[:, :Lb], -2)  # padding never matches
    dtype = np.int16 if max(La, Lb) < 2**15 - 1 else np.int32
    dp = np.zeros((P, La + 1, Lb + 1), dtype=dtype)
    for i in range(1, La + 1):
        cand = np.maximum(dp[:, i - 1, :-1] + (A[:, i - 1, None] == Bq), dp[:, i - 1, 1:])
        np.maximum.accumulate(cand, axis=1, out=dp[:, i, 1:])
    matched_a = np.zeros((P, La), dtype=bool)
    matched_b = np.zeros((P, Lb), dtype=bool)
    i, j = len_a.astype(np.int64).copy(), len_b.astype(np.int64).copy()
    live = np.flatnonzero((i > 0) & (j > 0))
    while live.size:
        ii, jj = i[live], j[live]
        equal = A[live, ii - 1] == Bq[live, jj - 1]
        diag = live[equal]
        matched_a[diag, ii[equal] - 1] = True
        matched_b[diag, jj[equal] - 1] = True
        up = ~equal & (dp[live, ii - 1, jj] >= dp[live, ii, jj - 1])
        i[live] -= equal | up
        j[live] -= equal | ~up
        live = live[(i[live] > 0) & (j[live] > 0)]
    return matched_a, matched_b
