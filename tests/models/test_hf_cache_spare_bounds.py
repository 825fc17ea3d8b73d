"""Spare rows of ``transformers`` cache buffers stay bounded by the rows a buffer holds (a stream's row hint counts
only up to twice them, a regrow keeps ``spare_rows(B)``), and a cache off the CPU takes no spare rows: kept states
hold earlier buffers alive, and on a GPU spare rows are allocated memory (docs/performance.md [2i])."""

import pytest
import torch

transformers = pytest.importorskip("transformers")
pytest.importorskip("tokenizers")

from hf_tiny import tiny_hf_policy  # noqa: E402
from treecredit.models import hf_cache  # noqa: E402
from treecredit.models.kv_buffer import spare_rows  # noqa: E402
from treecredit.sampling.kv_states import gather_states, has_spare_rows  # noqa: E402

torch.set_num_threads(1)


def _state(rows: int):
    policy = tiny_hf_policy("llama")
    with torch.no_grad():
        _, state = policy.prefill([[1, 5, 6 + i % 4] for i in range(rows)])
        _, state = policy.step(state, torch.full((rows,), 7, dtype=torch.long))
    return policy, state


def _buffer_rows(state) -> list[int]:
    return [int(layer._buffer.keys.shape[0]) for layer in state.cache.layers]


def test_a_row_hint_counts_only_up_to_twice_the_rows():
    policy, state = _state(4)
    few = gather_states(policy, [(state, torch.tensor([0, 2]))], total_rows=200)
    assert _buffer_rows(few) == [2 + spare_rows(2)] * len(few.cache.layers)  # 18, not 200
    many = gather_states(policy, [(state, torch.tensor([0, 1, 2, 3] * 10))], total_rows=200)
    assert _buffer_rows(many) == [80] * len(many.cache.layers)  # 2 × 40, not 200
    hinted = gather_states(policy, [(state, torch.tensor([0, 1, 2, 3] * 10))], total_rows=70)
    assert _buffer_rows(hinted) == [70] * len(hinted.cache.layers)  # more than 40 + 20, at most 80


def test_a_regrown_buffer_keeps_a_bounded_spare_not_all_the_old_rows():
    policy, state = _state(4)
    grown = gather_states(policy, [(state, torch.tensor([0, 1, 2, 3] * 10))], total_rows=80)
    for layer in grown.cache.layers:
        keys = layer.keys.clone()
        assert layer.spare_rows() == 40
        n = keys.shape[2]
        room_keys, room_values = layer.room_for(1000)  # more columns than its room: regrown
        assert int(layer._buffer.keys.shape[0]) == 40 + spare_rows(40)  # 60, not the old buffer's 80
        assert room_keys.shape[0] == 40 and torch.equal(room_keys[:, :, :n], keys)
        layer.keys, layer.values = room_keys[:, :, :n], room_values[:, :, :n]  # as update rebinds them
        assert layer.spare_rows() == spare_rows(40)


def test_a_cache_off_the_cpu_takes_no_spare_rows():
    policy, state = _state(2)
    layer = state.cache.layers[0]
    assert layer.offers_spare_rows() and has_spare_rows(state, 0)
    meta = hf_cache.GrowingLayer()
    meta.keys = torch.empty((2, 2, 3, 4), device="meta")
    meta.values = torch.empty((2, 2, 3, 4), device="meta")
    meta.is_initialized = True
    assert not meta.offers_spare_rows() and meta.spare_rows() == 0
    assert meta.append_copies(1, []) is None
