"""Explicitly sampled trees: from the ``tree_nodes`` (B, T) array, or from a sampler's parent pointers.

``tree_nodes[i, t]`` is the id of the sampled node (segment) in which token t of row i was generated
(−1 on padding). A row's ids form a root-to-leaf path: each node's tokens are contiguous and a row visits
nodes in depth order. Equal ids in different rows are the same segment, generated once: same group, same
span, same parent, same tokens. The sampled tree is kept as sampled: single-child chains are not merged.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from treecredit._validation import as_int64, check_integer, check_shape, fail, to_numpy
from treecredit.batch import TokenBatch
from treecredit.trees.forest import Forest, assemble_forest


def build_explicit(batch: TokenBatch, tree_nodes: Any) -> Forest:
    """The forest of sampled trees described by ``tree_nodes`` (validated; see the module docstring)."""
    B, T = batch.shape
    nodes = to_numpy(tree_nodes, "tree_nodes")
    check_shape(nodes, (B, T), "tree_nodes", "(B, T) like response_ids")
    check_integer(nodes, "tree_nodes")
    change = np.empty((B, T), dtype=bool)  # a run of equal ids starts here (padding runs dropped below)
    change[:, :1] = True
    np.not_equal(nodes[:, 1:], nodes[:, :-1], out=change[:, 1:])
    row, start = np.nonzero(change)
    # each run's end as sampled (the next run's start in the row, or T), before the row's length cuts it
    run_end = np.append(start[1:], T)
    last_run = np.ones(row.size, dtype=bool)
    last_run[:-1] = row[1:] != row[:-1]
    run_end[last_run] = T
    keep = start < batch.lengths[row]
    row, start, run_end = row[keep], start[keep], run_end[keep]
    if (nodes[row, start] < 0).any():
        bad = int(row[np.flatnonzero(nodes[row, start] < 0)[0]])
        fail("tree_nodes", f"row {bad} has a negative node id on a response token",
             "give every token before the response's end a node id >= 0 (-1 only on padding)")
    last_of_row = np.ones(row.size, dtype=bool)
    last_of_row[:-1] = row[1:] != row[:-1]
    # a row's last node ends at the row's length: trailing masked tokens (an observation that ends a
    # multi-turn leaf) stay in the node for the rows that go on, and are padding for this one
    end = np.where(last_of_row, np.minimum(run_end, batch.lengths[row]), run_end)
    sampled = as_int64(nodes[row, start], "tree_nodes")
    uniq, local = np.unique(sampled, return_inverse=True)
    local = local.reshape(-1).astype(np.int64)
    _check_consistent(batch, row, start, run_end, end, last_of_row, local, uniq)
    _check_same_tokens(batch, nodes)
    return assemble_forest("explicit", batch, [row.astype(np.int64), local, start.astype(np.int64),
                                               end.astype(np.int64)], uniq.size)


def _check_consistent(batch, row, start, run_end, end, last_of_row, local, uniq) -> None:
    """Equal ids must share group, start position, parent, and end position where a row goes on past them.

    A row whose path ends in a node may stop earlier inside it (the rest of the node is masked in that row:
    e.g. an observation that closes a multi-turn leaf), but not run past the node's end in the rows that
    go on.
    """
    n = uniq.size
    pair = row.astype(np.int64) * max(n, 1) + local
    if np.unique(pair).size != pair.size:
        fail("tree_nodes", "a node id appears in two separate runs of one row",
             "give each sampled segment its own id; a row's tokens of one node must be contiguous")
    first_of_row = np.ones(row.size, dtype=bool)
    first_of_row[1:] = row[1:] != row[:-1]
    parent = np.where(first_of_row, -1, np.append(-1, local[:-1])[: row.size])
    big, small = np.iinfo(np.int64).max, np.iinfo(np.int64).min

    def spans(values, sel):
        lo, hi = np.full(n, big), np.full(n, small)
        np.minimum.at(lo, local[sel], values[sel])
        np.maximum.at(hi, local[sel], values[sel])
        return lo, hi

    everything = np.ones(row.size, dtype=bool)
    for name, values in (("group", batch.group_index[row]), ("start position", start), ("parent", parent)):
        lo, hi = spans(values, everything)
        bad = np.flatnonzero(lo != hi)
        if bad.size:
            fail("tree_nodes", f"node id {int(uniq[bad[0]])} has a different {name} in different rows",
                 "use one id per sampled segment: equal ids must share group, span and parent")
    lo, hi = spans(run_end, ~last_of_row)  # rows that go on past the node fix its end
    _, last_hi = spans(end, last_of_row)
    bad = np.flatnonzero((hi >= lo) & ((lo != hi) | (last_hi > hi)))
    if bad.size:
        fail("tree_nodes", f"node id {int(uniq[bad[0]])} has a different end position in different rows",
             "use one id per sampled segment: equal ids must share group, span and parent")


def _check_same_tokens(batch: TokenBatch, nodes: np.ndarray) -> None:
    """Rows that share sampled nodes must hold the same tokens there.

    Sorting the rows by their node ids makes the rows through any node contiguous, so comparing each
    row with its sorted neighbour over their common node prefix checks every pair (by transitivity).
    """
    from treecredit.trees.trie import _adjacent_lcp

    B, T = nodes.shape
    if B < 2:
        return
    rows = np.ascontiguousarray(nodes)
    order = np.argsort(rows.view(np.dtype((np.void, rows.itemsize * T))).ravel(), kind="stable")
    a, b = order[:-1], order[1:]
    lengths = batch.lengths
    shared, _ = _adjacent_lcp(rows, a, b, np.minimum(lengths[a], lengths[b]))
    same, _ = _adjacent_lcp(np.ascontiguousarray(batch.response_ids), a, b, shared)
    bad = np.flatnonzero(same < shared)
    if bad.size:
        which = int(rows[a[bad[0]], same[bad[0]]])
        fail("tree_nodes", f"node id {which} carries different tokens in different rows",
             "give each sampled segment its own id: equal ids must hold the same tokens")


def _integers(values: Any, argument: str) -> np.ndarray:
    """``values`` as int64, refusing float, complex or other non-integer dtypes (no silent truncation)."""
    array = to_numpy(values, argument)
    check_integer(array, argument)
    return as_int64(array, argument)


def tree_nodes_from_parents(node_parent: Any, node_start: Any, node_end: Any, leaf_nodes: Any,
                            n_tokens: int | None = None) -> np.ndarray:
    """The ``(B, T)`` ``tree_nodes`` array of the root-to-leaf paths of a sampled tree.

    Args:
        node_parent: ``(N,)`` parent of each sampled node, −1 for a node that starts a response
            (a child of the prompt).
        node_start, node_end: ``(N,)`` token span ``[start, end)`` of each node within the responses
            through it; a node starts where its parent ends (0 for a top node), and ``end > start``.
        leaf_nodes: ``(B,)`` the last node of each response (row i is the path root → ``leaf_nodes[i]``).
        n_tokens: T, the padded width (default: the longest path).
    Returns:
        ``(B, T)`` int64 node ids (the indices into ``node_parent``), −1 on padding. Pass it as
        ``tree_nodes=`` (with ``response_ids`` laid out along the same paths).
    """
    parent, start, end, leaves = (_integers(a, name) for a, name in ((node_parent, "node_parent"),
                                  (node_start, "node_start"), (node_end, "node_end"), (leaf_nodes, "leaf_nodes")))
    n = parent.size
    check_shape(start, (n,), "node_start", "node (N)")
    check_shape(end, (n,), "node_end", "node (N)")
    if n and (parent.min() < -1 or parent.max() >= n):
        fail("node_parent", "points outside [-1, N)", "use -1 for top nodes and node indices otherwise")
    if leaves.size and (leaves.min() < 0 or leaves.max() >= n):
        fail("leaf_nodes", "points outside [0, N)", "give the index of each response's last node")
    if (end <= start).any():
        fail("node_end", "is not greater than node_start for some node", "give every node at least one token")
    expected = np.where(parent >= 0, end[np.maximum(parent, 0)], 0)
    if (start != expected).any():
        fail("node_start", "does not equal the parent's end for some node",
             "lay each node's tokens right after its parent's (a top node starts at 0)")
    width = int(end[leaves].max(initial=0)) if n_tokens is None else int(n_tokens)
    if leaves.size and end[leaves].max() > width:
        fail("n_tokens", f"is {width}, shorter than the longest path", "pass n_tokens >= the longest path")
    out = np.full((leaves.size, width), -1, dtype=np.int64)
    current = leaves.copy()
    positions = np.arange(width)[None, :]
    for _ in range(n + 1):  # one pass per depth level, vectorised over the rows
        alive = current >= 0
        if not alive.any():
            break
        node = np.maximum(current, 0)
        span = alive[:, None] & (positions >= start[node][:, None]) & (positions < end[node][:, None])
        out[span] = np.broadcast_to(node[:, None], out.shape)[span]
        current = np.where(alive, parent[node], -1)
    else:
        fail("node_parent", "contains a cycle", "make the parent pointers a forest")
    return out


def node_token_counts(tree_nodes: Any, response_mask: Any = None) -> tuple[int, int]:
    """``(tokens, distinct)`` of ``tree_nodes`` ``(B, T)``: the tokens with a node (−1 and, with
    ``response_mask (B, T)``, masked tokens count as none) and their distinct (node, position) pairs, a token
    shared by several rows (generated once) counted once."""
    nodes = as_int64(to_numpy(tree_nodes, "tree_nodes"), "tree_nodes")
    valid = nodes >= 0
    if response_mask is not None:
        valid &= to_numpy(response_mask, "response_mask").astype(bool)
    rows, positions = np.nonzero(valid)
    if not rows.size:
        return 0, 0
    keys = np.stack([nodes[rows, positions], positions], axis=1)  # (node, position) of every token
    return int(rows.size), int(np.unique(keys, axis=0).shape[0])


def tree_branched(tree_nodes: Any, response_mask: Any = None) -> bool:
    """Whether two rows of ``tree_nodes`` ``(B, T)`` share a token: one (node, position) pair in two rows
    (−1 and, with ``response_mask (B, T)``, masked tokens count as none). False when the sampler grew only
    separate chains, so that a tree estimator sees no more than i.i.d. groups (what the trainer and the TRL
    host warn about)."""
    tokens, distinct = node_token_counts(tree_nodes, response_mask)
    return distinct < tokens
