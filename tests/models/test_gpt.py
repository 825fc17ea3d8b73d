import pytest
import torch

from treecredit.models import CharTokenizer, GPTPolicy

torch.set_num_threads(1)


def test_tokenizer_roundtrip_and_errors():
    tok = CharTokenizer()
    text = "4-5+0=-1+0=-1;"
    assert tok.decode(tok.encode(text)) == text
    assert tok.encode_prompt("1")[0] == tok.bos_id
    assert tok.decode(tok.encode("12") + [tok.eos_id] + tok.encode("3")) == "12"
    with pytest.raises(ValueError, match="text: .*Fix: "):
        tok.encode("x")


def _small():
    return GPTPolicy.build(seed=0, n_layer=2, n_head=2, n_embd=32, max_len=64)


def test_kv_cache_decoding_equals_full_recomputation():
    policy = _small()
    policy.module.eval()
    prompts = [[1, 5, 6, 7], [1, 8], [1, 9, 10, 11, 12, 13]]  # different lengths: left padding inside
    nxt = torch.tensor([[4, 5, 6], [7, 8, 9], [10, 11, 12]])
    with torch.no_grad():
        logits, state = policy.prefill(prompts)
        steps = [logits]
        for t in range(nxt.shape[1]):
            logits, state = policy.step(state, nxt[:, t])
            steps.append(logits)
        for row, prompt in enumerate(prompts):
            full = torch.tensor([prompt + nxt[row].tolist()])
            ref, _ = policy.model(full, torch.arange(full.shape[1])[None], torch.ones_like(full, dtype=torch.bool))
            for t, got in enumerate(steps):
                torch.testing.assert_close(got[row], ref[0, len(prompt) - 1 + t], atol=1e-5, rtol=1e-5)


def test_select_branches_without_touching_the_source():
    policy = _small()
    policy.module.eval()
    with torch.no_grad():
        logits, state = policy.prefill([[1, 5], [1, 6, 7]])
        branched = policy.select(state, torch.tensor([1, 1, 0]))
        a, _ = policy.step(branched, torch.tensor([4, 5, 4]))
        b, _ = policy.step(state, torch.tensor([4, 4]))
    torch.testing.assert_close(a[2], b[0])
    torch.testing.assert_close(a[0], b[1])
    assert state.batch_size == 2 and branched.batch_size == 3


def test_token_logprobs_match_incremental_decoding():
    policy = _small()
    policy.module.eval()
    prompts = [[1, 5, 6], [1, 7]]
    response = torch.tensor([[4, 5, 0], [6, 7, 8]])
    with torch.no_grad():
        logp, entropy = policy.token_logprobs(prompts, response)
        logits, state = policy.prefill(prompts)
        for t in range(3):
            want = torch.log_softmax(logits, -1).gather(-1, response[:, t:t + 1]).squeeze(-1)
            torch.testing.assert_close(logp[:, t], want, atol=1e-5, rtol=1e-5)
            logits, state = policy.step(state, response[:, t])
    assert (entropy > 0).all()


def test_adapters_satisfy_the_policy_protocol():
    from treecredit.sampling import Policy

    assert isinstance(_small(), Policy)
