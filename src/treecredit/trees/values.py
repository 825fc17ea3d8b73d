"""Node quantities shared by several estimators, computed over a :class:`Forest` without per-token loops."""

from __future__ import annotations

import numpy as np

from treecredit.trees.forest import Forest


def child_segments(forest: Forest) -> np.ndarray:
    """Indices of the non-root path segments (each has a parent segment just before it)."""
    keep = np.ones(forest.seg_row.size, dtype=bool)
    keep[forest.row_ptr[:-1]] = False
    return np.flatnonzero(keep)


def terminal_mean(forest: Forest, per_response: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(N,)`` mean of ``per_response`` over the responses whose path ends at each node, and their count."""
    last = forest.row_last_node
    count = np.bincount(last, minlength=forest.n_nodes)
    total = np.bincount(last, weights=per_response, minlength=forest.n_nodes)
    return total / np.maximum(count, 1), count


def children_mean_values(forest: Forest, per_response: np.ndarray) -> np.ndarray:
    """``(N,)`` V(s), each subtree weighing the same: a leaf's V is the mean of the responses ending
    there; an internal node's V is the mean over its children's V and, when responses end at it, one
    more entry: their mean."""
    term_value, term_count = terminal_mean(forest, per_response)
    has_term = term_count > 0
    acc = np.where(has_term, term_value, 0.0)
    n = has_term.astype(np.float64)
    value = np.zeros(forest.n_nodes)
    depth = forest.node_depth
    order = np.argsort(-depth, kind="stable")
    bounds = np.searchsorted(-depth[order], np.arange(-int(depth.max(initial=0)), 1))
    for lo, hi in zip(bounds[:-1], bounds[1:]):  # deepest level first; one vectorised pass per depth
        level = order[lo:hi]
        value[level] = acc[level] / np.maximum(n[level], 1)
        parents = forest.node_parent[level]
        has_parent = parents >= 0
        np.add.at(acc, parents[has_parent], value[level][has_parent])
        np.add.at(n, parents[has_parent], 1.0)
    roots = order[bounds[-1]:]
    value[roots] = acc[roots] / np.maximum(n[roots], 1)
    return value


def sibling_stats(forest: Forest, value: np.ndarray, per_response: np.ndarray):
    """Per parent p, over its sibling set C(p) (its children plus, when responses end at p, their mean):
    ``(span, std)``: max − min of the values and their Bessel-corrected std (0 for a set of one)."""
    term_value, term_count = terminal_mean(forest, per_response)
    has_term = term_count > 0
    kids = np.arange(forest.n_groups, forest.n_nodes)
    parent = forest.node_parent[kids]
    members = np.concatenate([parent, np.flatnonzero(has_term)])
    member_value = np.concatenate([value[kids], term_value[has_term]])
    hi = np.full(forest.n_nodes, -np.inf)
    lo = np.full(forest.n_nodes, np.inf)
    np.maximum.at(hi, members, member_value)
    np.minimum.at(lo, members, member_value)
    size = np.bincount(members, minlength=forest.n_nodes)
    dev = member_value - value[members]  # the set's mean is V(p) by construction
    ss = np.bincount(members, weights=dev * dev, minlength=forest.n_nodes)
    span = np.where(size > 0, hi - lo, 0.0)
    return span, np.sqrt(ss / np.maximum(size - 1, 1))


def zero_masked_tokens(out: np.ndarray, batch) -> np.ndarray:
    """Zero ``out`` (B, T) on masked tokens inside responses, in place; returns ``out``.

    ``out`` must already be 0 beyond each response's length (as :meth:`Forest.spread` leaves it), so when
    no token inside a response is masked (the count of unmasked tokens equals the total length) there is
    nothing to do and the (B, T) multiply is skipped.
    """
    if np.count_nonzero(batch.response_mask) != int(batch.lengths.sum()):
        out *= batch.response_mask
    return out
