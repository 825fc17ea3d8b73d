"""The fused steps keep their per-layer plan between steps, and read it again when the model's modules or
parameters are replaced (so the logits stay those of the model's own forward)."""

import pytest
import torch

torch.set_num_threads(1)
pytest.importorskip("transformers")

from hf_tiny import tiny_hf_policy  # noqa: E402
from treecredit.models import GPTPolicy, hf_fast_step  # noqa: E402
from treecredit.models.plan_cache import kept_plan  # noqa: E402


def _step_logits(policy, fast: bool):
    """Logits of one decoding step of two prompts (the fused step or the model's forward)."""
    policy.fast_decode = fast
    with torch.no_grad():
        _, state = policy.prefill([policy.encode_prompt("1+2="), policy.encode_prompt("12*3-4=")])
        logits, _ = policy.step(state, torch.tensor([5, 6]))
    return logits


def _matches_forward(policy, tol: float = 1e-5) -> None:
    torch.testing.assert_close(_step_logits(policy, True), _step_logits(policy, False), rtol=tol, atol=tol)


def test_kept_plan_rebuilds_only_when_a_dictionary_changes():
    module = torch.nn.Linear(2, 2)
    built = []

    def build(dicts):
        dicts.append(module._parameters)
        built.append(1)
        return [module.weight]

    first = kept_plan(module, "test", build)
    assert kept_plan(module, "test", build) is first and len(built) == 1
    with torch.no_grad():
        module.weight.add_(1.0)  # in place: the same tensor, no rebuild
    assert kept_plan(module, "test", build) is first and len(built) == 1
    module.weight = torch.nn.Parameter(torch.zeros(2, 2))  # rebound: rebuilt
    again = kept_plan(module, "test", build)
    assert again is not first and again[0] is module.weight and len(built) == 2
    assert kept_plan(module, "test", lambda dicts: None) is again  # kinds are kept apart below
    assert kept_plan(module, "other", lambda dicts: None) is None


def test_hf_plan_is_kept_and_follows_replaced_modules():
    policy = tiny_hf_policy()
    model = policy.model
    plan = hf_fast_step.layer_plan(model)
    assert plan is not None and hf_fast_step.layer_plan(model) is plan
    _matches_forward(policy)
    attn = model.model.layers[1].self_attn
    with torch.no_grad():  # an optimiser-like update in place: same plan, new numbers
        attn.q_proj.weight.mul_(1.5)
    assert hf_fast_step.layer_plan(model) is plan
    _matches_forward(policy)
    torch.manual_seed(1)
    attn.q_proj = torch.nn.Linear(attn.q_proj.in_features, attn.q_proj.out_features, bias=False)  # replaced
    assert hf_fast_step.layer_plan(model) is not plan
    _matches_forward(policy)
    mlp = model.model.layers[0].mlp
    mlp.down_proj.weight = torch.nn.Parameter(torch.randn_like(mlp.down_proj.weight))  # rebound
    assert hf_fast_step.layer_plan(model)[0][8][0] is mlp.down_proj.weight
    _matches_forward(policy)


def test_hf_plan_falls_back_after_an_unsupported_module_is_put_in():
    class Adapted(torch.nn.Linear):  # not a plain nn.Linear (as a LoRA or quantised layer would be)
        pass

    policy = tiny_hf_policy()
    model = policy.model
    assert hf_fast_step.layer_plan(model) is not None
    old = model.model.layers[0].self_attn.v_proj
    new = Adapted(old.in_features, old.out_features, bias=False)
    new.load_state_dict(old.state_dict())
    model.model.layers[0].self_attn.v_proj = new
    assert hf_fast_step.layer_plan(model) is None
    with torch.no_grad():
        _, state = policy.prefill([policy.encode_prompt("1+2=")])
        assert hf_fast_step.decode_step(model, state.cache, torch.tensor([5]),
                                        torch.ones(1, state.key_valid.shape[1] + 1, dtype=torch.bool),
                                        state.next_pos) is None


def test_gpt_plan_is_kept_and_follows_replaced_modules():
    policy = GPTPolicy.build(seed=0, n_layer=2, n_head=2, n_embd=32, max_len=16)
    model = policy.model
    first = kept_plan(model, "decode_step", model._decode_plan)
    assert kept_plan(model, "decode_step", model._decode_plan) is first
    _matches_forward(policy, 1e-6)
    torch.manual_seed(1)
    model.blocks[1].mlp[2] = torch.nn.Linear(4 * 32, 32)  # replaced
    assert kept_plan(model, "decode_step", model._decode_plan) is not first
    _matches_forward(policy, 1e-6)
    model.blocks[0].ln1.weight = torch.nn.Parameter(torch.rand(32))  # rebound
    _matches_forward(policy, 1e-6)
