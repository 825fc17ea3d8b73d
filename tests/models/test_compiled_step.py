"""The compiled decoding step (``policy.compile_decode``) gives the logits of the models' own forward.

The fast tests compile with ``aot_eager`` (dynamo's tracing, functionalisation and the cache writes as
graph input mutations, without TorchInductor's C++ compile); the slow ones with TorchInductor itself.
"""

import warnings
import weakref

import numpy as np
import pytest
import torch

torch.set_num_threads(1)
pytest.importorskip("transformers")

from test_fast_decode import _decode, _hf_policy  # noqa: E402

from treecredit.models import GPTPolicy, compiled_step  # noqa: E402
from treecredit.sampling import IIDSampler  # noqa: E402
from treecredit.tasks import ArithmeticTask  # noqa: E402


@pytest.fixture
def backend(request, monkeypatch):
    """Fresh dynamo caches and counters, and the compile backend of the test's parameter."""
    from torch._dynamo.utils import counters

    torch._dynamo.reset()
    counters.clear()
    monkeypatch.setattr(compiled_step, "BACKEND", request.param)
    monkeypatch.setattr(compiled_step, "_compiled", {})
    monkeypatch.setattr(compiled_step, "_seen", set())
    monkeypatch.setattr(compiled_step, "_failed", weakref.WeakSet())
    yield request.param
    torch._dynamo.reset()


def _compared(policy, atol: float, steps: int = 9):
    want = _decode(policy, fast=False, steps=steps)
    policy.compile_decode = True
    got = _decode(policy, fast=True, steps=steps)
    assert len(got) == len(want)
    for a, b in zip(want, got):
        torch.testing.assert_close(b, a, rtol=0, atol=atol)
    counts = compiled_step.compile_counters()
    # rows 5 → 3, cache lengths 8 … 20, buffers regrown and selected: one graph, never compiled again
    assert counts == {"graphs": 1}, counts  # a recompilation would add a graph


def _gpt():
    policy = GPTPolicy.build(seed=0, n_layer=2, n_head=2, n_embd=32, max_len=16)
    policy.model.double()
    return policy


@pytest.mark.parametrize("backend", ["aot_eager"], indirect=True)
def test_compiled_gpt_step_equals_the_forward(backend):
    _compared(_gpt(), 1e-12, steps=12)


@pytest.mark.parametrize("backend", ["aot_eager"], indirect=True)
@pytest.mark.parametrize("kind, overrides", [("llama", {}), ("qwen2", {}),
                                             ("llama", {"attention_bias": True, "mlp_bias": True,
                                                        "num_key_value_heads": 4})])
def test_compiled_hf_step_equals_the_forward(backend, kind, overrides):
    _compared(_hf_policy(kind, **overrides), 1e-10)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["inductor"], indirect=True)
def test_inductor_steps_equal_the_forward(backend):
    _compared(_gpt(), 1e-12, steps=12)
    torch._dynamo.reset()
    from torch._dynamo.utils import counters

    counters.clear()
    # transformers' RMSNorm normalises in float32 even in a float64 model; TorchInductor's fused loop sums
    # the squares in another order, so the logits differ at float32's rounding
    _compared(_hf_policy("llama"), 1e-6)


@pytest.mark.parametrize("backend", ["aot_eager"], indirect=True)
def test_compiled_sampling_is_seeded(backend):
    """Same seed, same tokens with the compiled step on; the same tokens as the eager step (float64). A 2-layer
    32-wide GPT, as in the other tests here: the default 4-layer 192-wide one made the same check slower."""
    policy = GPTPolicy.build(seed=0, n_layer=2, n_head=2, n_embd=32)
    policy.model.double()
    task = ArithmeticTask(min_operators=1, max_operators=2)
    problems = task.generate(np.random.default_rng(0), 4)
    batches = []
    for compile_decode in (False, True, True):
        policy.compile_decode = compile_decode
        sampler = IIDSampler(max_new_tokens=12)
        batches.append(sampler.sample(policy, task, problems, 4, torch.Generator().manual_seed(0)))
    for other in batches[1:]:
        assert torch.equal(other.response_ids, batches[0].response_ids)
        torch.testing.assert_close(other.old_logprobs, batches[0].old_logprobs, rtol=0, atol=1e-10)
    assert torch.equal(batches[1].old_logprobs, batches[2].old_logprobs)


@pytest.mark.parametrize("backend", ["aot_eager"], indirect=True)
def test_one_row_runs_the_eager_step(backend):
    """A batch of one row is not compiled (a size of 1 would be specialised): the eager fused step runs."""
    policy = _hf_policy("llama")
    prompt = policy.encode_prompt("1+2=")
    logits = {}
    with torch.no_grad():
        for compile_decode in (False, True):
            policy.compile_decode = compile_decode
            _, state = policy.prefill([prompt])
            logits[compile_decode], _ = policy.step(state, torch.tensor([5]))
    assert compiled_step.compile_counters()["graphs"] == 0
    assert torch.equal(logits[True], logits[False])


@pytest.mark.parametrize("backend", ["aot_eager"], indirect=True)
@pytest.mark.parametrize("model", ["gpt", "llama"])
def test_compiled_steps_grow_the_cache_in_place(backend, model):
    """The graph writes into the cache's own buffer (spare rows and columns included): consecutive steps
    neither copy nor reallocate it."""
    policy = _gpt() if model == "gpt" else _hf_policy("llama")
    policy.compile_decode = True
    with torch.no_grad():
        _, state = policy.prefill([policy.encode_prompt("1+2="), policy.encode_prompt("12*3-4=")])
        state = policy.select(state, torch.tensor([0, 1, 1]))
        addresses = []
        for t in range(4):
            _, state = policy.step(state, torch.tensor([5, 6, 7]) + t)
            layer = state.cache[0] if model == "gpt" else state.cache.layers[0]
            addresses.append(layer.keys.data_ptr())
    assert compiled_step.compile_counters()["graphs"] == 1
    assert len(set(addresses[1:])) == 1, addresses  # the first step may allocate the room


def test_compile_decode_settings():
    """"auto" compiles from AUTO_MIN_PARAMS parameters on; on/off and the older booleans are read as such; any
    other value is refused naming the setting."""
    small = _gpt().model
    assert sum(p.numel() for p in small.parameters()) < compiled_step.AUTO_MIN_PARAMS
    assert [compiled_step.wanted(v, small) for v in ("auto", "on", "off", True, False)] == [False, True, False,
                                                                                          True, False]
    large = torch.nn.Linear(8, 8)
    large.register_buffer("unused", torch.zeros(1))
    original = compiled_step.AUTO_MIN_PARAMS
    try:
        compiled_step.AUTO_MIN_PARAMS = 72  # the Linear's 64 weights and 8 biases
        assert compiled_step.wanted("auto", large)
        compiled_step.AUTO_MIN_PARAMS = 73
        assert not compiled_step.wanted("auto", torch.nn.Linear(8, 8))
    finally:
        compiled_step.AUTO_MIN_PARAMS = original
    assert [compiled_step.setting_of(v) for v in (True, False, None, "AUTO", "off")] == ["on", "off", "off", "auto",
                                                                                      "off"]
    with pytest.raises(ValueError, match="compile_decode.*'yes'.*'auto'"):
        compiled_step.setting_of("yes")


@pytest.mark.parametrize("backend", ["aot_eager"], indirect=True)
@pytest.mark.parametrize("model", ["gpt", "llama"])
def test_a_failed_compilation_under_auto_warns_once_and_decodes_eagerly(backend, model, monkeypatch):
    """No C++ compiler (or any failure of torch.compile) under "auto": one RuntimeWarning, then the eager
    fused step for that model, with the logits it gives when compiling is off; under "on" an error."""
    attempts = []

    def broken(fn):
        def call(*args):
            attempts.append(1)
            raise torch._dynamo.exc.BackendCompilerFailed(lambda *a: None, RuntimeError("no C++ compiler"))
        return call

    monkeypatch.setattr(compiled_step, "compiled", broken)
    monkeypatch.setattr(compiled_step, "AUTO_MIN_PARAMS", 1)
    logits = {}
    for setting in ("off", "auto"):
        policy = _gpt() if model == "gpt" else _hf_policy("llama")
        policy.compile_decode = setting
        with torch.no_grad(), warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            _, state = policy.prefill([policy.encode_prompt("1+2="), policy.encode_prompt("12*3-4=")])
            out = []
            for t in range(3):
                step_logits, state = policy.step(state, torch.tensor([5, 6]) + t)
                out.append(step_logits)
        logits[setting] = out
        said = [str(w.message) for w in caught if issubclass(w.category, RuntimeWarning)]
        assert len(said) == (setting == "auto")
        assert all("could not compile" in m and "compile_decode='off'" in m for m in said)
    assert attempts == [1]  # tried once, then never again for that model
    for a, b in zip(logits["off"], logits["auto"]):
        assert torch.equal(a, b)
    policy = _gpt() if model == "gpt" else _hf_policy("llama")
    policy.compile_decode = "on"
    with torch.no_grad(), pytest.raises(RuntimeError, match="compile_decode.*'off'"):
        _, state = policy.prefill([policy.encode_prompt("1+2="), policy.encode_prompt("12*3-4=")])
        policy.step(state, torch.tensor([5, 6]))


@pytest.mark.parametrize("backend", ["aot_eager"], indirect=True)
def test_compiled_hf_step_writes_into_a_batch_with_spare_rows(backend):
    """A ``transformers`` batch with spare rows (a stream's, ``gather_states`` with a row hint) that rows join in
    place: the graph writes the batch's rows of the buffer only, in place, and the logits are the forward's."""
    from treecredit.sampling.kv_states import append_kept_rows, gather_states

    def run(compiled: bool):
        policy = _hf_policy("llama")
        policy.fast_decode, policy.compile_decode = compiled, compiled
        out, addresses = [], []
        with torch.no_grad():
            _, state = policy.prefill([policy.encode_prompt("1+2="), policy.encode_prompt("12*3-4=")])
            kept = state
            state = gather_states(policy, [(state, torch.tensor([0, 1, 1]))], 12)
            for t in range(6):
                if t == 3:  # a fork of the prompt's first 4 tokens joins into a spare row
                    state = append_kept_rows(state, [(kept, 1)], [4])
                    assert state is not None
                logits, state = policy.step(state, torch.arange(state.key_valid.shape[0]) + 5 + t)
                out.append(logits)
                addresses.append(state.cache.layers[0].keys.data_ptr())
        assert all(layer.spare_rows() == 19 - 4 for layer in state.cache.layers)  # max(3 + 16, 12) rows
        return out, addresses

    got, addresses = run(True)
    want, _ = run(False)
    for a, b in zip(want, got):
        torch.testing.assert_close(b, a, rtol=0, atol=1e-10)
    assert compiled_step.compile_counters()["graphs"] == 1
    assert len(set(addresses)) == 1, addresses  # every step wrote into the stream's buffer
