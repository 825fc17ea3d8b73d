"""treecredit: step-level credit for RL of language models, without a learned critic.

The core turns terminal rewards of grouped responses into per-token advantages::

    import treecredit
    adv = treecredit.compute_advantages("tempo", response_ids=ids, response_mask=mask,
                                        rewards=rewards, group_ids=groups)

Importing the package is light: torch, transformers and plotting are imported only where used.
"""

from treecredit.api import compute_advantages, compute_turn_advantages
from treecredit.registry import estimators, get_estimator, register_estimator
from treecredit.step_text import step_ends_from_text
from treecredit.trees import build_tree
from treecredit.turns import build_state_graph, spread_turn_advantages

__version__ = "0.1.0"

__all__ = [
    "build_state_graph",
    "build_tree",
    "compute_advantages",
    "compute_turn_advantages",
    "estimators",
    "get_estimator",
    "register_estimator",
    "spread_turn_advantages",
    "step_ends_from_text",
]
