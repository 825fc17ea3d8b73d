"""TEMPO / Prefix-to-Tree: the GRPO advantage plus a temporal-difference term where the trie branches."""

from __future__ import annotations

from typing import Any

import numpy as np

from treecredit._validation import check_positive
from treecredit.batch import TokenBatch
from treecredit.groups import centered, divide_or_zero, group_std
from treecredit.registry import register_estimator
from treecredit.trees import forest_for
from treecredit.trees.values import child_segments


@register_estimator("tempo")
def tempo(batch: TokenBatch, *, norm_by_std: bool = True, epsilon: float = 1e-6, step_ends: Any = None,
          delimiter: Any = None, step_tokens: Any = None, tree_nodes: Any = None) -> np.ndarray:
    """TEMPO: GRPO's outcome advantage plus the change of the prefix value at each branching token.

    A_{i,t} = [ (r_i − μ_g) + (V(y_i[:t+1]) − V(y_i[:t])) ] / (σ_g + ε)
    V(s) = mean of r_j over the responses j through prefix s (the leaf mean); V(prompt) = μ_g.
    In the compressed trie V is constant inside a node, so the TD term is V(child) − V(parent) on the
    first token of each node and 0 elsewhere. A node whose first tokens are masked (a tool or observation
    token after a step end) carries its TD term on its first trained token; a node with no trained token
    drops it. Summed along a response (over its trained tokens) the TD terms telescope to V(y_i) − μ_g,
    the mean reward of the responses whose prefix is all of y_i: r_i − μ_g unless another response continues
    y_i (y_i is a proper prefix of it) or repeats it with another reward. V is the paper's mean outcome of
    every response through a prefix, so a response that stops inside another keeps their shared value.

    Special cases: no shared prefix beyond the prompt → equals ``grpo`` except on each response's first
    token; a trie that never branches → equals ``grpo``; a group of one or a group with equal rewards →
    exactly 0. Identical responses share every node (their V is their mean reward).
    Paper: Tran, Yao, Yu, "Prefix-to-Tree" / TEMPO, arXiv 2509.18314.
    Our choices: the tree is the token trie (P2T) by default; with a step option the step trie (the TD
    term then sits on the first token of each step where responses part); with ``tree_nodes`` the
    sampled tree. Node values use group-centred rewards, so equal rewards give exact zeros.

    Args:
        batch: responses ``(B, T)``, rewards ``(B,)``, groups ``(B,)``.
        norm_by_std: divide by σ_g + ε (Bessel σ_g); False leaves the numerator.
        epsilon: ε.
        step_ends, delimiter, step_tokens: step boundaries (one of them) to build the step trie.
        tree_nodes: ``(B, T)`` sampled node ids (explicit tree).
    Returns:
        ``(B, T)`` float32, zero on masked tokens.
    """
    check_positive(epsilon, "epsilon", allow_zero=True)
    forest = forest_for(batch, tree_nodes=tree_nodes, step_ends=step_ends, delimiter=delimiter,
                        step_tokens=step_tokens)
    gi, G = batch.group_index, batch.n_groups
    dev = centered(batch.rewards, gi, G)
    scale = group_std(batch.rewards, gi, G) + epsilon if norm_by_std else np.ones(G)
    value = forest.node_mean(dev)
    seg = child_segments(forest)
    td = value[forest.seg_node[seg]] - value[forest.seg_node[seg - 1]]
    row = forest.seg_row[seg]
    start = first_trained(batch.response_mask, row, forest.seg_start[seg], forest.seg_end[seg])
    del forest, seg, value  # only the TD terms are needed now: the output need not share memory with the tree
    inverse = divide_or_zero(np.ones(G), scale)  # 1/(σ_g + ε); 0 for σ_g + ε = 0 (all centred values are 0)
    out = np.multiply(batch.response_mask, (dev * inverse[gi]).astype(np.float32)[:, None], dtype=np.float32)
    out[row, start] += (td * inverse[gi[row]]).astype(np.float32) * batch.response_mask[row, start]
    return out


def first_trained(mask: np.ndarray, row: np.ndarray, start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """``(S,)`` the first column in ``[start, end)`` of each segment's row where ``mask`` is non-zero; ``start``
    where the segment has no such column (the caller multiplies by the mask there, so the term is dropped)."""
    masked = np.flatnonzero(mask[row, start] == 0)
    if masked.size == 0:  # the common case: every node begins with a trained token
        return start
    T = mask.shape[1]
    trained = np.flatnonzero(mask)  # flat positions of the trained tokens, ascending
    flat = row[masked].astype(np.int64) * T + start[masked]
    k = np.minimum(np.searchsorted(trained, flat), max(trained.size - 1, 0))
    hit = trained[k] if trained.size else flat
    inside = (trained.size > 0) & (hit < row[masked].astype(np.int64) * T + end[masked])
    out = start.copy()
    out[masked[inside]] = hit[inside] - row[masked[inside]].astype(np.int64) * T
    return out
