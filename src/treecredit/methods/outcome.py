"""Outcome baselines: one advantage per response, broadcast to its unmasked tokens.

These are the critic-free baselines that every tree estimator reduces to when the tree does not branch.
"""

from __future__ import annotations

import numpy as np

from treecredit._validation import check_positive
from treecredit.batch import TokenBatch
from treecredit.groups import broadcast_to_tokens, centered, divide_or_zero, group_std
from treecredit.registry import register_estimator


def grpo_response_advantages(
    rewards: np.ndarray, group_index: np.ndarray, n_groups: int, *, norm_by_std: bool, epsilon: float
) -> np.ndarray:
    """``(B,)`` GRPO advantages (r_i − μ_g) / (σ_g + ε), or r_i − μ_g without std normalisation."""
    adv = centered(rewards, group_index, n_groups)
    if norm_by_std:
        adv = divide_or_zero(adv, group_std(rewards, group_index, n_groups)[group_index] + epsilon)
    return adv


@register_estimator("grpo")
def grpo(batch: TokenBatch, *, norm_by_std: bool = True, epsilon: float = 1e-6) -> np.ndarray:
    """GRPO: the group-normalised outcome advantage, the same on every token of a response.

    A_{i,t} = (r_i − μ_g) / (σ_g + ε)    (σ_g with Bessel's correction; without ``norm_by_std``: r_i − μ_g)

    Special cases: a group of one response gets A = 0; a group whose rewards are all equal gets exactly 0.
    Paper: DeepSeekMath, Shao et al., arXiv 2402.03300.

    Args:
        batch: responses ``(B, T)``, rewards ``(B,)``, groups ``(B,)``.
        norm_by_std: divide by σ_g + ε (the original GRPO); False gives Dr. GRPO's numerator.
        epsilon: ε added to σ_g.
    Returns:
        ``(B, T)`` float32, zero on masked tokens.
    """
    check_positive(epsilon, "epsilon", allow_zero=True)
    adv = grpo_response_advantages(
        batch.rewards, batch.group_index, batch.n_groups, norm_by_std=norm_by_std, epsilon=epsilon
    )
    return broadcast_to_tokens(adv, batch.response_mask)


@register_estimator("dr_grpo")
def dr_grpo(batch: TokenBatch) -> np.ndarray:
    """Dr. GRPO: the group-centred outcome advantage with no std division.

    A_{i,t} = r_i − μ_g

    Pairs with a constant loss normaliser in the trainer (``TrainConfig(loss_aggregation="constant")``,
    CLI ``--loss-aggregation constant``).
    Special cases: equals ``grpo`` with ``norm_by_std=False``. Paper: Liu et al., arXiv 2503.20783.

    Returns:
        ``(B, T)`` float32, zero on masked tokens.
    """
    adv = centered(batch.rewards, batch.group_index, batch.n_groups)
    return broadcast_to_tokens(adv, batch.response_mask)


@register_estimator("rloo")
def rloo(batch: TokenBatch) -> np.ndarray:
    """RLOO: the reward minus the mean reward of the other responses of the group.

    A_i = r_i − (Σ_{j≠i} r_j) / (G − 1) = G / (G − 1) · (r_i − μ_g)

    Special cases: a group of one response gets A = 0 (it has no other response to compare with).
    Paper: Ahmadian et al., arXiv 2402.14740 (after Kool et al., 2019).

    Returns:
        ``(B, T)`` float32, zero on masked tokens.
    """
    sizes = batch.group_sizes[batch.group_index].astype(np.float64)
    scale = np.where(sizes > 1, sizes / np.maximum(sizes - 1, 1), 0.0)
    adv = scale * centered(batch.rewards, batch.group_index, batch.n_groups)
    return broadcast_to_tokens(adv, batch.response_mask)
