import numpy as np
import pytest
import torch

import treecredit
from treecredit.models import GPTPolicy
from treecredit.sampling import IIDSampler, sample_next
from treecredit.tasks import ArithmeticTask

torch.set_num_threads(1)


def _setup():
    policy = GPTPolicy.build(seed=0, n_layer=2, n_head=2, n_embd=32, max_len=64)
    task = ArithmeticTask(min_operators=1, max_operators=2)
    return policy, task, task.generate(np.random.default_rng(0), 3)


def _sample(policy, task, problems, seed, **kw):
    return IIDSampler(max_new_tokens=10, **kw).sample(policy, task, problems, 4, torch.Generator().manual_seed(seed))


def test_sampler_is_deterministic_for_a_seed():
    policy, task, problems = _setup()
    a, b, c = (_sample(policy, task, problems, s) for s in (7, 7, 8))
    assert torch.equal(a.response_ids, b.response_ids) and torch.equal(a.old_logprobs, b.old_logprobs)
    assert not torch.equal(a.response_ids, c.response_ids)


def test_rollout_batch_layout():
    policy, task, problems = _setup()
    r = _sample(policy, task, problems, 0)
    B, T = r.shape
    assert B == 12 and T <= 10
    assert r.group_ids.tolist() == [0] * 4 + [1] * 4 + [2] * 4
    assert r.response_mask[:, 0].all()
    assert (r.response_ids[~r.response_mask] == policy.pad_id).all()
    assert (r.old_logprobs[~r.response_mask] == 0).all() and (r.old_logprobs[r.response_mask] < 0).all()
    assert len(r.response_texts) == B == len(r.prompt_ids)
    assert r.generated_tokens == int(r.response_mask.sum())
    adv = treecredit.compute_advantages("grpo", **r.estimator_inputs())
    assert adv.shape == (B, T)
    # old log-probs are the policy's teacher-forced log-probs of the sampled tokens
    with torch.no_grad():
        logp, _ = policy.token_logprobs(r.prompt_ids, r.response_ids)
    torch.testing.assert_close(logp * r.response_mask, r.old_logprobs, atol=1e-5, rtol=1e-5)


def test_step_ends_sit_on_delimiters():
    policy, task, problems = _setup()
    r = _sample(policy, task, problems, 1)
    delim = {policy.encode("=")[0], policy.encode(";")[0]}
    for row in range(r.shape[0]):
        ids = r.response_ids[row][r.response_mask[row]].tolist()
        want = [i in delim for i in ids]
        assert r.step_ends[row, : len(ids)].tolist() == want


def test_greedy_and_top_p():
    logits = torch.tensor([[0.0, 1.0, 3.0], [2.0, 0.0, 0.0]])
    g = torch.Generator().manual_seed(0)
    assert sample_next(logits, 0.0, 1.0, g).tolist() == [2, 0]
    # a tiny nucleus keeps only the top token
    for _ in range(20):
        assert sample_next(logits, 1.0, 0.05, g).tolist() == [2, 0]


@pytest.mark.parametrize("kw, arg", [({"top_p": 0.0}, "top_p"), ({"temperature": -1.0}, "temperature"),
                                     ({"max_new_tokens": 0}, "max_new_tokens")])
def test_bad_sampler_options(kw, arg):
    with pytest.raises(ValueError, match=f"^{arg}: .*Fix: "):
        IIDSampler(**kw)
