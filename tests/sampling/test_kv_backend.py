"""The built-in generation backend: kept states, truncated forks, stops, sampled-distribution log-probs."""

import numpy as np
import pytest
import torch
from tree_helpers import NeverStops, tiny_gpt

from treecredit.sampling.backend import (
    GenerationBackend,
    SamplingSettings,
    SegmentRequest,
)
from treecredit.sampling.draws import sampled_logprobs
from treecredit.sampling.kv_backend import KVCacheBackend
from treecredit.sampling.stops import stop_positions

torch.set_num_threads(1)


def _setup():
    policy = tiny_gpt(torch.float64)
    return policy, KVCacheBackend(policy), policy.encode_prompt("12+7=")


def _close(a, b):
    assert a.tokens == b.tokens and a.finish_reason == b.finish_reason
    np.testing.assert_allclose(a.logprobs, b.logprobs, rtol=0, atol=1e-12)
    np.testing.assert_allclose(a.entropies, b.entropies, rtol=0, atol=1e-12)


def test_kept_states_continue_as_a_fresh_prefill_would():
    """A request continuing a kept segment (whole, or truncated mid-segment) equals one that prefills."""
    policy, backend, prompt = _setup()
    assert isinstance(backend, GenerationBackend)
    first = backend.generate([SegmentRequest(tuple(prompt), len(prompt), n=2, max_tokens=6, keep_key="a",
                                             chain_keys=(1, 2))])[0]
    context = tuple(prompt) + tuple(first[1].tokens)
    asks = [{"prefix": context, "n": 2, "chain_keys": (7, 8)},
            {"prefix": context[:len(prompt) + 2], "n": 1, "chain_keys": (9,)},
            {"prefix": tuple(prompt), "n": 1, "chain_keys": (10,)}]
    kept = backend.generate([SegmentRequest(response_start=len(prompt), max_tokens=5, cache_key=("a", 1), **a)
                             for a in asks])
    before = backend.prefill_tokens
    fresh = KVCacheBackend(policy).generate([SegmentRequest(response_start=len(prompt), max_tokens=5, **a)
                                             for a in asks])
    assert backend.prefill_tokens == before == len(prompt)  # only the first call prefilled
    for a, b in zip(kept, fresh):
        for x, y in zip(a, b):
            _close(x, y)


def test_draws_do_not_depend_on_the_batch():
    policy, backend, prompt = _setup()
    alone = backend.generate([SegmentRequest(tuple(prompt), len(prompt), n=1, max_tokens=8, chain_keys=(5,))])[0][0]
    other = policy.encode_prompt("3*3=")
    together = backend.generate([SegmentRequest(tuple(other), len(other), n=3, max_tokens=8, chain_keys=(1, 2, 3)),
                                 SegmentRequest(tuple(prompt), len(prompt), n=1, max_tokens=8, chain_keys=(5,))])
    _close(alone, together[1][0])


def test_stops_end_segments_where_they_should():
    _, _, prompt = _setup()
    policy = NeverStops(tiny_gpt(torch.float64), [0, 1, 2])  # no pad, bos or eos: every token has text
    backend = KVCacheBackend(policy)
    plain = backend.generate([SegmentRequest(tuple(prompt), len(prompt), n=6, max_tokens=20, seed=3)])[0]
    for seg in plain:
        assert seg.finish_reason == "length" and len(seg.tokens) == 20
    token = plain[0].tokens[4]
    mark = policy.decode([token])
    stopped = backend.generate([SegmentRequest(tuple(prompt), len(prompt), n=6, max_tokens=20, seed=3,
                                               stop_ids=(token,)),
                                SegmentRequest(tuple(prompt), len(prompt), n=6, max_tokens=20, seed=3,
                                               stop_strings=(mark,))])
    for ids_seg, str_seg, full in zip(stopped[0], stopped[1], plain):
        first = full.tokens.index(token) if token in full.tokens else None
        want = full.tokens[: first + 1] if first is not None else full.tokens
        assert ids_seg.tokens == want and str_seg.tokens == want
        assert ids_seg.finish_reason == ("stop_id" if first is not None else "length")
        assert str_seg.finish_reason == ("stop_string" if first is not None else "length")
    # an occurrence already in the response prefix does not stop its continuation at once
    context = tuple(prompt) + tuple(stopped[1][0].tokens)
    assert policy.decode(context[len(prompt):]).endswith(mark)
    again = backend.generate([SegmentRequest(context, len(prompt), n=4, max_tokens=3, stop_strings=(mark,),
                                             chain_keys=(1, 2, 3, 4))])[0]
    for seg in again:
        assert mark not in policy.decode(seg.tokens[:-1])
        assert (seg.finish_reason == "stop_string") == (seg.tokens[-1] == token)


@pytest.mark.parametrize("temperature, top_p", [(0.5, 1.0), (1.0, 0.8), (0.7, 0.9), (0.0, 1.0)])
def test_logprobs_are_those_of_the_distribution_sampled_from(temperature, top_p):
    policy, backend, prompt = _setup()
    seg = backend.generate([SegmentRequest(tuple(prompt), len(prompt), n=1, max_tokens=6, seed=1)],
                           SamplingSettings(temperature, top_p))[0][0]
    with torch.no_grad():
        logits, state = policy.prefill([prompt])
        for t, token in enumerate(seg.tokens):
            logits64 = logits.double()
            probs = torch.softmax(logits64 / (temperature or 1.0), -1)[0]
            order = probs.argsort(descending=True)
            inside = (probs[order].cumsum(0) - probs[order]) < top_p
            nucleus = order[inside]
            if temperature > 0:
                assert token in nucleus.tolist()
            want = probs[token] / probs[nucleus].sum() if top_p < 1 else probs[token]
            assert seg.logprobs[t] == pytest.approx(float(want.log()), abs=1e-10)
            assert seg.base_logprobs[t] == pytest.approx(float(torch.log_softmax(logits64, -1)[0, token]), abs=1e-10)
            logits, state = policy.step(state, torch.tensor([token]))
    scored = backend.score([prompt], [seg.tokens], SamplingSettings(temperature, top_p))
    np.testing.assert_allclose(scored[0].numpy(), seg.logprobs, rtol=0, atol=1e-12)


def test_a_token_outside_the_nucleus_has_log_probability_minus_infinity():
    logits = torch.tensor([[3.0, 2.0, -5.0]])
    assert sampled_logprobs(logits, torch.tensor([2]), 1.0, 0.5).item() == float("-inf")
    assert sampled_logprobs(logits, torch.tensor([0]), 1.0, 0.5).item() == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("request_kw, fragment", [
    ({"prefix": (), "response_start": 0}, "empty prefix"), ({"n": 0}, "n=0"),
    ({"response_start": 99}, "response_start"), ({"cache_key": "nope"}, "not kept"),
    ({"chain_keys": (1, 2)}, "chain_keys")])
def test_bad_requests_are_refused_before_any_work(request_kw, fragment):
    _, backend, prompt = _setup()
    kw = {"prefix": tuple(prompt), "response_start": len(prompt), **request_kw}
    with pytest.raises(ValueError, match=f"^requests: .*{fragment}.*Fix: "):
        backend.generate([SegmentRequest(**kw)])
    assert backend.prefill_tokens == 0


def test_release_forgets_kept_states():
    _, backend, prompt = _setup()
    backend.generate([SegmentRequest(tuple(prompt), len(prompt), n=2, max_tokens=2, keep_key="a"),
                      SegmentRequest(tuple(prompt), len(prompt), n=1, max_tokens=2, keep_key="b")])
    assert set(backend.kept) == {("a", 0), ("a", 1), ("b", 0)}
    backend.release(["a"])
    assert set(backend.kept) == {("b", 0)}
    backend.release()
    assert backend.kept == {}


def test_windowed_stop_matching_equals_full_decoding_on_a_bpe_tokenizer():
    tokenizers = pytest.importorskip("tokenizers")
    from tokenizers import decoders, models, pre_tokenizers, trainers

    tok = tokenizers.Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    words = ["so", "then", "we", "add", "12", "7", "=", "19", "\n\n", "and", "answer", ";", "é", "x"]
    rng = np.random.default_rng(0)
    corpus = [" ".join(rng.choice(words, 30)) for _ in range(200)] + ["\n\n".join(words)] * 20
    tok.train_from_iterator(corpus, trainers.BpeTrainer(vocab_size=300, show_progress=False,
                                                        initial_alphabet=pre_tokenizers.ByteLevel.alphabet()))

    def decode(ids):
        return tok.decode(list(ids))

    marks = ("\n\n", "=", " and")
    for _ in range(30):
        ids = tok.encode("".join(rng.choice(words + [" ", " ", "\n"], 40))).ids
        full, seen = [], 0
        for t in range(len(ids)):
            count = sum(decode(ids[: t + 1]).count(m) for m in marks)
            if count > seen:
                full.append(t)
            seen = count
        assert stop_positions(decode, marks, ids) == full


def test_rows_that_end_early_leave_the_others_as_they_would_be_alone():
    """Rows ending at different steps (stepped on unread, then compacted away) and states kept at each end
    change no other row: every segment, and every continuation of a kept state, equals decoding it alone."""
    policy, backend, prompt = _setup()
    other = policy.encode_prompt("3*3=")
    asks = [(prompt, 1, 2), (other, 3, 5), (prompt, 4, 9), (other, 2, 13), (prompt, 1, 14)]  # (prefix, n, max)
    requests = [SegmentRequest(tuple(p), len(p), n=n, max_tokens=m, keep_key=i,
                               chain_keys=tuple(range(10 * i, 10 * i + n))) for i, (p, n, m) in enumerate(asks)]
    together = backend.generate(requests)
    for request, segments in zip(requests, together):
        alone = KVCacheBackend(policy).generate([request])[0]
        for a, b in zip(segments, alone):
            _close(a, b)
    for i, segments in enumerate(together):  # each kept state continues as a fresh prefill of its context
        for seq, segment in enumerate(segments):
            context = requests[i].prefix + tuple(segment.tokens)
            ask = {"prefix": context, "response_start": requests[i].response_start, "n": 1, "max_tokens": 3,
                   "chain_keys": (99,)}
            kept = backend.generate([SegmentRequest(cache_key=(i, seq), **ask)])[0][0]
            _close(kept, KVCacheBackend(policy).generate([SegmentRequest(**ask)])[0][0])
