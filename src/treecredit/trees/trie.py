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
3. Nodes are LCP intervals: a node with cut c > 0 is a maximal run of sorted rows whose adjacent LCPs
   are all ≥ c (found by the nearest smaller adjacent LCP on both sides, by binary lifting over a table
   of range minima); a row that goes on past both neighbours' LCPs ends in a leaf of its own.
4. A node's parent is the interval of the larger adjacent LCP just outside it; every row climbs from its
   deepest node to the root, all rows at once, which yields its path segments.

Cost: O(B log B) for the intervals plus the path segments themselves; no (B, G) pairwise table, so one
group of 8,192 responses costs about as much as 512 groups of 16.
Memory: the sort, column blocks of the pending neighbour pairs, the (B log B) range-minimum table; in the
fallback one ``(B, T)`` int32 copy of the ids (int64 when ids need it).
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
    entries = list(_path_entries(adjacent, order, lengths))  # row, node key, start, end
    del order, adjacent
    keys, entry_node = np.unique(entries[1], return_inverse=True)
    entries[1] = entry_node.reshape(-1).astype(np.int64, copy=False)
    del entry_node
    # the list is handed over: assemble_forest frees each entry array once it is copied into the forest
    return assemble_forest("token" if step_ends is None else "step", batch, entries, keys.size)


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


def _path_entries(adjacent, order, lengths):
    """Each response's compressed path: (row, node key, start, end) sorted by (row, start).

    ``adjacent[p]`` is the LCP of sorted rows p and p+1 (−1 across groups). A node with cut c > 0 shared
    by several rows is an *LCP interval*: the maximal run of sorted rows ``[lo, hi]`` whose adjacent LCPs
    are all ≥ c, with c the smallest of them. It is found from any adjacent position p inside it with
    ``adjacent[p] = c`` through the nearest smaller adjacent LCP on each side; a row that goes on past every
    neighbour's LCP ends in its own leaf ``[k, k]``. A node's parent is the interval of the larger adjacent
    LCP just outside it. Each row climbs from its deepest node to the root, all rows at once, so the cost
    is O(B log B + path segments): no (B, G) pairwise table.
    """
    B = order.size
    a = np.asarray(adjacent, dtype=np.int64)
    length_sorted = lengths[order].astype(np.int64)
    prev_smaller, next_smaller = _nearest_smaller(a)
    outside = np.concatenate(([-1], a, [-1]))  # outside[q + 1] = a[q], −1 beyond both ends

    def climb():
        """Yield ``(sorted rows, node keys, starts, ends)``, deepest nodes first, one level per round."""
        left = outside[:B]  # a[k − 1]
        right = outside[1: B + 1]  # a[k]
        widest = np.maximum(left, right)
        rep_side = np.arange(B) - (left >= right)  # adjacent index of the larger neighbour LCP
        live = length_sorted > 0
        own_leaf = live & (length_sorted > np.maximum(widest, 0))
        k = np.flatnonzero(own_leaf)  # rows that go on past every neighbour end in a leaf of their own
        yield k, k * B + k, np.maximum(widest[k], 0), length_sorted[k]
        cur_row = np.concatenate([k[widest[k] > 0], np.flatnonzero(live & ~own_leaf)])
        cur_rep = rep_side[cur_row]
        while cur_row.size:  # every row climbs the intervals that contain it
            lo = prev_smaller[cur_rep] + 1
            hi = next_smaller[cur_rep]
            out_left, out_right = outside[lo], outside[hi + 1]
            up = np.maximum(out_left, out_right)
            yield cur_row, lo * B + hi, np.maximum(up, 0), a[cur_rep]
            go_on = up > 0
            cur_row = cur_row[go_on]
            cur_rep = np.where(out_left >= out_right, lo - 1, hi)[go_on]

    depth = np.zeros(B, dtype=np.int64)
    for rows, *_ in climb():  # first pass: the number of segments of each row
        depth[rows] += 1
    depth_by_row = np.empty(B, dtype=np.int64)
    depth_by_row[order] = depth
    ptr = np.zeros(B + 1, dtype=np.int64)
    np.cumsum(depth_by_row, out=ptr[1:])
    n = int(ptr[-1])
    out_row = np.empty(n, dtype=np.int64)
    out_key = np.empty(n, dtype=np.int64)
    out_start = np.empty(n, dtype=np.int64)
    out_end = np.empty(n, dtype=np.int64)
    # second pass: each row's segments are written from its last (deepest) slot backwards
    next_slot = ptr[order] + depth - 1
    for rows, keys, starts, ends in climb():
        at = next_slot[rows]
        out_row[at] = order[rows]
        out_key[at] = keys
        out_start[at] = starts
        out_end[at] = ends
        next_slot[rows] -= 1
    return out_row, out_key, out_start, out_end


def _nearest_smaller(a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each p: the nearest q < p with ``a[q] < a[p]`` (−1 if none) and nearest q > p (``a.size`` if none).

    Binary lifting over a sparse table of range minima: O(M log M) time and memory, vectorised over p.
    """
    M = a.size
    if M == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    if a.size and np.abs(a).max() < 2**31 - 1:
        a = a.astype(np.int32)  # LCPs are token counts: half the table
    table = [a]  # table[L][i] = min(a[i : i + 2**L])
    while (1 << len(table)) <= M:
        half = 1 << (len(table) - 1)
        table.append(np.minimum(table[-1][:-half], table[-1][half:]))
    left = np.arange(M)  # the run [left, p) holds only values >= a[p]
    right = np.arange(M) + 1  # the run (p, right) likewise
    for level in range(len(table) - 1, -1, -1):
        width = 1 << level
        mins = table[level]
        idx = np.flatnonzero(left >= width)
        idx = idx[mins[left[idx] - width] >= a[idx]]
        left[idx] -= width
        idx = np.flatnonzero(right + width <= M)
        idx = idx[mins[right[idx]] >= a[idx]]
        right[idx] += width
    return left - 1, right
