"""The stream's first buffer has spare rows for its row hint up to ``kv_stream.START_MAX_ROW_GROWTH`` times the rows
it starts with, so that a batch that grows by forks and their siblings' copies to four times its first rows is never
copied whole into a bigger buffer (only its rows' places change: the same tokens)."""

import pytest
import torch
from test_stream_rows import counted_copies
from tree_helpers import NeverStops, tiny_gpt

from treecredit.sampling import kv_stream
from treecredit.sampling.backend import SamplingSettings, SegmentRequest
from treecredit.sampling.kv_backend import KVCacheBackend

torch.set_num_threads(1)


def _policy(family: str):
    if family == "gpt":
        return NeverStops(tiny_gpt(torch.float64, seed=1), [0, 2])
    pytest.importorskip("transformers")
    from hf_tiny import tiny_hf_policy

    policy = tiny_hf_policy("llama")
    return NeverStops(policy, [policy.pad_id, policy.eos_id])


def _growing_stream(policy, monkeypatch):
    """32 chains of 2 tokens, each forking 4 children at its end (one takes over its row, three are copied from
    it after the step: 128 rows in all). Returns the segments by (request, seq) and the rows of each copy of rows
    into a new buffer (``gather_states``)."""
    first = [SegmentRequest((1, 5 + i % 7, 6 + i % 5), 3, n=1, max_tokens=2, keep_key=("a", i), chain_keys=(10 + i,))
             for i in range(32)]
    got, copies = {}, counted_copies(monkeypatch)

    def on_end(ended):
        for rid, seq, segment in ended:
            got[(rid, seq)] = segment.tokens, segment.logprobs
        return [SegmentRequest(first[rid].prefix + tuple(segment.tokens), 3, n=4, max_tokens=5,
                               cache_key=(("a", rid), seq), chain_keys=tuple(100 + 4 * rid + j for j in range(4)))
                for rid, seq, segment in ended if rid < len(first)]

    KVCacheBackend(policy).stream(first, SamplingSettings(), on_end, max_rows=128)
    return got, copies


@pytest.mark.parametrize("family", ["gpt", "llama"])
def test_the_first_buffer_holds_the_forks_four_times_its_rows(family, monkeypatch):
    policy = _policy(family)
    got, copies = _growing_stream(policy, monkeypatch)
    assert copies == [32]  # the first rows, once, into a buffer with room for 128: the 96 siblings join in place
    monkeypatch.setattr(kv_stream, "START_MAX_ROW_GROWTH", 2)  # as later buffers: room for 64 rows
    before, before_copies = _growing_stream(policy, monkeypatch)
    assert max(before_copies) > 32  # the batch copied whole with the siblings that did not fit
    assert got.keys() == before.keys() and len(got) == 32 + 128
    for key, (tokens, logprobs) in got.items():
        assert tokens == before[key][0]
        assert logprobs == pytest.approx(before[key][1], abs=1e-12)  # masked columns may differ in number
