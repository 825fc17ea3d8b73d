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


def _shared_credit_share(forest, mask: np.ndarray, atol: float) -> float:
    """Share of unmasked tokens lying in a node shared by 2 ≤ n < G rows whose V differs from its parent's."""
    counts = forest.visit_counts
    values = forest.node_values
    parent = forest.node_parent
    is_root = parent < 0
    group_size = np.zeros(forest.n_groups, dtype=np.int64)
    group_size[forest.node_group[is_root]] = counts[is_root]
    hang = values[np.where(is_root, 0, parent)]
    credited = (~is_root & (counts >= 2) & (counts < group_size[forest.node_group])
                & (np.abs(values - hang) > atol))
    token_nodes = forest.token_nodes()
    inside = mask & (token_nodes >= 0)
    total = int(mask.sum())
    return int(credited[token_nodes[inside]].sum()) / total if total else 0.0


def nonzero_credit_share(response_ids, response_mask, rewards, group_ids, atol: float = 1e-9) -> float:
    """Share of response tokens with non-zero step credit over each group's prefix trie (module docstring); the
    rows right-padded, as a rollout's."""
    from treecredit.trees import build_tree

    mask = np.asarray(response_mask, dtype=bool)
    if mask.shape[0] == 0:
        return 0.0
    forest = build_tree("token", response_ids=response_ids, response_mask=mask, rewards=rewards,
                        group_ids=group_ids, padding_side="right")  # a rollout's: right-padded by construction
    return _shared_credit_share(forest, mask, atol)


def tree_credit_share(tree_nodes, response_mask, rewards, group_ids, atol: float = 1e-9) -> float:
    """The same share over the sampled tree: segments are the sampled nodes (``tree_nodes``), so two
    branches that happen to write the same tokens stay apart, as the tree estimators see them."""
    from treecredit.trees import build_tree

    nodes = np.asarray(tree_nodes)
    mask = np.asarray(response_mask, dtype=bool)
    if mask.shape[0] == 0:
        return 0.0
    # The sampled tree is defined by its node ids alone; they stand in for token ids in the builder's
    # check that rows sharing a node share its tokens.
    forest = build_tree("explicit", response_ids=np.maximum(nodes, 0), response_mask=mask, rewards=rewards,
                        group_ids=group_ids, tree_nodes=nodes, padding_side="right")
    return _shared_credit_share(forest, mask, atol)


SCALAR_EXTRAS = ("branch_points_per_group", "branch_depth_mean", "branch_depth_max", "cut_branches",
                 "saved_tokens_estimate", "prefill_tokens", "mc_tokens", "replayed_rows", "short_groups")


def sampler_metrics(rollout) -> dict:
    """Numbers to log for a rollout: the tree sampler's branch statistics (``tree_*``; none for i.i.d.)
    (``tree_speculative_wasted_tokens``: ``rollout.wasted_tokens``, when a speculative schedule ran)
    and the step-credit shares (``step_credit_share_trie`` always, ``..._tree`` for a sampled tree)."""
    arrays = (np.asarray(rollout.response_mask), np.asarray(rollout.rewards), np.asarray(rollout.group_ids))
    out = {f"tree_{name}": float(rollout.extras[name]) for name in SCALAR_EXTRAS if name in rollout.extras}
    if "speculative_adopted" in rollout.extras:  # a speculative schedule ran: its waste, from the one field
        out["tree_speculative_wasted_tokens"] = float(rollout.wasted_tokens)
    out["step_credit_share_trie"] = nonzero_credit_share(np.asarray(rollout.response_ids), *arrays)
    if rollout.tree_nodes is not None:
        out["step_credit_share_tree"] = tree_credit_share(np.asarray(rollout.tree_nodes), *arrays)
    return out
