"""The update's model call computes the last layer's MLP only at the columns whose logits are read (the small
GPT's ``forward(logits_at=…)``, :mod:`treecredit.models.hf_last_layer`), with the logits and gradients of the
full forward."""

import pytest
import torch

from treecredit.models import GPTPolicy

torch.set_num_threads(1)


def _mlp_inputs(mlp) -> tuple[list, object]:
    seen: list = []
    return seen, mlp.register_forward_pre_hook(lambda module, args: seen.append(tuple(args[0].shape)))


def _grads(module) -> list:
    return [p.grad.clone() for p in module.parameters() if p.grad is not None]


def test_gpt_last_block_runs_its_mlp_only_where_logits_are_read():
    policy = GPTPolicy.build(seed=0, n_layer=2, n_head=2, n_embd=32)
    model = policy.model
    gen = torch.Generator().manual_seed(0)
    ids = torch.randint(3, 20, (2, 9), generator=gen)
    positions = torch.arange(9).expand(2, 9)
    valid = torch.ones((2, 9), dtype=torch.bool)
    at = torch.tensor([[2, 5, 8], [0, 3, 8]])
    weights = torch.randn((2, 3, model.cfg.vocab_size), generator=gen)

    model.zero_grad(set_to_none=True)
    full, full_cache = model(ids, positions, valid)
    (full.gather(1, at[:, :, None].expand(-1, -1, full.shape[-1])) * weights).sum().backward()
    expected, expected_grads = full.gather(1, at[:, :, None].expand(-1, -1, full.shape[-1])).detach(), _grads(model)

    seen, hook = _mlp_inputs(model.blocks[-1].mlp)
    earlier, hook0 = _mlp_inputs(model.blocks[0].mlp)
    model.zero_grad(set_to_none=True)
    try:
        logits, cache = model(ids, positions, valid, logits_at=at)
    finally:
        hook.remove()
        hook0.remove()
    (logits * weights).sum().backward()
    assert seen == [(2, 3, 32)] and earlier == [(2, 9, 32)]  # the last block's MLP at the 3 columns read only
    torch.testing.assert_close(logits.detach(), expected, atol=1e-5, rtol=1e-5)
    for a, b in zip(_grads(model), expected_grads, strict=True):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-4)
    for (k, v), (k0, v0) in zip(cache, full_cache, strict=True):  # every column's keys and values, every block's
        torch.testing.assert_close(k, k0)
        torch.testing.assert_close(v, v0)


@pytest.mark.parametrize("kind", ["llama", "gpt2"])
def test_transformers_last_layer_mlp_only_where_logits_are_read(kind):
    pytest.importorskip("transformers")
    from hf_tiny import tiny_hf_policy
    from treecredit.models.hf_last_layer import _last_layer

    policy = tiny_hf_policy(kind)
    model, last = policy.model, _last_layer(policy.model)
    assert last is not None
    mlp = last.mlp
    gen = torch.Generator().manual_seed(1)
    K, S = 2, 10
    ids = torch.randint(3, 20, (K, S), generator=gen)
    positions = torch.arange(S).expand(K, S)
    attend = torch.ones((S, S), dtype=torch.bool).tril().expand(K, S, S)
    at = torch.tensor([[3, 9], [4, 9]])
    weights = torch.randn((K, 2, policy.vocab_size), generator=gen)

    model.zero_grad(set_to_none=True)
    full = model(input_ids=ids, position_ids=positions, use_cache=False).logits
    expected = full.gather(1, at[:, :, None].expand(-1, -1, full.shape[-1]))
    (expected * weights).sum().backward()
    expected_grads = _grads(model)

    seen, hook = _mlp_inputs(mlp)
    model.zero_grad(set_to_none=True)
    try:
        logits = policy._logits(ids, positions, attend, at)
    finally:
        hook.remove()
    (logits * weights).sum().backward()
    assert seen == [(K, 3, model.config.hidden_size)]  # columns 3, 4, 9: the union of the rows' columns read
    assert last.mlp is mlp  # the model's own MLP back after the call
    torch.testing.assert_close(logits.detach(), expected.detach(), atol=1e-5, rtol=1e-5)
    for a, b in zip(_grads(model), expected_grads, strict=True):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-4)


def test_transformers_mlp_restored_after_an_error_and_left_alone_under_checkpointing():
    pytest.importorskip("transformers")
    from hf_tiny import tiny_hf_policy
    from treecredit.models.hf_last_layer import _last_layer, mlp_only_at

    policy = tiny_hf_policy("llama")
    last = _last_layer(policy.model)
    mlp = last.mlp
    with pytest.raises(RuntimeError, match="boom"), mlp_only_at(policy.model, torch.tensor([1])):
        assert last.mlp is not mlp
        raise RuntimeError("boom")
    assert last.mlp is mlp
    model = policy.model
    new = hasattr(model, "activation_checkpointing_enable")  # transformers 5.x's name
    (model.activation_checkpointing_enable if new else model.gradient_checkpointing_enable)()
    try:
        with mlp_only_at(model, torch.tensor([1])):  # the backward pass would rerun it on every column
            assert last.mlp is mlp
    finally:
        (model.activation_checkpointing_disable if new else model.gradient_checkpointing_disable)()
