"""Multi-turn episodes: the validated turn batch, the state graph, and spreading turn credit to tokens."""

from treecredit.turns.batch import TurnBatch, factorize_signatures, make_turn_batch
from treecredit.turns.graph import StateGraph, build_state_graph, discounted_returns, state_graph_of
from treecredit.turns.spread import spread_turn_advantages

__all__ = [
    "StateGraph",
    "TurnBatch",
    "build_state_graph",
    "discounted_returns",
    "factorize_signatures",
    "make_turn_batch",
    "spread_turn_advantages",
    "state_graph_of",
]
