"""Subtree replay: stored subtrees rejoin their problem's group with truncated importance weights."""

import numpy as np
import pytest
import torch
from tree_helpers import check_tree_nodes, tiny_gpt

from treecredit.sampling.replay import SubtreeReplay
from treecredit.sampling.tree import TreeSampler
from treecredit.tasks import ArithmeticTask

torch.set_num_threads(1)


def _two_calls(change_policy: bool, max_weight=2.0):
    policy = tiny_gpt(torch.float32)
    task = ArithmeticTask(min_operators=1, max_operators=2)
    problems = task.generate(np.random.default_rng(0), 3)
    sampler = TreeSampler(max_new_tokens=14, branching="entropy", replay_leaves=2, replay_max_weight=max_weight)
    first = sampler.sample(policy, task, problems, 8, torch.Generator().manual_seed(0))
    if change_policy:
        with torch.no_grad():
            for p in policy.module.parameters():
                p.add_(0.05 * torch.randn(p.shape, generator=torch.Generator().manual_seed(1)))
    second = sampler.sample(policy, task, problems, 8, torch.Generator().manual_seed(1))
    return policy, first, second


def test_weights_are_exactly_one_when_the_policy_has_not_changed():
    policy, first, second = _two_calls(change_policy=False)
    assert first.row_weights is None  # nothing stored yet
    w = second.row_weights
    replayed = torch.tensor([s == "replayed" for s in second.extras["leaf_status"]])
    assert second.extras["replayed_rows"] == int(replayed.sum()) > 0
    assert (w == 1.0).all()
    check_tree_nodes(second)
    assert torch.bincount(second.group_ids).tolist() == [8, 8, 8]
    assert second.generated_tokens < first.generated_tokens  # replayed leaves cost no generation
    # replayed rows are the first call's first root subtree, with its rewards
    for row in torch.nonzero(replayed).flatten().tolist():
        text = second.response_texts[row]
        g = int(second.group_ids[row])
        assert text in [first.response_texts[i] for i in range(first.shape[0]) if int(first.group_ids[i]) == g]
    with torch.no_grad():
        logp, _ = policy.token_logprobs(second.prompt_ids, second.response_ids)
    torch.testing.assert_close(logp * second.response_mask, second.old_logprobs, atol=1e-5, rtol=1e-5)


def test_weights_move_and_are_truncated_when_the_policy_changed():
    _, _, second = _two_calls(change_policy=True, max_weight=1.5)
    replayed = torch.tensor([s == "replayed" for s in second.extras["leaf_status"]])
    w = second.row_weights
    assert (w[~replayed] == 1).all()
    assert (w[replayed] != 1).any() and (w <= 1.5).all() and (w > 0).all()


def test_bad_replay_options():
    with pytest.raises(ValueError, match="^max_weight: .*Fix: "):
        SubtreeReplay(max_weight=0.5)
    with pytest.raises(ValueError, match="^reuse_leaves: .*Fix: "):
        SubtreeReplay(reuse_leaves=0)
    with pytest.raises(ValueError, match="^max_weight: .*Fix: "):
        TreeSampler(replay_leaves=2, replay_max_weight=0.9)
