"""The multi-turn state graph of a batch of episodes, as flat arrays.

A *node* is a distinct (group, state signature): a state reached by different paths, in different
episodes or at different turns, is ONE node. An *edge* is a distinct (node, action signature): the
action taken in that state. Every turn visits one node and one edge; ``turn_next_node`` links a turn to
the node of the next turn of its episode, so the graph's transitions can be read off too.

Index convention: ``_node`` nodes, ``_edge`` (state, action) edges, ``_turn`` input rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from treecredit._validation import check_positive, fail
from treecredit.groups import centered, group_mean
from treecredit.turns.batch import TurnBatch, make_turn_batch


def discounted_returns(turns: TurnBatch, gamma: float) -> np.ndarray:
    """``(N,)`` float64 returns R_k = Σ_l γ^l r_{k+l} over the rest of each turn's episode.

    Computed backwards one turn position at a time, vectorised across episodes (K_max passes).
    """
    order = turns.episode_order
    rewards = turns.rewards[order]
    episode = turns.episode_index[order]
    has_next = np.zeros(order.size, dtype=bool)
    has_next[:-1] = episode[1:] == episode[:-1]
    position = turns.turn_index[order]
    returns = rewards.copy()
    if order.size == 0:
        return returns
    by_position = np.argsort(position, kind="stable")
    bounds = np.searchsorted(position[by_position], np.arange(int(position.max()) + 2))
    for k in range(int(position.max()), -1, -1):
        rows = by_position[bounds[k]: bounds[k + 1]]
        rows = rows[has_next[rows]]
        returns[rows] += gamma * returns[rows + 1]
    out = np.empty_like(returns)
    out[order] = returns
    return out


@dataclass(frozen=True)
class StateGraph:
    """Nodes (group, state), edges (state, action) and their Monte Carlo statistics.

    Attributes:
        node_group: ``(n_nodes,)`` group of each node.
        node_state: ``(n_nodes,)`` factorised state id of each node (see ``state_signatures``).
        node_visits: ``(n_nodes,)`` number of turns that visit the node.
        node_value: ``(n_nodes,)`` V̂(σ) = mean return R_k over the node's visits.
        edge_node: ``(n_edges,)`` the node an edge leaves.
        edge_action: ``(n_edges,)`` factorised action id of each edge (see ``action_signatures``).
        edge_visits: ``(n_edges,)`` n(σ, α), turns that took the action in the state.
        edge_value: ``(n_edges,)`` Q̂(σ, α) = mean return over those turns.
        edge_advantage: ``(n_edges,)`` Q̂ − V̂ of the edge's node; exactly 0 when all returns at the node
            are equal (so a state visited once gives 0).
        turn_node: ``(N,)`` the node each turn visits.
        turn_edge: ``(N,)`` the edge each turn takes.
        turn_next_node: ``(N,)`` the node of the episode's next turn, −1 after its last turn.
        turn_return: ``(N,)`` R_k = Σ_l γ^l r_{k+l}.
        state_signatures, action_signatures: the original signatures behind the factorised ids.
        gamma: the discount γ used for the returns.
    """

    node_group: np.ndarray
    node_state: np.ndarray
    node_visits: np.ndarray
    node_value: np.ndarray
    edge_node: np.ndarray
    edge_action: np.ndarray
    edge_visits: np.ndarray
    edge_value: np.ndarray
    edge_advantage: np.ndarray
    turn_node: np.ndarray
    turn_edge: np.ndarray
    turn_next_node: np.ndarray
    turn_return: np.ndarray
    state_signatures: np.ndarray
    action_signatures: np.ndarray
    gamma: float

    @property
    def n_nodes(self) -> int:
        return int(self.node_group.shape[0])

    @property
    def n_edges(self) -> int:
        return int(self.edge_node.shape[0])


def _dense_pairs(major: np.ndarray, minor: np.ndarray, n_minor: int) -> tuple[np.ndarray, np.ndarray]:
    """Dense ids of (major, minor) pairs, sorted by (major, minor); returns (ids, unique keys)."""
    keys, ids = np.unique(major * max(n_minor, 1) + minor, return_inverse=True)
    return ids.reshape(-1).astype(np.int64), keys


def state_graph_of(turns: TurnBatch, *, gamma: float = 1.0) -> StateGraph:
    """Build the :class:`StateGraph` of a validated :class:`TurnBatch` (returns discounted by ``gamma``)."""
    check_positive(gamma, "gamma", allow_zero=True)
    if gamma > 1:  # a discount: later rewards count less, never more (1 = undiscounted)
        fail("gamma", f"is {gamma!r}, a discount must be in [0, 1]", "pass e.g. gamma=1.0 (undiscounted) or 0.95")
    n_states = turns.state_signatures.shape[0]
    n_actions = turns.action_signatures.shape[0]
    turn_node, node_keys = _dense_pairs(turns.group_index, turns.state_index, n_states)
    turn_edge, edge_keys = _dense_pairs(turn_node, turns.action_index, n_actions)
    n_nodes, n_edges = node_keys.size, edge_keys.size
    returns = discounted_returns(turns, gamma)
    # Deviations from the node mean, exactly 0 at a node whose returns are all equal.
    deviation = centered(returns, turn_node, n_nodes)
    edge_node = (edge_keys // max(n_actions, 1)).astype(np.int64)

    order = turns.episode_order
    next_node = np.full(turns.n_turns, -1, dtype=np.int64)
    if order.size:
        same = turns.episode_index[order[1:]] == turns.episode_index[order[:-1]]
        next_node[order[:-1][same]] = turn_node[order[1:][same]]
    return StateGraph(
        node_group=(node_keys // max(n_states, 1)).astype(np.int64),
        node_state=(node_keys % max(n_states, 1)).astype(np.int64),
        node_visits=np.bincount(turn_node, minlength=n_nodes).astype(np.int64),
        node_value=group_mean(returns, turn_node, n_nodes),
        edge_node=edge_node,
        edge_action=(edge_keys % max(n_actions, 1)).astype(np.int64),
        edge_visits=np.bincount(turn_edge, minlength=n_edges).astype(np.int64),
        edge_value=group_mean(returns, turn_edge, n_edges),
        edge_advantage=group_mean(deviation, turn_edge, n_edges),
        turn_node=turn_node,
        turn_edge=turn_edge,
        turn_next_node=next_node,
        turn_return=returns,
        state_signatures=turns.state_signatures,
        action_signatures=turns.action_signatures,
        gamma=float(gamma),
    )


def build_state_graph(*, group_ids: Any, episode_ids: Any, turn_index: Any, state_sigs: Any, action_sigs: Any,
                      rewards: Any, gamma: float = 1.0) -> StateGraph:
    """The inspectable multi-turn state graph of a batch of episodes.

    Takes the arguments of :func:`treecredit.compute_turn_advantages` and returns a :class:`StateGraph`:
    one node per distinct (group, state signature), however the state was reached; V̂ per node, Q̂ and
    Q̂ − V̂ per (state, action) edge, with returns R_k = Σ_l γ^l r_{k+l}. This is the graph ``rtmc`` reads.

    Example::

        g = treecredit.build_state_graph(group_ids=[0, 0, 0, 0], episode_ids=[0, 0, 1, 1],
                                         turn_index=[0, 1, 0, 1], state_sigs=["s", "t", "s", "t"],
                                         action_sigs=["a", "b", "c", "b"], rewards=[0, 1, 0, 0])
        g.node_visits   # [2, 2]: "t" is one node, reached after "a" and after "c"
    """
    turns = make_turn_batch(group_ids, episode_ids, turn_index, state_sigs, action_sigs, rewards)
    return state_graph_of(turns, gamma=gamma)
