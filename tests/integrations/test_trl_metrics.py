"""treecredit's metrics in TRL's logs: computed from the generation batch, and reaching ``log_history``."""

import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("trl")

sys.path.insert(0, str(Path(__file__).parent))

from test_trl_tree import TREE, _args, _train  # noqa: E402

from treecredit.integrations._trl_metrics import rollout_metrics  # noqa: E402


def test_metrics_of_a_hand_built_batch():
    # two groups of two rows; group 0 shares its first two tokens (nodes 0), group 1 grew two chains
    mask = np.array([[1, 1, 1, 0], [1, 1, 1, 1], [1, 1, 0, 0], [1, 1, 1, 0]])
    nodes = np.array([[0, 0, 1, -1], [0, 0, 2, 2], [3, 3, -1, -1], [4, 4, 4, -1]])
    advantages = np.array([[1.0, -1.0, 2.0, 9.0], [0.0, 0.0, 0.0, 4.0], [1.0, 1.0, 7.0, 7.0], [0, 0, 0, 0]])
    ids = np.ones((4, 4), dtype=np.int64)
    tree = rollout_metrics(advantages, ids, mask, num_generations=2, tree_nodes=nodes,
                           step_options={"tree_nodes": nodes})
    assert tree == {"treecredit/response_tokens": 12.0,
                    "treecredit/generated_tokens": 10.0,  # the two shared tokens of group 0 once
                    "treecredit/adv_abs_mean": (1 + 1 + 2 + 4 + 1 + 1) / 12,
                    "treecredit/branched_groups": 0.5,
                    "treecredit/steps_per_response": (2 + 2 + 1 + 1) / 4}
    iid = rollout_metrics(advantages, ids, mask, num_generations=2)
    assert iid == {"treecredit/response_tokens": 12.0, "treecredit/generated_tokens": 12.0,
                   "treecredit/adv_abs_mean": (1 + 1 + 2 + 4 + 1 + 1) / 12}
    blocks = rollout_metrics(advantages, ids, mask, num_generations=2, step_options={"step_tokens": 2})
    assert blocks["treecredit/steps_per_response"] == (2 + 2 + 1 + 2) / 4  # a last token closes a step too
    ids[0, 0] = 7
    delimiter = rollout_metrics(advantages, ids, mask, num_generations=2, step_options={"delimiter": [7]})
    assert delimiter["treecredit/steps_per_response"] == (2 + 1 + 1 + 1) / 4


def _logged(trainer) -> dict:
    rows = [row for row in trainer.state.log_history if "loss" in row]
    assert rows, "TRL logged no training step"
    return rows[0]


def test_tree_metrics_reach_trls_log_history(tmp_path):
    trainer = _train(tmp_path, sampler="tree", branching="fixed", branching_options=TREE,
                     args=_args(tmp_path, logging_steps=1))
    logged, batch = _logged(trainer), trainer.generated[0]
    expected = rollout_metrics(batch["advantages"], batch["completion_ids"], batch["completion_mask"],
                               num_generations=4, tree_nodes=batch["tree_nodes"],
                               step_options={"tree_nodes": batch["tree_nodes"]})
    assert set(expected) <= set(logged)
    for key, value in expected.items():
        assert logged[key] == pytest.approx(value, rel=1e-6), key
    assert logged["treecredit/branched_groups"] > 0
    assert logged["treecredit/generated_tokens"] < logged["treecredit/response_tokens"]  # shared prefixes
    assert logged["treecredit/steps_per_response"] > 1 and logged["treecredit/adv_abs_mean"] > 0


def test_iid_metrics_and_a_step_pattern_that_never_matches(tmp_path):
    with pytest.warns(UserWarning, match=r"The pattern 'zz' matched nowhere.*the first one ends with '") as said:
        trainer = _train(tmp_path, step_pattern="zz", args=_args(tmp_path, logging_steps=1))
    assert not any("BPE" in str(w.message) for w in said)
    logged = _logged(trainer)
    assert logged["treecredit/generated_tokens"] == logged["treecredit/response_tokens"] > 0
    assert logged["treecredit/steps_per_response"] == 1.0  # the pattern found none: one step each
    assert "treecredit/branched_groups" not in logged
