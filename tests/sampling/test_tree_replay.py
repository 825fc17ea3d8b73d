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
    with pytest.raises(ValueError, match="^replay_max_weight: is 0.9, must be a finite number ≥ 1.*--replay-max"):
        TreeSampler(replay_leaves=2, replay_max_weight=0.9)


def _full_forward_logq(policy, prompts, ids, mask, temperature, top_p):
    """Σ_t log q(y_t) by one full forward (not the backend's incremental path), q = π^(1/τ) in the nucleus."""
    from treecredit.sampling.policy import teacher_forcing_inputs

    with torch.no_grad():
        x, valid, positions, width = teacher_forcing_inputs(prompts, ids, policy.pad_id)
        logits, _ = policy.model(x, positions, valid)
    logits = logits[:, width - 1: width - 1 + ids.shape[1]].double()
    probs = torch.softmax(logits / temperature, -1)
    sorted_p, order = probs.sort(-1, descending=True)
    keep_sorted = (sorted_p.cumsum(-1) - sorted_p) < top_p
    keep = torch.zeros_like(keep_sorted).scatter(-1, order, keep_sorted)
    q = torch.where(keep, probs, 0.0)
    q = q / q.sum(-1, keepdim=True)
    logq = q.gather(-1, ids[..., None]).squeeze(-1).log()
    base = torch.log_softmax(logits, -1).gather(-1, ids[..., None]).squeeze(-1)
    return (logq * mask).sum(1), (base * mask).sum(1)


def test_replay_weights_use_the_sampled_distribution_at_temperature_and_top_p():
    """Issue 8: at τ = 0.5, top-p 0.9 the weight is q_now/q_then of the distribution sampled from, not π's."""
    import copy

    policy = tiny_gpt(torch.float64)
    task = ArithmeticTask(min_operators=1, max_operators=2)
    problems = task.generate(np.random.default_rng(0), 3)
    sampler = TreeSampler(max_new_tokens=14, temperature=0.5, top_p=0.9, branching="entropy", replay_leaves=2,
                          replay_max_weight=1e9)
    sampler.sample(policy, task, problems, 8, torch.Generator().manual_seed(0))
    stored = copy.deepcopy(sampler.replay.store)
    then = {key: _full_forward_logq(policy, e["prompts"], e["ids"], e["mask"], 0.5, 0.9) for key, e in stored.items()}
    with torch.no_grad():
        for p in policy.module.parameters():
            p.add_(0.2 * torch.randn(p.shape, generator=torch.Generator().manual_seed(1), dtype=p.dtype))
    second = sampler.sample(policy, task, problems, 8, torch.Generator().manual_seed(1))
    replayed = [s == "replayed" for s in second.extras["leaf_status"]]
    naive_differs = False
    for g, problem in enumerate(problems):
        e = stored[problem.prompt]
        now = _full_forward_logq(policy, e["prompts"], e["ids"], e["mask"], 0.5, 0.9)
        want = (now[0] - then[problem.prompt][0]).exp()
        naive = (now[1] - then[problem.prompt][1]).exp()
        rows = [i for i in range(second.shape[0]) if replayed[i] and int(second.group_ids[i]) == g]
        got = second.row_weights[rows].double()
        torch.testing.assert_close(got, want, rtol=1e-5, atol=0)
        naive_differs |= bool((naive / want - 1).abs().max() > 0.05)
    assert naive_differs  # the temperature-1 weight would have been wrong here


def test_replay_store_survives_a_checkpoint():
    """state_dict → fresh sampler → load_state_dict: the next call equals the uninterrupted run's."""
    import io

    policy = tiny_gpt(torch.float32)
    task = ArithmeticTask(min_operators=1, max_operators=2)
    problems = task.generate(np.random.default_rng(0), 3)

    def make():
        return TreeSampler(max_new_tokens=14, branching="entropy", replay_leaves=2)

    a = make()
    a.sample(policy, task, problems, 8, torch.Generator().manual_seed(0))
    buffer = io.BytesIO()
    torch.save(a.state_dict(), buffer)
    straight = a.sample(policy, task, problems, 8, torch.Generator().manual_seed(1))
    b = make()
    buffer.seek(0)
    b.load_state_dict(torch.load(buffer, weights_only=True))
    resumed = b.sample(policy, task, problems, 8, torch.Generator().manual_seed(1))
    assert straight.extras["replayed_rows"] > 0
    assert torch.equal(straight.response_ids, resumed.response_ids)
    assert torch.equal(straight.row_weights, resumed.row_weights)
    assert torch.equal(straight.tree_nodes, resumed.tree_nodes)
    with pytest.raises(ValueError, match="^state: .*Fix: "):
        TreeSampler().load_state_dict(a.state_dict())
    with pytest.raises(ValueError, match="^state: .*Fix: "):
        make().load_state_dict({"nonsense": 1})
    assert TreeSampler().state_dict() == {"replay": None}
