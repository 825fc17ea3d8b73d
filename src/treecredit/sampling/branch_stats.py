"""Branch statistics of sampled groups, for logs and the benchmark.

- branch points: nodes of a sampled tree with two or more children (the prompt counts when the group
  has two or more root chains);
- branching depth of a leaf: the branch points on its root-to-leaf path;
- share of tokens with non-zero step credit: over the prefix trie of each group (which works for any
  rows, i.i.d. or tree), V(prefix) = mean reward of the rows through the prefix. A token carries step
  credit when it lies in a *shared* segment (a trie edge that 2 ≤ n < G rows pass through) whose value
  differs from the value of the prefix the segment hangs from: credit that an intermediate value
  estimate gives and an outcome baseline cannot. Tokens shared by the whole group (value = the group
  mean) and the unshared tail of each row (whose credit is its own reward against a baseline) do not
  count. Over i.i.d. groups shared segments are only the first few tokens; over a tree they are whole
  steps. The share is over all response tokens.
- the same share over the sampled tree (``tree_nodes``): segments are the sampled nodes, so two
  branches that happen to write the same tokens stay apart, as the tree estimators see them.
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
    """Share of response tokens with non-zero step credit (see the module docstring)."""
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
        for r in rows:
            key, value, count, hang = (), rewards[rows].mean(), rows.size, rewards[rows].mean()
            for t in np.flatnonzero(mask[r]):
                key = key + (int(ids[r, t]),)
                total_reward, n = sums[key]
                if n != count:  # a new segment starts here; it hangs from the prefix before t
                    hang, count = value, n
                value = total_reward / n
                nonzero += 2 <= n < rows.size and abs(value - hang) > atol
    return nonzero / total if total else 0.0


def tree_credit_share(tree_nodes, response_mask, rewards, group_ids, atol: float = 1e-9) -> float:
    """Share of response tokens in a sampled node shared by 2 ≤ n < G rows whose value V(node) (mean
    reward of its rows) differs from its parent's (the group mean for a root)."""
    nodes = np.asarray(tree_nodes)
    mask = np.asarray(response_mask, dtype=bool)
    rewards = np.asarray(rewards, dtype=np.float64)
    groups = np.asarray(group_ids)
    total, nonzero = int(mask.sum()), 0
    for g in np.unique(groups):
        rows = np.flatnonzero(groups == g)
        members: dict = {}
        for r in rows:
            for node in dict.fromkeys(nodes[r][mask[r]].tolist()):
                members.setdefault(node, []).append(r)
        value = {node: rewards[rs].mean() for node, rs in members.items()}
        for r in rows:
            hang = rewards[rows].mean()
            for node in dict.fromkeys(nodes[r][mask[r]].tolist()):
                n = len(members[node])
                if 2 <= n < rows.size and abs(value[node] - hang) > atol:
                    nonzero += int((nodes[r] == node).sum())
                hang = value[node]
    return nonzero / total if total else 0.0


SCALAR_EXTRAS = ("branch_points_per_group", "branch_depth_mean", "branch_depth_max", "cut_branches",
                 "saved_tokens_estimate", "prefill_tokens", "mc_tokens", "replayed_rows")


def sampler_metrics(rollout) -> dict:
    """Numbers to log for a rollout: the tree sampler's branch statistics (``tree_*``; none for i.i.d.)
    and the step-credit shares (``step_credit_share_trie`` always, ``..._tree`` for a sampled tree)."""
    arrays = (np.asarray(rollout.response_mask), np.asarray(rollout.rewards), np.asarray(rollout.group_ids))
    out = {f"tree_{name}": float(rollout.extras[name]) for name in SCALAR_EXTRAS if name in rollout.extras}
    out["step_credit_share_trie"] = nonzero_credit_share(np.asarray(rollout.response_ids), *arrays)
    if rollout.tree_nodes is not None:
        out["step_credit_share_tree"] = tree_credit_share(np.asarray(rollout.tree_nodes), *arrays)
    return out
