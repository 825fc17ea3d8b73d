"""The stream's row hint (``max_rows``): joins go into spare rows instead of copying the batch, same segments;
the tree sampler pauses the garbage collector only while it samples."""

import gc

import pytest
import torch
from test_segment_rounds import _same_rollout
from tree_helpers import NeverStops, tiny_gpt

from treecredit.sampling import kv_stream
from treecredit.sampling.backend import SamplingSettings, SegmentRequest
from treecredit.sampling.kv_backend import KVCacheBackend
from treecredit.sampling.tree import TreeSampler
from treecredit.tasks import ArithmeticTask

torch.set_num_threads(1)


def counted_copies(monkeypatch) -> list:
    """A list that gets, for each ``gather_states`` call of the stream from now on (a copy of rows into a new
    buffer), the rows it copies."""
    copies: list = []
    gather = kv_stream.gather_states

    def counting(policy, parts, *a):
        copies.append(sum(len(p[1]) if p[1] is not None else int(p[0].key_valid.shape[0]) for p in parts))
        return gather(policy, parts, *a)

    monkeypatch.setattr(kv_stream, "gather_states", counting)
    return copies


def _forking_stream(policy, max_rows, monkeypatch):
    """48 chains; 32 of them end early and fork 2 children each (one is added to the batch). Returns the
    segments by (request, seq), the rows of each ``gather_states`` call (a copy of the rows into a new
    buffer) and the decoding steps."""
    lengths = [2] * 16 + [4] * 16 + [14] * 16
    first = [SegmentRequest((1, 5 + i % 7), 2, n=1, max_tokens=m, keep_key=("a", i), chain_keys=(10 + i,))
             for i, m in enumerate(lengths)]
    got, copies = {}, counted_copies(monkeypatch)

    def on_end(ended):
        for rid, seq, segment in ended:
            got[(rid, seq)] = (segment.tokens, segment.logprobs)
        return [SegmentRequest(first[rid].prefix + tuple(segment.tokens), 2, n=2, max_tokens=10,
                               cache_key=(("a", rid), seq), chain_keys=(100 + rid, 200 + rid))
                for rid, seq, segment in ended if rid < len(first) and lengths[rid] < 14]

    backend = KVCacheBackend(policy)
    backend.stream(first, SamplingSettings(), on_end, max_rows=max_rows)
    return got, copies, backend.steps


def test_a_row_hint_makes_room_for_the_joins_and_changes_no_token(monkeypatch):
    policy = NeverStops(tiny_gpt(torch.float32), [0, 2])
    plain, plain_copies, plain_steps = _forking_stream(policy, 0, monkeypatch)
    hinted, hinted_copies, hinted_steps = _forking_stream(policy, 80, monkeypatch)
    assert max(plain_copies) > 48  # without the hint the batch outgrows its spare rows and is copied
    # with it the first 48 rows are copied once into a buffer with room for 80 (instead of a select), and the
    # 32 added rows go into its spare rows (no compaction: half the rows never end)
    assert hinted_copies == [48]
    assert hinted == plain and hinted_steps == plain_steps == 14


class NoHint:
    """A backend whose ``stream`` takes no ``max_rows`` (the tree sampler must not pass one)."""

    def __init__(self, inner):
        self.inner = inner
        self.kept = inner.kept

    def generate(self, *a, **k):
        return self.inner.generate(*a, **k)

    def stream(self, requests, settings, on_end):
        return self.inner.stream(requests, settings, on_end)

    def release(self, keys=()):
        self.inner.release(keys)

    @property
    def steps(self):
        return self.inner.steps

    @property
    def prefill_tokens(self):
        return self.inner.prefill_tokens


def test_the_tree_is_the_same_with_and_without_the_hint():
    policy = tiny_gpt(torch.float64, seed=3)
    task = ArithmeticTask()
    problems = task.generate(__import__("numpy").random.default_rng(0), 6)
    out = []
    for backend in (KVCacheBackend(policy), NoHint(KVCacheBackend(policy))):
        out.append(TreeSampler().sample(policy, task, problems, 8, torch.Generator().manual_seed(5), backend=backend))
    _same_rollout(*out)


class Failing(ArithmeticTask):
    def format_prompt(self, problem):
        assert not gc.isenabled()  # paused while sampling
        raise RuntimeError("boom")


@pytest.mark.parametrize("enabled", [True, False])
def test_the_garbage_collector_is_restored_after_a_tree_call(enabled):
    policy = tiny_gpt(torch.float32)
    was = gc.isenabled()
    try:
        (gc.enable if enabled else gc.disable)()
        TreeSampler().sample(policy, ArithmeticTask(), ArithmeticTask().generate(__import__("numpy").random.
                                                                               default_rng(0), 2), 4, None)
        assert gc.isenabled() == enabled
        with pytest.raises(RuntimeError, match="boom"):
            TreeSampler().sample(policy, Failing(), [None], 4, None)
        assert gc.isenabled() == enabled
    finally:
        (gc.enable if was else gc.disable)()
