"""Outcome baselines at the turn level: one advantage per episode, the same on each of its turns.

Our choice (documented once here, used by ``rtmc`` and ``gigpo`` too): an episode's outcome is the
plain, undiscounted sum of its turn rewards, R(τ) = Σ_k r_k. For terminal-reward tasks this is the
terminal reward, exactly what the token-level baselines see; discounting is left to the step terms.
"""

from __future__ import annotations

import numpy as np

from treecredit._validation import check_positive
from treecredit.groups import centered
from treecredit.methods.outcome import grpo_response_advantages
from treecredit.registry import register_estimator
from treecredit.turns import TurnBatch


def episode_returns(turns: TurnBatch) -> np.ndarray:
    """``(n_episodes,)`` float64: R(τ) = Σ_k r_k, the plain sum of each episode's turn rewards."""
    return np.bincount(turns.episode_index, weights=turns.rewards, minlength=turns.n_episodes)


def episode_advantages(turns: TurnBatch, *, norm_by_std: bool, epsilon: float) -> np.ndarray:
    """``(n_episodes,)`` GRPO over the episodes of each group: (R(τ) − μ_g) / (σ_g + ε) or R(τ) − μ_g."""
    check_positive(epsilon, "epsilon", allow_zero=True)
    return grpo_response_advantages(episode_returns(turns), turns.episode_group, turns.n_groups,
                                    norm_by_std=norm_by_std, epsilon=epsilon)


@register_estimator("grpo", level="turn", requires=("turns",))
def turn_grpo(turns: TurnBatch, *, norm_by_std: bool = True, epsilon: float = 1e-6) -> np.ndarray:
    """GRPO over episodes: the group-normalised episode outcome on every turn of the episode.

    A_{i,k} = (R_i − μ_g) / (σ_g + ε),   R_i = Σ_k r_{i,k}   (σ_g Bessel-corrected over the group's episodes)

    Special cases: a group of one episode, or one whose episodes all have the same R, gets exactly 0.
    ``rtmc`` with every state visited once reduces to this. Paper: DeepSeekMath, arXiv 2402.03300.
    Ours: R is the undiscounted sum of turn rewards (the paper is single-turn).

    Args:
        turns: N turns; episodes grouped by task instance.
        norm_by_std: divide by σ_g + ε; False gives R_i − μ_g.
        epsilon: ε added to σ_g.
    Returns:
        ``(N,)`` float32, one advantage per turn.
    """
    adv = episode_advantages(turns, norm_by_std=norm_by_std, epsilon=epsilon)
    return adv[turns.episode_index].astype(np.float32)


@register_estimator("dr_grpo", level="turn", requires=("turns",))
def turn_dr_grpo(turns: TurnBatch) -> np.ndarray:
    """Dr. GRPO over episodes: A_{i,k} = R_i − μ_g on every turn of episode i.

    Special cases: equals turn-level ``grpo`` with ``norm_by_std=False``. Paper: arXiv 2503.20783.
    Ours: R_i = Σ_k r_{i,k}, the undiscounted sum of the episode's turn rewards.

    Returns:
        ``(N,)`` float32.
    """
    adv = centered(episode_returns(turns), turns.episode_group, turns.n_groups)
    return adv[turns.episode_index].astype(np.float32)


@register_estimator("rloo", level="turn", requires=("turns",))
def turn_rloo(turns: TurnBatch) -> np.ndarray:
    """RLOO over episodes: A_{i,k} = R_i − (Σ_{j≠i} R_j)/(G − 1) = G/(G − 1) · (R_i − μ_g).

    G = episodes in the group; a group of one episode gets 0. Paper: arXiv 2402.14740.
    Ours: R_i = Σ_k r_{i,k}, the undiscounted sum of the episode's turn rewards.

    Returns:
        ``(N,)`` float32.
    """
    sizes = np.bincount(turns.episode_group, minlength=turns.n_groups)[turns.episode_group].astype(np.float64)
    scale = np.where(sizes > 1, sizes / np.maximum(sizes - 1, 1), 0.0)
    adv = scale * centered(episode_returns(turns), turns.episode_group, turns.n_groups)
    return adv[turns.episode_index].astype(np.float32)
