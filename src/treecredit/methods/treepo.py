"""TreePO: a weighted sum of the response's advantages within each of its ancestor subgroups."""

from __future__ import annotations

from typing import Any

import numpy as np

from treecredit._validation import check_choice, check_positive
from treecredit.batch import TokenBatch
from treecredit.groups import broadcast_to_tokens, centered, divide_or_zero, group_std
from treecredit.registry import register_estimator
from treecredit.trees import forest_for

WEIGHTS = ("size", "uniform")


@register_estimator("treepo")
def treepo(batch: TokenBatch, *, weights: str = "size", whiten: bool = True, whiten_over: str = "responses",
           epsilon: float = 1e-6, tree_nodes: Any = None, step_ends: Any = None, delimiter: Any = None,
           step_tokens: Any = None) -> np.ndarray:
    """TreePO: A_i = Σ_d w_d (r_i − mean_{j∈G_d} r_j), one value per response, then whitened over the batch.

    G_d = the responses through the node at depth d of response i's path (d = 0 is the root: the whole
    group); subgroups of one response are skipped; w_d ∝ |G_d| (``weights="size"``) or uniform, normalised
    to sum 1 over the levels kept. Whitening: A ← (A − mean A) / (std A + ε) over the non-empty responses
    of the batch (Bessel std; all equal → exactly 0).

    Special cases: with no shared prefix only the root level remains, so A_i = r_i − μ_g before whitening;
    a response alone in its group gets 0 before whitening; equal rewards in every group give exactly 0.
    Whitening couples groups, so only ``whiten=False`` makes a forest equal its groups one by one.
    Paper: TreePO, arXiv 2508.17445.
    Our choices: the path includes the response's last node (so merged identical responses form a
    subgroup); the tree is the token trie by default, the step trie with a step option (the paper's
    segments), the sampled tree with ``tree_nodes``.

    Paper vs reference code: the paper whitens one value per trajectory (``whiten_over="responses"``, the
    default). The public reference code whitens over tokens (``whiten_over="tokens"``): the mean and the
    Bessel std are taken over every unmasked token of the batch, each carrying its response's value, so
    long responses weigh more:  m = Σ_i n_i A_i / Σ_i n_i,  s² = Σ_i n_i (A_i − m)² / (Σ_i n_i − 1),
    A_i ← (A_i − m)/(s + ε), with n_i the unmasked tokens of response i.

    Args:
        batch: responses ``(B, T)``, rewards ``(B,)``, groups ``(B,)``.
        weights: "size" | "uniform".
        whiten: whiten the per-response values over the batch.
        whiten_over: "responses" (paper: one entry per response) | "tokens" (reference code: one per token).
        epsilon: ε of the whitening.
        tree_nodes: ``(B, T)`` sampled node ids; or step_ends / delimiter / step_tokens for the step trie.
    Returns:
        ``(B, T)`` float32, one value per response on its unmasked tokens.
    """
    check_choice(weights, WEIGHTS, "weights")
    check_choice(whiten_over, ("responses", "tokens"), "whiten_over")
    check_positive(epsilon, "epsilon", allow_zero=True)
    forest = forest_for(batch, tree_nodes=tree_nodes, step_ends=step_ends, delimiter=delimiter,
                        step_tokens=step_tokens)
    dev = centered(batch.rewards, batch.group_index, batch.n_groups)
    value = forest.node_mean(dev)
    count = forest.node_count[forest.seg_node]
    w = np.where(count >= 2, count if weights == "size" else 1, 0).astype(np.float64)
    term = w * (dev[forest.seg_row] - value[forest.seg_node])
    B = batch.shape[0]
    total_w = np.bincount(forest.seg_row, weights=w, minlength=B)
    per_response = np.bincount(forest.seg_row, weights=term, minlength=B) / np.maximum(total_w, 1e-300)
    per_response[total_w == 0] = 0.0
    if whiten and whiten_over == "tokens":
        per_response = _whiten_over_tokens(per_response, batch.response_mask.sum(axis=1), epsilon)
    elif whiten:
        live = batch.lengths > 0
        one = np.zeros(int(live.sum()), dtype=np.int64)
        kept = per_response[live]
        per_response[live] = divide_or_zero(centered(kept, one, 1), group_std(kept, one, 1)[0] + epsilon)
    return broadcast_to_tokens(per_response, batch.response_mask)


def _whiten_over_tokens(per_response: np.ndarray, n_tokens: np.ndarray, epsilon: float) -> np.ndarray:
    """Whiten ``per_response (B,)`` with the mean and Bessel std over tokens (response i counted n_i times)."""
    total = float(n_tokens.sum())
    live = n_tokens > 0
    if total == 0:
        return np.zeros_like(per_response)
    mean = float((n_tokens * per_response).sum()) / total
    dev = np.where(live, per_response - mean, 0.0)
    if np.ptp(per_response[live]) == 0:  # all equal: exactly 0, no rounding residue
        dev[:] = 0.0
    spread = np.sqrt(float((n_tokens * dev * dev).sum()) / max(total - 1, 1))
    return divide_or_zero(dev, spread + epsilon)
