"""Preallocated KV caches: in-place growth never changes a state that is used again."""

import pytest
import torch

from treecredit.models import GPTPolicy

torch.set_num_threads(1)


def _fresh_logits(policy, ids):
    with torch.no_grad():
        logits, _ = policy.prefill([ids])
    return logits


def test_gpt_states_stay_valid_when_stepped_twice_selected_or_kept():
    policy = GPTPolicy.build(seed=0, n_layer=2, n_head=2, n_embd=32, max_len=96)
    policy.model.double()
    prompt = policy.encode_prompt("12+3=")
    with torch.no_grad():
        _, state = policy.prefill([prompt, prompt])
        a, b = torch.tensor([5, 6]), torch.tensor([7, 8])
        la, sa = policy.step(state, a)  # writes into the buffer in place
        lb, sb = policy.step(state, b)  # the same state again: must not see token a
        kept = policy.select(sa, torch.tensor([1, 0]))
        for _ in range(70):  # past the spare room: the buffer is reallocated on the way
            la, sa = policy.step(sa, a)
        lk, _ = policy.step(kept, b)
    torch.testing.assert_close(lb[0], _fresh_logits(policy, prompt + [7])[0], rtol=0, atol=1e-12)
    torch.testing.assert_close(la[1], _fresh_logits(policy, prompt + [6] * 71)[0], rtol=0, atol=1e-12)
    torch.testing.assert_close(lk[0], _fresh_logits(policy, prompt + [6, 7])[0], rtol=0, atol=1e-12)


def test_hf_growing_layer_matches_concatenation():
    transformers = pytest.importorskip("transformers")
    from hf_tiny import local_tokenizer, tiny_llama_config
    from treecredit.models import HFPolicy

    fast = local_tokenizer(chat_template=False)
    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_config(tiny_llama_config(len(fast))).double().eval()
    policy = HFPolicy(model, fast, use_chat_template=False)
    prompt = policy.encode_prompt("12+3=")
    with torch.no_grad():
        logits, state = policy.prefill([prompt])
        ids = list(prompt)
        for t in range(80):  # past the spare room
            token = torch.tensor([4 + t % 7])
            ids.append(int(token))
            logits, state = policy.step(state, token)
            if t in (0, 79):
                kept = policy.select(state, torch.tensor([0]))
        torch.testing.assert_close(logits, _fresh_logits(policy, ids), rtol=0, atol=1e-10)
        again, _ = policy.step(kept, torch.tensor([9]))
    torch.testing.assert_close(again, _fresh_logits(policy, ids + [9]), rtol=0, atol=1e-10)
