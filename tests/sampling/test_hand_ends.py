"""A segment that ends on a row the speculative schedule's growing rows followed takes the step ends found as its
tokens were drawn (``SpeculativeGrower.HAND_ENDS``) instead of searching its tokens again: the same forest."""

import numpy as np
import pytest
import torch
from tree_helpers import sample_tree, tiny_gpt

from treecredit.sampling.forecast import GrowingRows
from treecredit.sampling.speculate import SpeculativeGrower
from treecredit.tasks import ArithmeticTask

torch.set_num_threads(1)


@pytest.mark.parametrize("seed", [0, 1])
def test_step_ends_handed_from_growing_rows_equal_those_searched_again(seed, monkeypatch):
    policy, task = tiny_gpt(torch.float64), ArithmeticTask(min_operators=1, max_operators=3)
    problems = task.generate(np.random.default_rng(seed), 4)
    handed = []
    real = GrowingRows.ends

    def counted(self, node, segment):
        out = real(self, node, segment)
        handed.append(out is not None)
        return out

    monkeypatch.setattr(GrowingRows, "ends", counted)

    def run(hand: bool):
        monkeypatch.setattr(SpeculativeGrower, "HAND_ENDS", hand)
        return sample_tree(policy, task, problems, group_size=6, seed=seed, max_new_tokens=24, branching="adaptive",
                           branching_options={"chains": 2, "rounds": 3, "max_children": 2}, schedule="speculative")

    searched = run(False)
    assert not handed
    quick = run(True)
    assert any(handed)  # some segments' step ends came from their rows
    for name in ("response_ids", "response_mask", "rewards", "tree_nodes", "group_ids", "old_logprobs", "step_ends"):
        assert torch.equal(getattr(quick, name), getattr(searched, name)), name
    assert quick.extras["uniforms"].equal(searched.extras["uniforms"])
