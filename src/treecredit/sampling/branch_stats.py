"""Branch statistics of sampled groups, for logs and the benchmark.

- branch points: nodes of a sampled tree with two or more children (the prompt counts when the group
  has two or more root chains);
- branching depth of a leaf: the branch points on its root-to-leaf path;
- share of tokens with non-zero step credit: over the prefix trie of each group (which works for any
  rows, i.i.d. or tree), V(prefix) = mean reward of the rows through the prefix, and token t of a row
  carries credit V(prefix through t) − V(prefix before t) (the prompt's value is the group mean). That
  difference is the per-token credit of the token trie (TEMPO-like); it is zero wherever a token is
  shared by all rows of its parent prefix, or the siblings all have one value. The share is over all
  response tokens.
"""

from __future__ import annotations

import numpy as np


def branch_points(parent_node: np.ndarray, group_of_node: np.ndarray, n_groups: int) -> np.ndarray:
    """``(n_groups,)`` count of branch points per group (see the module docstring)."""
    counts = np.zeros(n_groups, dtype=np.int64)
    n_children = np.bincount(parent_node[parent_node >= 0], minlength=parent_node.size)
    np.add.at(counts, group_of_node[n_children >= 2], 1)
    roots = np.bincount(group_of_node[parent_node < 0], minlength=n_groups)
    return counts + (roots >= 2)


def leaf_branch_depth(parent_node: np.ndarray, group_of_node: np.ndarray, leaves: list[int]) -> np.ndarray:
    """``(L,)`` branch points on each leaf's path."""
    n_children = np.bincount(parent_node[parent_node >= 0], minlength=parent_node.size)
    roots = np.bincount(group_of_node[parent_node < 0], minlength=int(group_of_node.max()) + 1)
    depth = []
    for leaf in leaves:
        node, d = leaf, 0
        while parent_node[node] >= 0:
            node = parent_node[node]
            d += int(n_children[node] >= 2)
        depth.append(d + int(roots[group_of_node[leaf]] >= 2))
    return np.asarray(depth, dtype=np.int64)


def nonzero_credit_share(response_ids, response_mask, rewards, group_ids, atol: float = 1e-9) -> float:
    """Share of response tokens whose prefix-trie credit V(through t) − V(before t) is non-zero."""
    ids = np.asarray(response_ids)
    mask = np.asarray(response_mask, dtype=bool)
    rewards = np.asarray(rewards, dtype=np.float64)
    groups = np.asarray(group_ids)
    total, nonzero = int(mask.sum()), 0
    for g in np.unique(groups):
        rows = np.flatnonzero(groups == g)
        sums: dict = {}
        for r in rows:
            key: tuple = ()
            for t in np.flatnonzero(mask[r]):
                key = key + (int(ids[r, t]),)
                s = sums.setdefault(key, [0.0, 0])
                s[0] += rewards[r]
                s[1] += 1
        base = rewards[rows].mean()
        for r in rows:
            key, before = (), base
            for t in np.flatnonzero(mask[r]):
                key = key + (int(ids[r, t]),)
                s, n = sums[key]
                value = s / n
                nonzero += abs(value - before) > atol
                before = value
    return nonzero / total if total else 0.0
