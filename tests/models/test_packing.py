"""The packed (prefix-shared) update equals the row layout: log-probs, entropies, loss and gradients."""

import numpy as np
import pytest
import torch

from treecredit.models import GPTPolicy
from treecredit.models.packing import pack_rows, packed_inputs, response_lengths
from treecredit.training.loss import ppo_loss

torch.set_num_threads(1)


def gpt_policy():
    return GPTPolicy.build(seed=0, n_layer=2, n_head=2, n_embd=32)


def hf_policy(kind="llama"):
    pytest.importorskip("transformers")
    from hf_tiny import tiny_hf_policy

    return tiny_hf_policy(kind)


POLICIES = {"gpt": gpt_policy, "llama": hf_policy, "gpt2": lambda: hf_policy("gpt2")}


def random_tree_rows(rng, vocab, n_groups, leaves, max_len, tree=True):
    """Rows of random trees (segments shared by several leaves, leaves ending at different depths) or of
    i.i.d. groups, with prompts of different lengths per group; returns prompts, ids, mask, groups."""
    prompts, rows, groups = [], [], []
    for g in range(n_groups):
        prompt = [1] + rng.integers(3, vocab, size=int(rng.integers(1, 7))).tolist()
        if tree:
            paths = [[]]
            while len(paths) < leaves:
                parent = paths[int(rng.integers(len(paths)))]
                seg = rng.integers(3, vocab, size=int(rng.integers(1, 4))).tolist()
                paths.append(parent + seg)
            responses = [p + rng.integers(3, vocab, size=int(rng.integers(1, 3))).tolist() for p in paths]
        else:
            responses = [rng.integers(3, vocab, size=int(rng.integers(1, max_len))).tolist() for _ in range(leaves)]
        for r in responses:
            prompts.append(prompt)
            rows.append(r[:max_len])
            groups.append(g)
    T = max(len(r) for r in rows)
    ids = torch.zeros((len(rows), T), dtype=torch.long)
    mask = torch.zeros((len(rows), T), dtype=torch.bool)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(r)
        mask[i, : len(r)] = True
    mask[0, 0] = False  # a masked (tool) token inside a response stays part of the prefix
    return prompts, ids, mask, torch.tensor(groups)


def both_layouts(policy, prompts, ids, mask, groups, **kw):
    out = {}
    for layout in ("rows", "packed"):
        policy.module.zero_grad(set_to_none=True)
        logp, ent = policy.token_logprobs(prompts, ids, layout=layout, groups=groups, response_mask=mask, **kw)
        old = logp.detach() + 0.05 * torch.randn(logp.shape, generator=torch.Generator().manual_seed(1))
        adv = torch.randn(logp.shape, generator=torch.Generator().manual_seed(2))
        loss, _ = ppo_loss(logp, old, adv, mask, entropy=ent, entropy_coef=0.01)
        loss.backward()
        grads = [p.grad.clone() for p in policy.module.parameters() if p.grad is not None]
        out[layout] = (logp.detach(), ent.detach(), loss.detach(), grads)
    return out


def assert_agree(out, mask):
    (lr, er, loss_r, gr), (lp, ep, loss_p, gp) = out["rows"], out["packed"]
    torch.testing.assert_close(lp[mask], lr[mask], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(ep[mask], er[mask], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(loss_p, loss_r, atol=1e-6, rtol=1e-5)
    assert len(gp) == len(gr)
    for a, b in zip(gp, gr):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-4)


@pytest.mark.parametrize("family", sorted(POLICIES))
@pytest.mark.parametrize("tree", [True, False])
def test_packed_equals_rows(family, tree):
    policy = POLICIES[family]()
    rng = np.random.default_rng(3 + tree)
    prompts, ids, mask, groups = random_tree_rows(rng, min(policy.vocab_size, 20), 3, 5, 9, tree=tree)
    valid = mask | (torch.arange(ids.shape[1])[None] < response_lengths(mask)[:, None])
    assert_agree(both_layouts(policy, prompts, ids, mask, groups), valid)


@pytest.mark.parametrize("family", ["gpt", "llama"])
def test_packed_equals_rows_with_temperature_and_top_p(family):
    policy = POLICIES[family]()
    prompts, ids, mask, groups = random_tree_rows(np.random.default_rng(5), 20, 2, 4, 6)
    valid = torch.arange(ids.shape[1])[None] < response_lengths(mask)[:, None]
    assert_agree(both_layouts(policy, prompts, ids, mask, groups, temperature=0.7, top_p=0.9), valid)


def test_minibatch_that_splits_a_tree():
    """Rows of one tree in two minibatches: each minibatch's packed log-probs equal its row log-probs."""
    policy = gpt_policy()
    prompts, ids, mask, groups = random_tree_rows(np.random.default_rng(7), 20, 2, 6, 9)
    for rows in (torch.tensor([0, 2, 7, 9]), torch.tensor([1, 3, 4, 5, 6, 8, 10, 11])):
        sub = [prompts[i] for i in rows.tolist()]
        out = both_layouts(policy, sub, ids[rows], mask[rows], groups[rows])
        valid = torch.arange(ids.shape[1])[None] < response_lengths(mask[rows])[:, None]
        assert_agree(out, valid)


def test_tree_with_leaves_at_different_depths_shares_every_segment():
    # one prompt [1, 5]; leaves: a; a b c; a b d; a e  (depths 1, 3, 3, 2)
    prompts = [[1, 5]] * 4
    ids = torch.tensor([[6, 0, 0], [6, 7, 8], [6, 7, 9], [6, 10, 0]])
    mask = ids > 0
    packed = pack_rows(prompts, ids, response_lengths(mask), [0] * 4, pad_id=0)
    # nodes: 1, 5, 6, 7, 8, 9, 10 — each shared token computed once
    assert packed.nodes == 7 and packed.row_tokens == 2 * 4 + 9
    assert packed.ids.shape == (1, 32) and (packed.ids[0, 7:] == 0).all()  # padded to one attention block
    assert sorted(packed.ids[0, :7].tolist()) == [1, 5, 6, 7, 8, 9, 10]
    pos = dict(zip(packed.ids[0, :7].tolist(), packed.positions[0, :7].tolist()))
    assert pos == {1: 0, 5: 1, 6: 2, 7: 3, 8: 4, 9: 4, 10: 3}
    attend = packed.attend.dense()[0]
    assert (attend[7:, 7:] == torch.eye(25, dtype=torch.bool)).all() and not attend[7:, :7].any()
    col = {t: i for i, t in enumerate(packed.ids[0, :7].tolist())}
    assert attend[col[9]].nonzero().flatten().tolist() == sorted(col[t] for t in (1, 5, 6, 7, 9))
    assert not attend[col[10], col[7]]  # a sibling branch is not an ancestor
    assert (packed.source[0, 1:] == -1).all() and (packed.source[3, 2:] == -1).all()
    policy = gpt_policy()
    assert_agree(both_layouts(policy, prompts, ids, mask, torch.zeros(4)), mask)


def test_packing_skips_padding_and_defaults():
    prompts = [[1, 4], [1, 4], [1, 4, 4]]
    ids = torch.tensor([[5, 6, 0, 0], [5, 7, 0, 0], [5, 0, 0, 0]])
    packed = packed_inputs(prompts, ids, 0, response_mask=ids > 0)  # packs by equal prompts
    assert packed.ids.shape == (1, 32) and packed.nodes == (2 + 3) + (3 + 1)
    with pytest.raises(ValueError, match="prompts"):
        pack_rows([[]], ids[:1], [1], [0], 0)
    with pytest.raises(ValueError, match="layout"):
        gpt_policy().token_logprobs(prompts, ids, layout="trie")


def test_temperature_changes_the_distribution_and_ratio_is_one_after_sampling():
    """The sampler's stored log-probs (its tempered, nucleus distribution) equal the loss side's."""
    from treecredit.models.packing import tempered_logprobs

    logits = torch.randn(4, 11, generator=torch.Generator().manual_seed(0))
    logp, norm, inside = tempered_logprobs(logits, 0.5, 0.8)
    p = torch.softmax(logits / 0.5, -1)
    sorted_p, order = p.sort(-1, descending=True)
    keep = (sorted_p.cumsum(-1) - sorted_p) < 0.8
    want = torch.zeros_like(p).scatter(-1, order, sorted_p * keep)
    want = want / want.sum(-1, keepdim=True)
    torch.testing.assert_close((logp - norm[:, None]).exp() * inside, want)


def test_packed_equals_rows_with_lora_adapters():
    pytest.importorskip("peft")
    from treecredit.models.hf_load import add_lora

    policy = hf_policy()
    policy.model = add_lora(policy.model, 4)
    for name, param in policy.model.named_parameters():
        if "lora_B" in name:  # non-zero adapters, so that they change the numbers
            torch.nn.init.normal_(param, std=0.1)
    assert policy._keeps_logits()  # peft forwards logits_to_keep to the base model
    prompts, ids, mask, groups = random_tree_rows(np.random.default_rng(4), 20, 2, 4, 7)
    valid = torch.arange(ids.shape[1])[None] < response_lengths(mask)[:, None]
    assert_agree(both_layouts(policy, prompts, ids, mask, groups), valid)


def test_tries_share_one_sequence_and_never_see_each_other():
    # three groups' tries (10, 4 and 4 nodes) one after another in one sequence, no padding between them
    prompts = [[1, 3, 4, 5]] * 2 + [[1, 6]] * 2 + [[1, 7]]
    ids = torch.tensor([[8, 9, 10, 11], [8, 9, 12, 13], [5, 0, 0, 0], [6, 0, 0, 0], [7, 8, 0, 0]])
    mask = ids > 0
    groups = torch.tensor([0, 0, 1, 1, 2])
    packed = pack_rows(prompts, ids, response_lengths(mask), groups, pad_id=0, block=4)
    assert packed.ids.shape == (1, 20) and packed.nodes == 10 + 4 + 4
    attend = packed.attend.dense()[0]
    assert not attend[10:14, :10].any() and not attend[14:18, :14].any()
    assert_agree(both_layouts(gpt_policy(), prompts, ids, mask, groups), mask)


@pytest.mark.parametrize("block", [1, 4, 8, 32])
def test_blocks_gather_exactly_each_query_s_ancestors(block):
    """Every block holds all keys its queries attend to, its mask equals the dense mask on them, and
    tree attention equals dense masked attention (values and gradients) at any block size."""
    from treecredit.models.tree_attention import tree_attention

    prompts, ids, mask, groups = random_tree_rows(np.random.default_rng(11), 20, 3, 5, 9)
    packed = pack_rows(prompts, ids, response_lengths(mask), groups, pad_id=0, block=block)
    blocks, dense = packed.attend, packed.attend.dense()[0]
    N = blocks.size
    for b in range(N // block):
        rows = dense[b * block:(b + 1) * block]
        keys = blocks.key_index[b]
        assert set(rows.any(0).nonzero().flatten().tolist()) == set(keys[blocks.mask[b].any(0)].tolist())
        assert torch.equal(blocks.mask[b], rows[:, keys] & blocks.mask[b].any(0)[None])
    q, k, v = (torch.randn(1, 2, N, 4, generator=torch.Generator().manual_seed(i), requires_grad=True)
               for i in range(3))
    want = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=dense[None, None])
    got = tree_attention(q, k, v, blocks)
    torch.testing.assert_close(got, want, atol=1e-6, rtol=1e-5)
    grads = torch.autograd.grad(want.square().sum(), (q, k, v))
    for a, b in zip(torch.autograd.grad(got.square().sum(), (q, k, v)), grads):
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("kind", ["llama", "gpt2"])
def test_transformers_models_take_the_tree_attention(kind):
    from treecredit.models.hf_tree_attention import takes_tree_blocks

    policy = hf_policy(kind)
    assert takes_tree_blocks(policy) and policy.model.config._attn_implementation != "treecredit_tree"


@pytest.mark.parametrize("sampler_name", ["iid", "tree"])
def test_logprobs_match_the_samplers_and_the_backends_at_temperature_and_top_p(sampler_name):
    """At τ = 0.7, top-p 0.9: at τ = 1 the loss side equals the rollout's old_logprobs (π at temperature 1,
    the samplers' choice for the PPO ratio); with τ and top-p it equals the backend's sampled-distribution
    log-probabilities (those of the replay weights). Both layouts."""
    from treecredit.sampling import make_sampler
    from treecredit.sampling.backend import SamplingSettings
    from treecredit.sampling.kv_backend import KVCacheBackend
    from treecredit.tasks import ArithmeticTask

    policy = gpt_policy()
    task = ArithmeticTask(min_operators=1, max_operators=1)
    problems = task.generate(np.random.default_rng(0), 3)
    sampler = make_sampler(sampler_name, temperature=0.7, top_p=0.9, max_new_tokens=8)
    r = sampler.sample(policy, task, problems, 4, torch.Generator().manual_seed(0))
    lengths = response_lengths(r.response_mask)
    rows = [r.response_ids[i, : int(n)].tolist() for i, n in enumerate(lengths)]
    sampled = KVCacheBackend(policy).score(r.prompt_ids, rows, SamplingSettings(temperature=0.7, top_p=0.9))
    kw = {"groups": r.group_ids, "response_mask": r.response_mask}
    with torch.no_grad():
        for layout in ("rows", "packed"):
            base, _ = policy.token_logprobs(r.prompt_ids, r.response_ids, layout=layout, **kw)
            torch.testing.assert_close(base * r.response_mask, r.old_logprobs, atol=1e-4, rtol=1e-4)
            logp, _ = policy.token_logprobs(r.prompt_ids, r.response_ids, temperature=0.7, top_p=0.9, layout=layout,
                                            **kw)
            T = sampled.shape[1]
            torch.testing.assert_close((logp * r.response_mask)[:, :T].double(), sampled, atol=1e-4, rtol=1e-4)


def test_a_model_that_cannot_take_the_blocks_gets_the_dense_mask():
    """A model whose forward takes no extra keywords (so no tree_blocks) falls back to the dense mask."""
    from treecredit.models.hf_tree_attention import takes_tree_blocks

    policy = hf_policy()

    class Plain(torch.nn.Module):
        def __init__(self, model):
            super().__init__()
            self.inner, self.config = model, model.config

        def forward(self, input_ids, attention_mask, position_ids, use_cache, logits_to_keep=0):
            return self.inner(input_ids=input_ids, attention_mask=attention_mask, position_ids=position_ids,
                              use_cache=use_cache, logits_to_keep=logits_to_keep)

    policy.model = Plain(policy.model)
    assert not takes_tree_blocks(policy)
    prompts, ids, mask, groups = random_tree_rows(np.random.default_rng(6), 20, 2, 4, 7)
    valid = torch.arange(ids.shape[1])[None] < response_lengths(mask)[:, None]
    assert_agree(both_layouts(policy, prompts, ids, mask, groups), valid)


def test_packed_equals_rows_after_sampling_switched_the_attention():
    """Sampling switches an sdpa model to the shared-KV attention (models.hf_cache); the packed update's
    tree attention is switched on over it for one call and the previous implementation comes back."""
    policy = hf_policy()
    policy.prefill([[1, 4, 5]])
    before = policy.model.config._attn_implementation
    prompts, ids, mask, groups = random_tree_rows(np.random.default_rng(8), 20, 2, 4, 7)
    valid = torch.arange(ids.shape[1])[None] < response_lengths(mask)[:, None]
    assert_agree(both_layouts(policy, prompts, ids, mask, groups), valid)
    assert policy.model.config._attn_implementation == before
