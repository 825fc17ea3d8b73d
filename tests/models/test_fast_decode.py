"""The fused one-token decoding steps give the logits of the models' own forward (the reference).

``HFPolicy`` / ``GPTPolicy`` with ``fast_decode`` False run ``transformers``' forward / ``GPT.forward``;
with it True (the default) :func:`treecredit.models.hf_fast_step.decode_step` / ``GPT.decode_step``.
"""

import numpy as np
import pytest
import torch

torch.set_num_threads(1)
transformers = pytest.importorskip("transformers")

from hf_tiny import local_tokenizer, tiny_hf_policy  # noqa: E402
from treecredit.models import GPTPolicy, HFPolicy, hf_fast_step  # noqa: E402
from treecredit.sampling import IIDSampler  # noqa: E402
from treecredit.sampling.kv_states import concat_states, snapshot, truncate_state  # noqa: E402
from treecredit.tasks import ArithmeticTask  # noqa: E402


def _hf_policy(kind: str, **overrides) -> HFPolicy:
    tok = local_tokenizer()
    shape = dict(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                 num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128, pad_token_id=0,
                 eos_token_id=2)
    shape.update(overrides)
    config = {"llama": transformers.LlamaConfig, "qwen2": transformers.Qwen2Config,
              "mistral": transformers.MistralConfig}[kind](**shape)
    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_config(config).eval().double()
    return HFPolicy(model, tok)


def _decode(policy, fast: bool, steps: int = 9):
    """Logits of a padded batch (three prompt lengths), forked rows, a truncated kept state merged back in."""
    policy.fast_decode = fast
    prompts = [policy.encode_prompt("1+2="), policy.encode_prompt("12*3-4="), policy.encode_prompt("7")]
    out = []
    with torch.no_grad():
        logits, state = policy.prefill(prompts)
        state = policy.select(state, torch.tensor([0, 1, 1, 2, 0]))  # forks: rows repeat
        for t in range(steps):
            logits, state = policy.step(state, torch.tensor([5, 6, 7, 8, 9]) + t % 4)
            out.append(logits)
            if t == 3:
                kept = snapshot(state)
        early = truncate_state(policy.select(kept, torch.tensor([3, 1])), torch.tensor([2, 5]))
        logits, merged = policy.step(concat_states(policy, [early, policy.select(state, torch.tensor([0]))]),
                                     torch.tensor([10, 11, 12]))
        out.append(logits)
        for _ in range(3):
            logits, merged = policy.step(merged, torch.tensor([13, 14, 15]))
            out.append(logits)
    return out


def _taken(monkeypatch) -> list:
    """Records whether each step went through the fused step (True) or fell back (False)."""
    calls: list = []
    original = hf_fast_step.decode_step

    def spy(*args, **kwargs):
        logits = original(*args, **kwargs)
        calls.append(logits is not None)
        return logits

    monkeypatch.setattr(hf_fast_step, "decode_step", spy)
    return calls


@pytest.mark.parametrize("kind, overrides", [
    ("llama", {}),
    ("llama", {"attention_bias": True, "mlp_bias": True, "num_key_value_heads": 4}),
    ("llama", {"rope_parameters": {"rope_type": "linear", "factor": 2.0, "rope_theta": 10000.0}}),
    ("qwen2", {}),
    ("mistral", {"sliding_window": None}),
])
def test_hf_fast_step_equals_the_transformers_forward(kind, overrides, monkeypatch):
    policy = _hf_policy(kind, **overrides)
    calls = _taken(monkeypatch)
    want = _decode(policy, fast=False)
    assert calls == []
    got = _decode(policy, fast=True)
    assert calls and all(calls)  # every step was the fused one
    for a, b in zip(want, got):
        torch.testing.assert_close(b, a, rtol=0, atol=1e-10)


def test_hf_fast_step_in_float32_and_the_default_tiny_model():
    policy = tiny_hf_policy()
    assert policy.fast_decode and hf_fast_step.layer_plan(policy.model) is not None
    for a, b in zip(_decode(policy, fast=False), _decode(policy, fast=True)):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("case", ["sliding_window", "lora", "gpt2", "grad", "gelu"])
def test_hf_fast_step_falls_back_to_the_forward(case, monkeypatch):
    if case == "sliding_window":
        policy = _hf_policy("mistral", sliding_window=4)
    elif case == "gelu":
        policy = _hf_policy("llama", hidden_act="gelu")
    elif case == "gpt2":
        policy = tiny_hf_policy("gpt2")
    else:
        policy = tiny_hf_policy()
    if case == "lora":
        pytest.importorskip("peft")
        from treecredit.models.hf_load import add_lora

        policy.model = add_lora(policy.model, 2)
    calls = _taken(monkeypatch)
    prompts = [policy.encode_prompt("1+2="), policy.encode_prompt("12*3-4=")]
    with torch.set_grad_enabled(case == "grad"):
        _, state = policy.prefill(prompts)
        logits, state = policy.step(state, torch.tensor([5, 6]))
    assert calls == [False]
    want, _ = policy.prefill([prompts[0] + [5], prompts[1] + [6]])
    torch.testing.assert_close(logits.detach(), want.detach(), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize("where", ["wrapped_forward", "outer"])
def test_hf_fast_step_steps_aside_under_autocast(where, monkeypatch):
    """A cache filled under autocast (accelerate's mixed precision wraps ``forward``; or an outer autocast)
    holds bfloat16 tensors that the fused float32 step cannot attend to (it raised a dtype error): the step
    falls back to the forward, which keeps the precision the cache was filled in."""
    import contextlib
    import functools
    import types

    policy = tiny_hf_policy()
    model = policy.model
    outer = contextlib.nullcontext()
    if where == "wrapped_forward":  # what accelerate does for TRL's default bf16
        plain = model.forward

        @functools.wraps(plain.__func__)
        def mixed(self, *args, **kwargs):
            with torch.autocast("cpu", dtype=torch.bfloat16):
                return plain(*args, **kwargs)

        model._original_forward, model.forward = plain, types.MethodType(mixed, model)
    else:
        outer = torch.autocast("cpu", dtype=torch.bfloat16)
    calls = _taken(monkeypatch)
    prompts = [policy.encode_prompt("1+2="), policy.encode_prompt("12*3-4=")]
    with torch.no_grad(), outer:
        _, state = policy.prefill(prompts)
        logits, state = policy.step(state, torch.tensor([5, 6]))
        want, _ = policy.prefill([prompts[0] + [5], prompts[1] + [6]])
    assert calls == [False]
    assert {layer.keys.dtype for layer in state.cache.layers} <= {torch.bfloat16, torch.float32}
    torch.testing.assert_close(logits, want, rtol=0.05, atol=0.05)  # bfloat16 rounding, two paths


def test_hf_sampling_is_the_same_with_the_fast_step():
    policy = tiny_hf_policy()
    task = ArithmeticTask(min_operators=1, max_operators=1)
    problems = task.generate(np.random.default_rng(0), 3)
    batches = []
    for fast in (False, True):
        policy.fast_decode = fast
        batches.append(IIDSampler(max_new_tokens=8).sample(policy, task, problems, 4, torch.Generator().manual_seed(1)))
    assert torch.equal(batches[0].response_ids, batches[1].response_ids)
    torch.testing.assert_close(batches[1].old_logprobs, batches[0].old_logprobs, rtol=1e-5, atol=1e-5)


def test_gpt_decode_step_equals_the_forward():
    policy = GPTPolicy.build(seed=0, n_layer=2, n_head=2, n_embd=32, max_len=16)
    policy.model.double()
    want = _decode(policy, fast=False, steps=12)  # positions pass max_len: clamped alike
    got = _decode(policy, fast=True, steps=12)
    for a, b in zip(want, got):
        torch.testing.assert_close(b, a, rtol=0, atol=1e-12)


def test_gpt_sampling_is_the_same_with_the_fast_step():
    policy = GPTPolicy.build(seed=0)
    task = ArithmeticTask(min_operators=1, max_operators=2)
    problems = task.generate(np.random.default_rng(0), 4)
    batches = []
    for fast in (False, True):
        policy.fast_decode = fast
        sampler = IIDSampler(max_new_tokens=12)
        batches.append(sampler.sample(policy, task, problems, 4, torch.Generator().manual_seed(0)))
    assert torch.equal(batches[0].response_ids, batches[1].response_ids)
    assert torch.equal(batches[0].old_logprobs, batches[1].old_logprobs)


def test_a_selected_hf_state_has_room_and_its_source_stays_valid():
    """Selecting rows (a fork of the prefill) gathers them into a buffer with room: the next steps write in
    place (no copy of the cache), and the state selected from is unchanged."""
    policy = _hf_policy("llama")
    with torch.no_grad():
        logits, state = policy.prefill([policy.encode_prompt("12*3-4=")])
        source = [(layer.keys.clone(), layer.values.clone()) for layer in state.cache.layers]
        forked = policy.select(state, torch.zeros(3, dtype=torch.long))
        addresses = [[layer.keys.data_ptr() for layer in forked.cache.layers]]
        for t in range(4):
            fused, forked = policy.step(forked, torch.tensor([5, 6, 7]) + t)
            addresses.append([layer.keys.data_ptr() for layer in forked.cache.layers])
        assert all(a == addresses[0] for a in addresses)
        for layer, (keys, values) in zip(state.cache.layers, source):
            assert torch.equal(layer.keys, keys) and torch.equal(layer.values, values)
        again = policy.select(state, torch.zeros(3, dtype=torch.long))  # the source still decodes as it did
        policy.fast_decode = False
        for t in range(4):
            reference, again = policy.step(again, torch.tensor([5, 6, 7]) + t)
        torch.testing.assert_close(fused, reference, rtol=0, atol=1e-10)
