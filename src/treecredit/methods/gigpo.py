"""GiGPO, group-in-group policy optimisation: episode-level plus anchor-state-level relative advantages."""

from __future__ import annotations

import numpy as np

from treecredit._validation import check_positive
from treecredit.groups import centered, divide_or_zero, group_std
from treecredit.methods.turn_outcome import episode_advantages
from treecredit.registry import register_estimator
from treecredit.turns import TurnBatch, state_graph_of


@register_estimator("gigpo", level="turn", requires=("turns",))
def gigpo(turns: TurnBatch, *, gamma: float = 0.95, omega: float = 1.0, norm_by_std: bool = True,
          epsilon: float = 1e-6) -> np.ndarray:
    """GiGPO: the episode's group advantage plus the step's advantage among turns from the same state.

    A^E_i = (R_i − μ_g) / F_g,   R_i = Σ_k r_{i,k}
    A^S_{i,k} = (R^γ_{i,k} − mean{R^γ of the group's turns with the same anchor state}) / F_s
    A_{i,k} = A^E_i + ω A^S_{i,k},   R^γ_k = Σ_l γ^l r_{k+l},   F = σ + ε (Bessel) or 1 without ``norm_by_std``

    The anchor-state group of a turn is its node of the state graph (same group, identical state
    signature), whatever the episode or turn position.

    Special cases: a state visited once (a step group of one), or whose returns are all equal, gets
    A^S = 0 exactly; ω = 0 gives turn-level ``grpo``. Paper: GiGPO, arXiv 2505.10978 (γ = 0.95, ω = 1).
    Ours: R_i is the undiscounted sum of turn rewards; each term is normalised by the std of its own
    group (episodes for A^E, the anchor-state step group for A^S).

    Args:
        turns: N turns with state signatures (action signatures are not used).
        gamma: discount γ in [0, 1] of the step returns.
        omega: weight ω ≥ 0 of the step term.
        norm_by_std: F = σ + ε; False gives F = 1.
        epsilon: ε.
    Returns:
        ``(N,)`` float32, one advantage per turn.
    """
    check_positive(omega, "omega", allow_zero=True)
    check_positive(epsilon, "epsilon", allow_zero=True)
    graph = state_graph_of(turns, gamma=gamma)
    step = centered(graph.turn_return, graph.turn_node, graph.n_nodes)
    if norm_by_std:
        spread = group_std(graph.turn_return, graph.turn_node, graph.n_nodes)[graph.turn_node]
        step = divide_or_zero(step, spread + epsilon)
    episode_term = episode_advantages(turns, norm_by_std=norm_by_std, epsilon=epsilon)[turns.episode_index]
    return (episode_term + omega * step).astype(np.float32)
