"""Compressed prefix tries of each group's responses (token trie and step trie), built without a
Python loop per token or per node.

Method (the LCP-interval view of a trie):

1. Each response becomes one opaque row ``[group, token_0, …, token_{len−1}, −1, …]`` (for the step
   trie each token also carries its step-end bit) and the rows are argsorted as ``np.void`` items.
   Equal byte prefixes sort together, so the responses of one group that share a prefix are contiguous.
2. Adjacent LCPs: one vectorised compare per pair, argmax of the first mismatch, clipped to both
   lengths (step trie: snapped down to the last shared step end; −1 across groups).
3. The LCP of sorted positions a < b is the minimum of the adjacent LCPs between them; with G responses
   per group at most, a ``(B, G−1)`` cumulative minimum gives every pair.
4. A response's compressed nodes end at the distinct positive values of its pairwise LCPs and its length.
   The node ending at cut c holds the responses whose LCP with it is ≥ c, an interval ``[lo, hi]`` of
   sorted positions; equal intervals are the same node.

Memory: one ``(B, T+1)`` int32 copy of the ids (int64 when ids need it) plus small per-pair arrays.
"""

from __future__ import annotations

import numpy as np

from treecredit.batch import TokenBatch
from treecredit.trees.forest import Forest, assemble_forest

_CHUNK_ELEMENTS = 1 << 20


def build_trie(batch: TokenBatch, step_ends: np.ndarray | None = None) -> Forest:
    """The compressed token trie (``step_ends`` None) or step trie of every group, as one forest.

    A node is a maximal token span shared by the same set of responses; in the step trie branching
    happens only at step ends (two responses share a step when its tokens and its boundaries agree).
    """
    B, T = batch.shape
    lengths = batch.lengths
    rows = _encode(batch, step_ends)
    order = np.argsort(rows.view(np.dtype((np.void, rows.itemsize * (T + 1)))).ravel(), kind="stable")
    adjacent = _adjacent_lcp(rows, order, lengths)
    del rows
    if step_ends is not None:
        adjacent = _snap_to_step_ends(adjacent, order, step_ends)
    entry_row, entry_key, entry_start, entry_end = _path_entries(adjacent, order, lengths,
                                                                  int(batch.group_sizes.max(initial=1)))
    keys, entry_node = np.unique(entry_key, return_inverse=True)
    return assemble_forest("token" if step_ends is None else "step", batch, entry_row,
                           entry_node.reshape(-1).astype(np.int64), entry_start, entry_end, keys.size)


def _encode(batch: TokenBatch, step_ends: np.ndarray | None) -> np.ndarray:
    ids = batch.response_ids
    B, T = ids.shape
    top = int(ids.max(initial=0))
    bits = 1 if step_ends is not None else 0
    dtype = np.int32 if (top << bits) < 2**31 - 1 and batch.n_groups < 2**31 - 1 else np.int64
    rows = np.empty((B, T + 1), dtype=dtype)
    rows[:, 0] = batch.group_index
    body = rows[:, 1:]
    if step_ends is None:
        body[...] = ids
    else:
        np.left_shift(ids, 1, out=body, casting="unsafe")
        body |= step_ends
    body[np.arange(T)[None, :] >= batch.lengths[:, None]] = -1
    return rows


def _adjacent_lcp(rows: np.ndarray, order: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """``(B−1,)`` LCP (in tokens) of sorted neighbours k, k+1; −1 when they are in different groups."""
    n_pairs = order.size - 1
    width = rows.shape[1]
    out = np.empty(max(n_pairs, 0), dtype=np.int64)
    step = max(1, min(_CHUNK_ELEMENTS // max(width, 1), order.size // 8))  # at most 1/8 of the batch
    for k0 in range(0, n_pairs, step):
        k1 = min(k0 + step, n_pairs)
        a, b = order[k0:k1], order[k0 + 1:k1 + 1]
        differs = rows[a] != rows[b]
        first = np.where(differs.any(axis=1), differs.argmax(axis=1), width) - 1
        lcp = np.minimum(first, np.minimum(lengths[a], lengths[b]))
        out[k0:k1] = np.where(differs[:, 0], -1, lcp)
    return out


def _snap_to_step_ends(adjacent: np.ndarray, order: np.ndarray, step_ends: np.ndarray) -> np.ndarray:
    """Move each LCP l down to one past the last step end before l (0 when no step is shared)."""
    T = step_ends.shape[1]
    flat_ends = np.flatnonzero(step_ends)
    if flat_ends.size == 0:  # every response is empty
        return np.where(adjacent < 0, -1, 0)
    row = order[:-1].astype(np.int64)
    query = row * T + np.maximum(adjacent, 0)
    last = np.searchsorted(flat_ends, query, side="left") - 1
    last_pos = np.where(last >= 0, flat_ends[np.maximum(last, 0)], -1) - row * T
    snapped = np.where(last_pos >= 0, last_pos + 1, 0)
    return np.where(adjacent < 0, -1, snapped)


def _path_entries(adjacent, order, lengths, max_group: int):
    """Each response's compressed path: (row, node key, start, end) sorted by (row, start)."""
    B = order.size
    W = max_group - 1
    pair = np.arange(B)[:, None] + np.arange(W)[None, :]  # adjacent index between k+j and k+j+1
    padded = np.append(adjacent, -1)
    forward = np.minimum.accumulate(padded[np.minimum(pair, B - 1)], axis=1)
    forward[pair >= B - 1] = -1  # forward[k, j] = LCP(sorted k, sorted k+j+1)
    src = np.arange(B)[:, None] - np.arange(W)[None, :] - 1
    backward = np.where(src >= 0, forward[np.maximum(src, 0), np.arange(W)[None, :]], -1)
    length_sorted = lengths[order]

    cuts = np.concatenate([forward, backward, length_sorted[:, None]], axis=1)
    cuts.sort(axis=1)
    distinct = cuts > 0
    distinct[:, 1:] &= cuts[:, 1:] != cuts[:, :-1]
    k, col = np.nonzero(distinct)
    end = cuts[k, col]
    start = np.zeros_like(end)
    same_row = k[1:] == k[:-1]
    start[1:][same_row] = end[:-1][same_row]
    lo = k - _count_at_least(backward, k, end)
    hi = k + _count_at_least(forward, k, end)
    key = lo * B + hi

    row = order[k]
    by_row = np.argsort(row, kind="stable")  # within a row, entries stay in increasing cut order
    return row[by_row].astype(np.int64), key[by_row], start[by_row], end[by_row]


def _count_at_least(matrix: np.ndarray, row: np.ndarray, value: np.ndarray) -> np.ndarray:
    """For each query j: how many entries of ``matrix[row[j]]`` are ≥ ``value[j]``.

    Rows of ``matrix`` are non-increasing (cumulative minima), so one binary search over the flattened
    rows answers every query in O(log) instead of comparing whole rows.
    """
    n_rows, width = matrix.shape
    if width == 0 or row.size == 0:
        return np.zeros(row.size, dtype=np.int64)
    span = int(max(matrix.max(), value.max())) + 3  # entries lie in [-1, span - 2]
    flat = (np.arange(n_rows, dtype=np.int64)[:, None] * span + (span - 2 - matrix)).ravel()
    query = row.astype(np.int64) * span + (span - 2 - value)
    return np.searchsorted(flat, query, side="right") - row.astype(np.int64) * width
