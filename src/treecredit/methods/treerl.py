"""TreeRL: global plus local value advantage of each tree node, scaled by its leaf count."""

from __future__ import annotations

from typing import Any

import numpy as np

from treecredit._validation import check_choice
from treecredit.batch import TokenBatch
from treecredit.groups import centered
from treecredit.registry import register_estimator
from treecredit.trees import forest_for
from treecredit.trees.values import zero_masked_tokens


@register_estimator("treerl")
def treerl(batch: TokenBatch, *, leave_one_out: bool = False, scale_values: str = "after",
           tree_nodes: Any = None, step_ends: Any = None, delimiter: Any = None,
           step_tokens: Any = None) -> np.ndarray:
    """TreeRL: A(s) = (GA(s) + LA(s)) / √|L(s)| on the tokens of the segment that ends in s.

    V(s) = mean reward over the leaves L(s) under s (fraction correct for binary rewards);
    GA(s) = V(s) − V(root),  LA(s) = V(s) − V(parent(s)).

    Special cases: a tree with no shared prefix gives each response 2 (r_i − μ_g) (GA = LA); a node with one
    child carries LA = 0 to it; a group of one or with equal rewards gives exactly 0.
    Paper: TreeRL / EPTree, arXiv 2506.11902.
    Our choices: the leaves L(s) are the responses through s (identical responses count once each), so
    |L(s)| = |D(s)|. The tree is the token trie by default, the step trie with a step option, the sampled
    tree with ``tree_nodes``. The reference code first centres each leaf reward on the leave-one-out mean
    of the others, r'_i = r_i − mean_{j≠i} r_j = G/(G−1)·(r_i − μ_g); since GA and LA are differences this
    only rescales the advantages of a group by G/(G−1) (0 for a group of one). It is off by default
    (``leave_one_out=False``, the paper's formula as written) and on with ``leave_one_out=True``.

    Paper vs reference code: the paper divides the sum GA + LA by √|L(s)| (``scale_values="after"``, the
    default). The public reference code instead divides each node's value by √|L(s)| first and takes GA
    and LA as differences of those scaled values (``scale_values="before"``):
        W(s) = V(s) / √|L(s)|,   A(s) = (W(s) − W(root)) + (W(s) − W(parent(s)))
    Values are group-centred (leave-one-out centred with ``leave_one_out=True``) in both, so the
    reference variant with ``leave_one_out=True`` is what the released runs trained on; it still gives
    exactly 0 for equal rewards, but no longer r_i − μ_g-type credit on a tree with no shared prefix.

    Args:
        batch: responses ``(B, T)``, rewards ``(B,)``, groups ``(B,)``.
        leave_one_out: centre rewards on the leave-one-out mean first (the reference code's choice).
        scale_values: "after" (the paper: (GA + LA)/√|L|) | "before" (the reference code: differences of
            V/√|L|).
        tree_nodes: ``(B, T)`` sampled node ids; or step_ends / delimiter / step_tokens for the step trie.
    Returns:
        ``(B, T)`` float32, zero on masked tokens.
    """
    check_choice(scale_values, ("after", "before"), "scale_values")
    forest = forest_for(batch, tree_nodes=tree_nodes, step_ends=step_ends, delimiter=delimiter,
                        step_tokens=step_tokens)
    dev = centered(batch.rewards, batch.group_index, batch.n_groups)
    if leave_one_out:
        size = batch.group_sizes[batch.group_index].astype(np.float64)
        dev = np.where(size > 1, size / np.maximum(size - 1, 1), 0.0) * dev
    value = forest.node_mean(dev)
    kids = np.arange(forest.n_groups, forest.n_nodes)
    advantage = np.zeros(forest.n_nodes)
    root = forest.node_group[kids]
    if scale_values == "before":
        value = value / np.sqrt(np.maximum(forest.node_count, 1))
    ga = value[kids] - value[root]
    la = value[kids] - value[forest.node_parent[kids]]
    advantage[kids] = ga + la if scale_values == "before" else (ga + la) / np.sqrt(forest.node_count[kids])
    out = forest.spread(advantage)
    return zero_masked_tokens(out, batch)
