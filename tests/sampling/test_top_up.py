"""The fixed tree's first top-up round runs chain by chain, as chains end early, and grows the same forest."""

import numpy as np
import pytest
import torch
from test_segment_rounds import _same_rollout
from tree_helpers import check_tree_nodes, tiny_gpt

from treecredit.sampling.branching import FixedBranching
from treecredit.sampling.kv_backend import KVCacheBackend
from treecredit.sampling.tree import TreeSampler
from treecredit.tasks import ArithmeticTask, CountdownTask

torch.set_num_threads(1)
REFILL = FixedBranching.refill

CASES = [  # (task, branching options, cutoff, max_new_tokens)
    (CountdownTask(), {}, "off", 16),  # a random model: many chains stop before their fork points
    (ArithmeticTask(min_operators=1, max_operators=3), {"depth": 3}, "off", 18),
    (ArithmeticTask(min_operators=1, max_operators=3), {"every": 3, "top_up": 2}, "any", 14),  # pruned leaves
]


def _sample(policy, task, problems, schedule, options, cutoff, tokens, at_once: bool, monkeypatch):
    refills = []

    def counted(self, forest, node):
        k = REFILL(self, forest, node) if at_once else 0
        refills.append(k)
        return k

    monkeypatch.setattr(FixedBranching, "refill", counted)
    backend = KVCacheBackend(policy)
    rollout = TreeSampler(max_new_tokens=tokens, branching_options=options, cutoff=cutoff, schedule=schedule).sample(
        policy, task, problems, 8, torch.Generator().manual_seed(7), backend=backend)
    assert backend.kept == {}
    return rollout, sum(k > 0 for k in refills)


@pytest.mark.parametrize("schedule", ["rounds", "auto"])
@pytest.mark.parametrize("task, options, cutoff, tokens", CASES)
def test_top_up_at_once_grows_the_forest_of_the_round_after_the_phase(task, options, cutoff, tokens, schedule,
                                                                      monkeypatch):
    """Refilling each chain as it ends gives, token for token, the forest that one top-up round after the
    group's chains have ended gives (float64), in no more ``generate`` calls (rounds) or model steps."""
    policy = tiny_gpt(torch.float64, seed=3)
    problems = task.generate(np.random.default_rng(0), 3)
    after, none = _sample(policy, task, problems, schedule, options, cutoff, tokens, False, monkeypatch)
    now, refilled = _sample(policy, task, problems, schedule, options, cutoff, tokens, True, monkeypatch)
    assert none == 0 < refilled  # some chains did stop early, and were refilled at once
    _same_rollout(now, after)
    check_tree_nodes(now)
    assert now.extras["rounds"] <= after.extras["rounds"]
    if schedule == "rounds":
        assert now.extras["decode_steps"] <= after.extras["decode_steps"]


def test_top_up_at_once_saves_rounds(monkeypatch):
    """Rounds backend: a chain that stops early gets its refills in the phase's next round, not in a round
    after the phase: fewer ``generate`` calls where chains stop before the phase's longest."""
    policy = tiny_gpt(torch.float64, seed=3)
    calls = {}
    for at_once in (False, True):
        calls[at_once] = [_sample(policy, task, task.generate(np.random.default_rng(0), 3), "rounds", options, cutoff,
                                  tokens, at_once, monkeypatch)[0].extras["rounds"]
                          for task, options, cutoff, tokens in CASES]
    assert all(a <= b for a, b in zip(calls[True], calls[False])) and sum(calls[True]) < sum(calls[False])
