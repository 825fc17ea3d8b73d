"""SPO (tree variant): each segment's value gain over its parent."""

from __future__ import annotations

from typing import Any

import numpy as np

from treecredit._validation import check_choice, check_positive
from treecredit.batch import TokenBatch
from treecredit.groups import centered, divide_or_zero
from treecredit.registry import register_estimator
from treecredit.trees import forest_for
from treecredit.trees.values import children_mean_values, zero_masked_tokens


@register_estimator("spo")
def spo(batch: TokenBatch, *, norm_by_std: bool = False, epsilon: float = 1e-6, node_value: str = "leaf_mean",
        std: str = "sample", tree_nodes: Any = None, step_ends: Any = None, delimiter: Any = None,
        step_tokens: Any = None) -> np.ndarray:
    """SPO-tree: A(c) = V(c) − V(parent(c)) on the tokens of the segment ending in c.

    V(s) = mean reward over the responses through s (leaf mean); with ``norm_by_std`` the difference is
    divided by (std of the rewards of the responses through parent(c)) + ε, Bessel-corrected, 0 for one.

    Special cases: a tree with no shared prefix gives r_i − μ_g (``dr_grpo``), or with ``norm_by_std``
    exactly ``grpo``; a node with one child gives it 0 (all its responses pass on); a group of one or with
    equal rewards gives exactly 0.
    Paper: SPO, Segment Policy Optimization, arXiv 2505.23564 (its tree-based variant).
    Our choices: the tree is the token trie by default, the step trie with a step option (the paper's
    segments), the sampled tree with ``tree_nodes``. Values use group-centred rewards (exact zeros).

    Paper vs reference code: we average the leaves under a node (``node_value="leaf_mean"``, the paper's
    Monte Carlo value) and use the Bessel std (``std="sample"``). The public reference code averages the
    node's children instead, each subtree weighing the same whatever its size (``node_value=
    "children_mean"``: a leaf's V is its reward, an internal node's V the mean of its children's V and,
    when responses end at it, of their mean reward; the root's V is then not μ_g), and normalises by the
    population std (``std="population"``, ddof = 0). Pass both to match the released runs.

    Args:
        batch: responses ``(B, T)``, rewards ``(B,)``, groups ``(B,)``.
        norm_by_std: divide by the std of the rewards under the parent, plus ε.
        epsilon: ε.
        node_value: "leaf_mean" (paper) | "children_mean" (reference code).
        std: "sample" (Bessel) | "population" (ddof = 0, reference code); used with ``norm_by_std``.
        tree_nodes: ``(B, T)`` sampled node ids; or step_ends / delimiter / step_tokens for the step trie.
    Returns:
        ``(B, T)`` float32, zero on masked tokens.
    """
    check_positive(epsilon, "epsilon", allow_zero=True)
    check_choice(node_value, ("leaf_mean", "children_mean"), "node_value")
    check_choice(std, ("sample", "population"), "std")
    forest = forest_for(batch, tree_nodes=tree_nodes, step_ends=step_ends, delimiter=delimiter,
                        step_tokens=step_tokens)
    dev = centered(batch.rewards, batch.group_index, batch.n_groups)
    value = forest.node_mean(dev) if node_value == "leaf_mean" else children_mean_values(forest, dev)
    kids = np.arange(forest.n_groups, forest.n_nodes)
    parent = forest.node_parent[kids]
    gain = value[kids] - value[parent]
    if norm_by_std:
        spread = forest.node_std(dev, ddof=1 if std == "sample" else 0)
        gain = divide_or_zero(gain, spread[parent] + epsilon)
    advantage = np.zeros(forest.n_nodes)
    advantage[kids] = gain
    out = forest.spread(advantage)
    return zero_masked_tokens(out, batch)
