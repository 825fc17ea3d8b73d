"""A speculative tree schedule's wasted tokens have one home, ``RolloutBatch.wasted_tokens``: the logged metric
``tree_speculative_wasted_tokens`` is read from it, and ``extras`` holds no second copy that could disagree."""

import numpy as np
import torch
from tree_helpers import tiny_gpt

from treecredit.sampling.branch_stats import sampler_metrics
from treecredit.sampling.rollout import RolloutBatch
from treecredit.sampling.tree import TreeSampler
from treecredit.tasks import CountdownTask

torch.set_num_threads(1)


def _rollout(wasted: int, extras: dict) -> RolloutBatch:
    return RolloutBatch(response_ids=torch.tensor([[3, 4]]), response_mask=torch.ones(1, 2, dtype=torch.bool),
                        rewards=torch.zeros(1), group_ids=torch.zeros(1, dtype=torch.long),
                        old_logprobs=torch.zeros(1, 2), prompt_ids=[[1]], prompt_texts=["p"], response_texts=["r"],
                        problem_index=torch.zeros(1, dtype=torch.long), generated_tokens=2 + wasted,
                        wasted_tokens=wasted, extras=extras)


def test_the_logged_waste_is_the_field():
    # was: sampler_metrics logged extras["speculative_wasted_tokens"], a copy of the field set beside it in
    # sampling/tree.py; a rollout carrying only the field (say one rebuilt by a host) logged no waste
    assert sampler_metrics(_rollout(7, {"speculative_adopted": 2}))["tree_speculative_wasted_tokens"] == 7.0
    assert sampler_metrics(_rollout(0, {"speculative_adopted": 0}))["tree_speculative_wasted_tokens"] == 0.0
    assert "tree_speculative_wasted_tokens" not in sampler_metrics(_rollout(0, {}))  # no speculation, no metric


def test_a_speculative_rollout_keeps_its_waste_in_the_field_only():
    task = CountdownTask()
    problems = task.generate(np.random.default_rng(2), 4)
    sampler = TreeSampler(max_new_tokens=18, temperature=1.0, branching="entropy",
                          branching_options={"chains": 2, "forks": 2, "children": 1}, schedule="speculative")
    rollout = sampler.sample(tiny_gpt(torch.float64, seed=1), task, problems, 6, torch.Generator().manual_seed(11))
    assert "speculative_adopted" in rollout.extras, "this schedule did not speculate: weak test"
    assert "speculative_wasted_tokens" not in rollout.extras
    assert sampler_metrics(rollout)["tree_speculative_wasted_tokens"] == rollout.wasted_tokens
    assert rollout.kept_tokens == rollout.generated_tokens - rollout.wasted_tokens
