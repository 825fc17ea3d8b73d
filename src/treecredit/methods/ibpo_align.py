"""Alignment machinery of ``ibpo``: exact step identities, opposite-outcome pairs, vectorised LCS.

Index convention: ``_resp`` rows, ``_unit`` alignment units (tokens or steps), ``_pair`` pairs of rows.
Large batches are processed in chunks of rows so that temporaries stay a fraction of ``response_ids``.
"""

from __future__ import annotations

import numpy as np

_DP_BUDGET_BYTES = 32 * 2**20  # DP tables of one chunk of pairs stay under this
CHUNK_TOKENS = 2**19  # tokens per chunk of rows in the per-token passes


def row_chunks(n_rows: int, n_cols: int):
    """``(start, stop)`` row ranges of about ``CHUNK_TOKENS`` tokens each."""
    step = max(1, CHUNK_TOKENS // max(n_cols, 1))
    for start in range(0, n_rows, step):
        yield start, min(n_rows, start + step)


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


def step_content_ids(response_ids: np.ndarray, ends: np.ndarray, lengths: np.ndarray,
                     hash_fn=_polynomial_hash) -> tuple[np.ndarray, np.ndarray]:
    """Exact ids of every step of every row: equal ids iff identical token content.

    ``ends`` ``(B, T)`` bool closes each step (nothing at or beyond a row's length; its last token is an
    end). Returns ``(ids, n_steps)``: ids of all steps, row after row, and ``(B,)`` steps per row.
    Steps are hashed, then every step is compared token by token with the first step of its hash class;
    the steps of a class that fails (a hash collision) are re-identified from their exact content.
    """
    B, T = response_ids.shape
    n_steps = ends.sum(1).astype(np.int64)
    end_row, end_col = np.nonzero(ends)  # row-major: steps row after row
    first_of_row = np.ones(end_row.size, dtype=bool)
    first_of_row[1:] = end_row[1:] != end_row[:-1]
    start_col = np.where(first_of_row, 0, np.concatenate(([0], end_col[:-1] + 1)))
    step_len = end_col - start_col + 1
    if end_row.size == 0:
        return np.zeros(0, dtype=np.int64), n_steps
    row_first_step = np.cumsum(n_steps) - n_steps
    keys = np.empty(end_row.size, dtype=np.uint64)
    for r0, r1 in row_chunks(B, T):
        s0, s1 = row_first_step[r0], row_first_step[r1 - 1] + n_steps[r1 - 1]
        if s1 == s0:
            continue
        tokens, step_of_tok, offsets = _chunk_tokens(response_ids, ends, lengths, r0, r1, s0, start_col)
        flat_starts = np.cumsum(step_len[s0:s1]) - step_len[s0:s1]
        keys[s0:s1] = hash_fn(tokens, flat_starts, offsets)
    keys ^= _mix64(step_len.astype(np.uint64)) >> np.uint64(1)
    _, first, ids = np.unique(keys, return_index=True, return_inverse=True)
    ids = ids.reshape(-1).astype(np.int64)
    rep = first[ids]
    ok = step_len == step_len[rep]
    for r0, r1 in row_chunks(B, T):
        s0, s1 = row_first_step[r0], row_first_step[r1 - 1] + n_steps[r1 - 1]
        if s1 == s0:
            continue
        tokens, step_of_tok, offsets = _chunk_tokens(response_ids, ends, lengths, r0, r1, s0, start_col)
        check = ok[step_of_tok]
        rep_tok = rep[step_of_tok[check]]
        same = np.ones(tokens.size, dtype=bool)
        same[check] = response_ids[end_row[rep_tok], start_col[rep_tok] + offsets[check]] == tokens[check]
        flat_starts = np.cumsum(step_len[s0:s1]) - step_len[s0:s1]
        ok[s0:s1] &= np.logical_and.reduceat(same, flat_starts)
    if ok.all():
        return ids, n_steps
    bad_class = np.unique(ids[~ok])
    fresh: dict[bytes, int] = {}
    next_id = int(ids.max()) + 1
    for s in np.flatnonzero(np.isin(ids, bad_class)):
        content = response_ids[end_row[s], start_col[s]: end_col[s] + 1].astype(np.int64).tobytes()
        if content not in fresh:
            fresh[content] = next_id
            next_id += 1
        ids[s] = fresh[content]
    return ids, n_steps


def _chunk_tokens(response_ids, ends, lengths, r0, r1, first_step, start_col):
    """Valid tokens of rows r0..r1 (row-major), the global step of each, and its offset in that step."""
    T = response_ids.shape[1]
    valid = np.arange(T)[None, :] < lengths[r0:r1, None]
    tokens = response_ids[r0:r1][valid]
    e = ends[r0:r1][valid]
    step_of_tok = np.cumsum(e) - e + first_step
    offsets = np.broadcast_to(np.arange(T), (r1 - r0, T))[valid] - start_col[step_of_tok]
    return tokens, step_of_tok, offsets


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
