"""RTMC, Rollout-Tree Monte Carlo: per-turn credit from a state graph shared by a group's episodes."""

from __future__ import annotations

import numpy as np

from treecredit._validation import check_positive
from treecredit.methods.turn_outcome import episode_advantages
from treecredit.registry import register_estimator
from treecredit.turns import TurnBatch, state_graph_of


@register_estimator("rtmc", level="turn", requires=("turns",))
def rtmc(turns: TurnBatch, *, gamma: float = 1.0, kappa: float = 1.0, omega: float = 1.0,
         norm_by_std: bool = True, epsilon: float = 1e-6) -> np.ndarray:
    """RTMC: episode advantage plus the Monte Carlo advantage of the action in a shared state.

    R_k = Σ_l γ^l r_{k+l}
    Q̂(σ, α) = mean of R_k over the group's turns in state σ taking action α   (n(σ, α) of them)
    V̂(σ)    = mean of R_k over the group's turns in state σ
    Q̃ = (n Q̂ + κ V̂) / (n + κ),   Â = Q̃ − V̂ = n / (n + κ) · (Q̂ − V̂)
    A_{i,k} = A^E_i + ω Â(σ_{i,k}, α_{i,k}),   A^E_i = GRPO over the group's episode returns Σ_k r_{i,k}

    States are matched by signature within a group, however they were reached: the structure is a graph
    (see :func:`treecredit.build_state_graph`), not only a tree.

    Special cases: a state visited once, or whose visits all have equal returns, gives Â = 0 exactly;
    with every state visited once RTMC equals turn-level ``grpo`` (for any ω). ω = 0 gives ``grpo``.
    A group of one episode gets A^E = 0. Rewards all zero give exactly 0.
    Paper: RTMC, arXiv 2604.11037.
    Ours (the paper's prior is not public): the pseudo-count shrinkage Q̃ toward V̂ with κ (default 1:
    an action tried once keeps half its deviation); Â is added in return units, not divided by a std;
    γ defaults to 1, so a state's value does not depend on how many turns remain (set γ < 1 to favour
    shorter episodes); the episode outcome is the undiscounted sum of turn rewards.

    Args:
        turns: N turns with state and action signatures.
        gamma: discount γ in [0, 1] for R_k (1: undiscounted).
        kappa: pseudo-count κ ≥ 0 of the shrinkage toward V̂ (0: no smoothing).
        omega: weight ω ≥ 0 of the state-action term.
        norm_by_std: A^E divided by the group's episode-return std + ε.
        epsilon: ε.
    Returns:
        ``(N,)`` float32, one advantage per turn.
    """
    check_positive(kappa, "kappa", allow_zero=True)
    check_positive(omega, "omega", allow_zero=True)
    graph = state_graph_of(turns, gamma=gamma)
    n = graph.edge_visits.astype(np.float64)
    edge_term = n / (n + kappa) * graph.edge_advantage
    episode_term = episode_advantages(turns, norm_by_std=norm_by_std, epsilon=epsilon)[turns.episode_index]
    return (episode_term + omega * edge_term[graph.turn_edge]).astype(np.float32)
