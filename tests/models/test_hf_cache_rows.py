"""Spare rows of ``transformers`` cache layers (``hf_cache.GrowingLayer.stacked`` / ``append_copies``): rows added
in place hold their sources' keys and values, the layer grown from stays valid, only the buffer's owner writes
into it, the fused step and the ``transformers`` forward decode a cache with spare rows as a plain one, and no
buffer waits for the garbage collector."""

import gc
import weakref

import pytest
import torch

transformers = pytest.importorskip("transformers")
pytest.importorskip("tokenizers")

from hf_tiny import tiny_hf_policy  # noqa: E402
from kv_steps import stepped_state  # noqa: E402
from treecredit.models import hf_cache, hf_fast_step  # noqa: E402
from treecredit.sampling.kv_states import append_kept_rows, concat_states, gather_states, has_spare_rows  # noqa: E402

torch.set_num_threads(1)


def _policy(fast=True):
    policy = tiny_hf_policy("llama")
    policy.model.to(torch.float64)
    policy.fast_decode = fast
    return policy


def _plain(state):
    """Each layer's ``(keys, values)`` as contiguous copies."""
    return [(layer.keys.clone(), layer.values.clone()) for layer in state.cache.layers]


def test_stacked_rows_equal_the_concatenation_and_leave_spare_rows(monkeypatch):
    policy = _policy()
    a = stepped_state(policy, [[1, 5, 6], [1, 7, 8, 9, 4]], 3, seed=1)  # 5 + 3 columns
    b = stepped_state(policy, [[1, 5]], 5, seed=2)  # 2 + 5 columns: left-padded under the wider
    got = concat_states(policy, [a, b])
    monkeypatch.setattr(hf_cache, "ROWS_JOIN_IN_PLACE", False)
    want = concat_states(policy, [a, b])  # torch.cat of zero-padded layers
    assert torch.equal(got.key_valid, want.key_valid) and torch.equal(got.next_pos, want.next_pos)
    for layer, (keys, values) in zip(got.cache.layers, _plain(want)):
        assert torch.equal(layer.keys, keys) and torch.equal(layer.values, values)
        assert layer.spare_rows() == 0  # the flag is off now
    monkeypatch.setattr(hf_cache, "ROWS_JOIN_IN_PLACE", True)
    assert all(layer.spare_rows() == 16 for layer in got.cache.layers)  # max(16, 3 / 2)
    assert has_spare_rows(got, 16) and not has_spare_rows(got, 17) and not has_spare_rows(a, 1)


def test_rows_appended_in_place_keep_the_grown_from_layer_valid():
    policy = _policy()
    batch = gather_states(policy, [(stepped_state(policy, [[1, 5, 6, 7]] * 3, 4, seed=3), None),
                                   (stepped_state(policy, [[1, 9]], 6, seed=5), None)], 10)
    source = stepped_state(policy, [[1, 5, 6], [1, 7, 8, 9, 4, 5]], 2, seed=4)
    before = _plain(batch)
    grown = append_kept_rows(batch, [(source, 1), (source, 0)], [5, 3])
    assert grown is not None and grown.key_valid.shape == (6, 8)
    for layer, fresh, (keys, values), src in zip(batch.cache.layers, grown.cache.layers, before, source.cache.layers):
        assert torch.equal(layer.keys, keys) and torch.equal(layer.values, values)  # the batch as it was
        assert torch.equal(fresh.keys[:4], keys) and fresh.keys.data_ptr() == layer.keys.data_ptr()  # no copy
        assert layer.spare_rows() == 0 and fresh.spare_rows() == 14  # ownership passed on (4 + 16 rows)
        # row 4: source row 1's first 5 real columns, right-aligned; row 5: row 0's first 3
        assert torch.equal(fresh.keys[4][:, grown.key_valid[4]], src.keys[1][:, source.key_valid[1]][:, :5])
        assert torch.equal(fresh.values[5][:, grown.key_valid[5]], src.values[0][:, source.key_valid[0]][:, :3])
    rows = _plain(grown)
    with torch.no_grad():  # (a transformers step updates its state's cache in place)
        logits, stepped = policy.step(grown, torch.arange(4, 10))
        again, old = policy.step(batch, torch.arange(4, 8))  # the layer grown from regrows: the new rows stay
    for layer, fresh in zip(old.cache.layers, stepped.cache.layers):
        assert layer.keys.data_ptr() != fresh.keys.data_ptr()
    torch.testing.assert_close(logits[:4], again, rtol=0, atol=1e-12)
    for layer, (keys, values) in zip(stepped.cache.layers, rows):
        assert torch.equal(layer.keys[:, :, :8], keys) and torch.equal(layer.values[:, :, :8], values)


@pytest.mark.parametrize("fast", [True, False])
def test_a_cache_with_spare_rows_decodes_as_a_plain_one(fast, monkeypatch):
    """Many steps (the columns' room runs out and regrows with spare rows) by the fused step or the
    ``transformers`` forward: the logits of the same rows in a plain cache."""
    policy = _policy(fast)
    state = stepped_state(policy, [[1, 5, 6], [1, 7, 8, 9, 4]], 2, seed=6)
    spare = gather_states(policy, [(state, None), (state, torch.tensor([1]))], 40)
    monkeypatch.setattr(hf_cache, "ROWS_JOIN_IN_PLACE", False)
    plain = gather_states(policy, [(state, None), (state, torch.tensor([1]))], 40)
    monkeypatch.setattr(hf_cache, "ROWS_JOIN_IN_PLACE", True)
    g = torch.Generator().manual_seed(7)
    with torch.no_grad():
        for _ in range(70):
            tokens = torch.randint(4, 12, (3,), generator=g)
            got, spare = policy.step(spare, tokens)
            want, plain = policy.step(plain, tokens)
            torch.testing.assert_close(got, want, rtol=0, atol=1e-10)
    # 3 rows: the hint of 40 counts up to 6 rows, so max(16, 3 / 2) spare rows, kept when the columns regrow
    assert [(layer.spare_rows(), layer.keys.shape[-2]) for layer in spare.cache.layers] == [(16, 77)] * 2


def test_compiled_buffers_are_the_rows_of_the_batch():
    """The compiled step writes whole buffers: ``room_for`` gives the batch's rows of the buffer, not its spare ones."""
    policy = _policy()
    state = stepped_state(policy, [[1, 5, 6]] * 3, 1, seed=8)
    spare = gather_states(policy, [(state, None), (state, torch.tensor([0]))], 30)
    keys, values = hf_fast_step._compiled_buffers(spare.cache, spare.key_valid.shape[1])
    for layer, k, v in zip(spare.cache.layers, keys, values):
        assert k.shape[0] == v.shape[0] == 4 and k.shape[-2] > layer.keys.shape[-2]
        assert k.data_ptr() == layer.keys.data_ptr() and layer.spare_rows() == 16  # the hint of 30 counts up to 8


def test_buffers_are_freed_without_the_garbage_collector():
    """A layer's buffer names its owner by a weak reference: no cycle, so a batch's memory goes back (or to the
    pool) as soon as nothing holds it, while the garbage collector is paused (as during a tree call)."""
    policy = _policy()
    state = stepped_state(policy, [[1, 5, 6]] * 2, 1, seed=9)
    gc.disable()
    try:
        spare = gather_states(policy, [(state, None), (state, torch.tensor([0]))], 30)
        buffer = weakref.ref(spare.cache.layers[0]._buffer.keys)
        with torch.no_grad():
            _, spare = policy.step(spare, torch.tensor([4, 5, 6]))
        grown = append_kept_rows(spare, [(state, 1)], [3])
        assert grown is not None and buffer() is not None
        del spare, grown
        assert buffer() is None
    finally:
        gc.enable()
