"""Compressed prefix tries of each group's responses (token trie and step trie), built without a
Python loop per token or per node.

Method (the LCP-interval view of a trie):

1. Each response row is argsorted as one opaque ``np.void`` item, then stably by group. Equal byte
   prefixes sort together, so the responses of one group that share a prefix are contiguous.
   First the ids are sorted as they are, without a copy. Two things can make that order wrong, and
   both are checked on neighbour pairs: padding that poses as tokens (a row shorter than the prefix it
   seems to share) and, in the step trie, step boundaries that differ inside a shared token prefix
   (an explicit ``step_ends`` mask, or a response ending where another goes on). Only then the rows are
   copied as ``[token_0, …, token_{len−1}, −1, …]`` (int32 where ids fit), each token carrying its
   step-end bit in the step trie, so padding and boundaries take part in the order.
2. Adjacent LCPs: a vectorised compare of neighbour pairs in growing column blocks (a pair stops at its
   first mismatch or at the shorter length), clipped to both lengths (step trie: snapped down to the
   last shared step end; −1 across groups).
3. The LCP of sorted positions a < b is the minimum of the adjacent LCPs between them; with G responses
   per group at most, a ``(B, G−1)`` cumulative minimum gives every pair.
4. A response's compressed nodes end at the distinct positive values of its pairwise LCPs and its length.
   The node ending at cut c holds the responses whose LCP with it is ≥ c, an interval ``[lo, hi]`` of
   sorted positions; equal intervals are the same node.

Memory: ``(B, G)`` per-pair arrays and column blocks of the pending pairs; in the fallback one
``(B, T)`` int32 copy of the ids (int64 when ids need it).
"""

from __future__ import annotations

import numpy as np

from treecredit.batch import TokenBatch
from treecredit.trees.forest import Forest, assemble_forest

_FIRST_BLOCK = 16  # columns compared in the first round; the block doubles each round
_MAX_BLOCK = 512


def build_trie(batch: TokenBatch, step_ends: np.ndarray | None = None) -> Forest:
    """The compressed token trie (``step_ends`` None) or step trie of every group, as one forest.

    A node is a maximal token span shared by the same set of responses; in the step trie branching
    happens only at step ends (two responses share a step when its tokens and its boundaries agree).
    """
    lengths = batch.lengths
    order, adjacent = _sorted_neighbours(np.ascontiguousarray(batch.response_ids), batch, step_ends)
    if order is None:
        rows = _encode(batch, step_ends)
        order, adjacent = _sorted_neighbours(rows, batch, raw=False)  # boundaries are inside rows
        del rows
    if step_ends is not None:
        adjacent = _snap_to_step_ends(adjacent, order, step_ends)
    entry_row, entry_key, entry_start, entry_end = _path_entries(adjacent, order, lengths,
                                                                  int(batch.group_sizes.max(initial=1)))
    keys, entry_node = np.unique(entry_key, return_inverse=True)
    return assemble_forest("token" if step_ends is None else "step", batch, entry_row,
                           entry_node.reshape(-1).astype(np.int64), entry_start, entry_end, keys.size)


def _sorted_neighbours(rows: np.ndarray, batch: TokenBatch, step_ends: np.ndarray | None = None, *,
                       raw: bool = True):
    """(order, adjacent LCPs) of the rows sorted within groups.

    With ``raw`` (rows = the ids themselves) returns (None, None) when the byte order may be wrong:
    padding that poses as tokens, or ``step_ends`` that differ inside a shared token prefix.
    """
    B, T = rows.shape
    if B == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    by_bytes = np.argsort(rows.view(np.dtype((np.void, rows.itemsize * T))).ravel(), kind="stable")
    order = by_bytes[np.argsort(batch.group_index[by_bytes], kind="stable")]
    a, b = order[:-1], order[1:]
    lengths = batch.lengths
    same_group = batch.group_index[a] == batch.group_index[b]
    shorter = np.where(same_group, np.minimum(lengths[a], lengths[b]), 0)
    lcp, ends_differ = _adjacent_lcp(rows, a, b, shorter, step_ends if raw else None)
    if raw:
        # a pair that agrees up to the shorter length and also just past it: the shorter row's padding
        # equals the longer row's tokens, so the byte order may not be the order of the true responses
        probe = np.flatnonzero((lcp == shorter) & (shorter < T) & (lengths[a] != lengths[b]) & same_group)
        probe_at = shorter[probe]
        if ends_differ or (probe.size and (rows[a[probe], probe_at] == rows[b[probe], probe_at]).any()):
            return None, None
    return order, np.where(same_group, lcp, -1)


def _encode(batch: TokenBatch, step_ends: np.ndarray | None) -> np.ndarray:
    """``(B, T)`` rows with −1 past each length; in the step trie each token is ``2·id + step-end bit``."""
    ids = batch.response_ids
    top = int(ids.max(initial=0))
    bits = 1 if step_ends is not None else 0
    if (top << bits) >= np.iinfo(np.int64).max:  # 2·id + bit would overflow: equal ids stay equal as ranks
        ranks = np.unique(ids, return_inverse=True)[1]
        ids = ranks.reshape(ids.shape).astype(np.int64)
        top = int(ids.max(initial=0))
    body = np.empty(ids.shape, dtype=np.int32 if (top << bits) < 2**31 - 1 else np.int64)
    if step_ends is None:
        body[...] = ids
    else:
        np.left_shift(ids, 1, out=body, casting="unsafe")
        body |= step_ends
    _write_sentinels(body, batch.lengths)
    return body


def _write_sentinels(body: np.ndarray, lengths: np.ndarray) -> None:
    """Set ``body[i, lengths[i]:] = −1``: one slice per row when rows are long (cheaper than a (B, T) mask)."""
    B, T = body.shape
    if T < 64:
        body[np.arange(T)[None, :] >= lengths[:, None]] = -1
        return
    for row in np.flatnonzero(lengths < T).tolist():
        body[row, lengths[row]:] = -1


def _adjacent_lcp(rows: np.ndarray, a: np.ndarray, b: np.ndarray, shorter: np.ndarray,
                  ends: np.ndarray | None = None) -> tuple[np.ndarray, bool]:
    """LCP (in tokens) of each pair of rows ``a[k], b[k]``, at most ``shorter[k]``; and whether ``ends``
    (a (B, T) mask compared alongside) first differs where the tokens still agree, for some pair.

    Columns are compared in growing blocks, and a pair leaves as soon as it has a mismatch or reaches
    ``shorter``, so the work is proportional to the shared prefixes, not to B × T.
    """
    width = rows.shape[1]
    lcp = shorter.astype(np.int64, copy=True)
    pending = np.flatnonzero(shorter > 0)
    col, block = 0, _FIRST_BLOCK
    while pending.size and col < width:
        stop = min(width, col + block)
        columns = rows[:, col:stop]
        pa, pb = a[pending], b[pending]
        differs = columns[pa] != columns[pb]
        hit = differs.any(axis=1)
        token_at = np.where(hit, col + differs.argmax(axis=1), width)
        if ends is not None:
            end_columns = ends[:, col:stop]
            end_differs = end_columns[pa] != end_columns[pb]
            end_at = np.where(end_differs.any(axis=1), col + end_differs.argmax(axis=1), width)
            # boundaries must not part before the tokens do, within the shared length
            if (end_at < np.minimum(token_at, shorter[pending])).any():
                return lcp, True  # the caller re-sorts with boundaries inside the rows
        found = pending[hit]
        lcp[found] = np.minimum(token_at[hit], shorter[found])
        pending = pending[~hit]
        pending = pending[shorter[pending] > stop]
        col, block = stop, min(2 * block, _MAX_BLOCK)
    return lcp, False


def _snap_to_step_ends(adjacent: np.ndarray, order: np.ndarray, step_ends: np.ndarray) -> np.ndarray:
    """Move each LCP l down to one past the last step end before l (0 when no step is shared).

    Searches backwards from l in windows that double in width, gathering only those windows.
    """
    row = order[:-1]
    snapped = np.where(adjacent < 0, -1, 0)
    pending = np.flatnonzero(adjacent > 0)
    top = adjacent[pending]  # positions below top are still to search
    width = 64
    while pending.size:
        look = top[:, None] - 1 - np.arange(width)[None, :]  # (pending, width), descending positions
        hits = step_ends[row[pending][:, None], np.maximum(look, 0)] & (look >= 0)
        found = hits.any(axis=1)
        snapped[pending[found]] = top[found] - hits[found].argmax(axis=1)
        more = ~found & (top > width)
        pending, top = pending[more], top[more] - width
        width *= 2
    return snapped


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
