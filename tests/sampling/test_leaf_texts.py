"""The rollout's response texts of an adaptive tree are the texts its leaves were scored with during the rounds (made
once, :func:`~treecredit.sampling.leaf_scores.leaf_texts`), which are each row's :func:`response_text`."""

import numpy as np
import pytest
import torch
from tree_helpers import sample_tree, tiny_gpt

from treecredit.sampling.leaf_scores import response_text
from treecredit.tasks import ArithmeticTask

torch.set_num_threads(1)


class _Ctx:
    def __init__(self, policy, task) -> None:
        self.policy, self.task = policy, task


@pytest.mark.parametrize("schedule", ["rounds", "speculative"])
def test_packed_texts_are_the_scored_texts_and_each_rows_response_text(schedule, monkeypatch):
    import treecredit.sampling.leaf_scores as leaf_scores
    import treecredit.sampling.tree_pack as tree_pack

    policy, task = tiny_gpt(torch.float32), ArithmeticTask(min_operators=1, max_operators=2)
    problems = task.generate(np.random.default_rng(0), 3)
    decoded = []

    def counted(ctx, ids):
        decoded.append(tuple(ids))
        return response_text(ctx, ids)

    monkeypatch.setattr(leaf_scores, "response_text", counted)
    monkeypatch.setattr(tree_pack, "response_text", counted, raising=False)  # (where the packing made its own)
    rollout = sample_tree(policy, task, problems, group_size=6, max_new_tokens=12, branching="adaptive",
                          branching_options={"chains": 2, "rounds": 3, "max_children": 2}, schedule=schedule)
    lengths = rollout.response_mask.sum(1).tolist()
    rows = [ids[:n] for ids, n in zip(rollout.response_ids.tolist(), lengths)]
    assert rollout.response_texts == [response_text(_Ctx(policy, task), row) for row in rows]
    assert sorted(decoded) == sorted({tuple(row) for row in rows})  # each text made once (was twice: the rounds'
    # scoring, then the packing)
