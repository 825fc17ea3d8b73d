"""Preallocated KV caches: in-place growth never changes a state that is used again."""

import pytest
import torch

from treecredit.models import GPTPolicy

torch.set_num_threads(1)


def _tiny_gpt():
    policy = GPTPolicy.build(seed=0, n_layer=2, n_head=2, n_embd=32, max_len=96)
    policy.model.double()
    return policy


def _fresh_logits(policy, ids):
    with torch.no_grad():
        logits, _ = policy.prefill([ids])
    return logits


def test_gpt_states_stay_valid_when_stepped_twice_selected_or_kept():
    policy = _tiny_gpt()
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


def test_a_selected_gpt_state_keeps_its_room_and_its_source_stays_valid():
    policy = _tiny_gpt()
    prompt = policy.encode_prompt("1+2=")
    with torch.no_grad():
        _, state = policy.prefill([prompt, prompt])
        for t in range(70):  # the buffer was regrown on the way: its room is now at most the cache's length
            _, state = policy.step(state, torch.tensor([4 + t % 5, 5]))
        picked = policy.select(state, torch.tensor([0]))
        assert picked.cache[0]._buffer is not None and picked.cache[0]._buffer.keys.shape[2] > 70 + len(prompt)
        lp, _ = policy.step(picked, torch.tensor([9]))  # grows in place inside the selected copy
        ls, _ = policy.step(state, torch.tensor([7, 7]))
    ids = prompt + [4 + t % 5 for t in range(70)]
    torch.testing.assert_close(lp[0], _fresh_logits(policy, ids + [9])[0], rtol=0, atol=1e-12)
    torch.testing.assert_close(ls[0], _fresh_logits(policy, ids + [7])[0], rtol=0, atol=1e-12)


def test_rows_appended_into_spare_rows_decode_as_their_own_prefixes_and_leave_older_states_valid():
    """GrowingKV.append_copies (through kv_states.append_kept_rows): a fork's rows join a batch in its buffer's
    spare rows, right-aligned under masked zero columns; the batch before the append and a state selected from
    it still decode as before; only the latest state of a buffer appends in place."""
    from treecredit.sampling.kv_states import append_kept_rows, has_spare_rows, truncate_state

    policy = _tiny_gpt()
    long, short = policy.encode_prompt("12+3*4="), policy.encode_prompt("1=")
    with torch.no_grad():
        _, batch = policy.prefill([long, long])
        _, batch = policy.step(batch, torch.tensor([5, 6]))  # now in a buffer with spare rows
        _, fork = policy.prefill([short + [7, 8]])
        keep = [len(short) + 1]  # the prefix short + [7]; 8 is stepped next
        assert has_spare_rows(batch, 1)
        joined = append_kept_rows(batch, [(fork, 0)], keep)
        assert joined is not None and joined.key_valid.shape == (3, batch.key_valid.shape[1])
        assert not has_spare_rows(batch, 1) and append_kept_rows(batch, [(fork, 0)], keep) is None  # not the latest
        logits, _ = policy.step(joined, torch.tensor([9, 9, 8]))
        old, _ = policy.step(batch, torch.tensor([4, 4]))  # the batch before the append: copied, still valid
    torch.testing.assert_close(logits[0], _fresh_logits(policy, long + [5, 9])[0], rtol=0, atol=1e-12)
    torch.testing.assert_close(logits[1], _fresh_logits(policy, long + [6, 9])[0], rtol=0, atol=1e-12)
    torch.testing.assert_close(logits[2], _fresh_logits(policy, short + [7, 8])[0], rtol=0, atol=1e-12)
    torch.testing.assert_close(old[1], _fresh_logits(policy, long + [6, 4])[0], rtol=0, atol=1e-12)
    wide = truncate_state(policy.prefill([long + long])[1], torch.tensor([2 * len(long)]))
    assert append_kept_rows(joined, [(wide, 0)], [2 * len(long)]) is None  # wider than the batch: copied instead


def test_shared_kv_heads_give_the_numbers_of_copied_heads():
    """share_kv_heads (grouped heads through enable_gqa) against transformers' sdpa (copies of the heads), with
    left padding, so that a mask is given at every step."""
    pytest.importorskip("transformers")
    from hf_tiny import tiny_hf_policy
    from treecredit.models.hf_cache import SHARED_KV_SDPA, share_kv_heads

    policy = tiny_hf_policy()  # 4 query heads over 2 key/value heads
    prompts = [policy.encode_prompt("12+3="), policy.encode_prompt("7*8-1=")]

    policy.model.set_attn_implementation("sdpa")
    copied = _decode_plain(policy, prompts)
    assert share_kv_heads(policy.model)
    assert policy.model.config._attn_implementation == SHARED_KV_SDPA
    torch.testing.assert_close(_decode_plain(policy, prompts), copied, rtol=0, atol=1e-6)


def test_a_model_that_refuses_the_shared_heads_keeps_its_attention(monkeypatch):
    pytest.importorskip("transformers")
    from hf_tiny import tiny_hf_policy
    from treecredit.models.hf_cache import share_kv_heads

    policy = tiny_hf_policy()
    policy.model.set_attn_implementation("sdpa")
    prompts = [policy.encode_prompt("12+3="), policy.encode_prompt("7*8-1=")]
    before = _decode_plain(policy, prompts)

    def refuse(name):
        raise NotImplementedError(f"{name} is not supported by this model class")

    monkeypatch.setattr(policy.model, "set_attn_implementation", refuse)
    assert not share_kv_heads(policy.model)
    assert policy.model.config._attn_implementation == "sdpa"
    torch.testing.assert_close(_decode_plain(policy, prompts), before, rtol=0, atol=0)


def _decode_plain(policy, prompts):
    """Logits of 5 steps after ``prompts``, with the model's attention as it is set (prefill would switch it)."""
    from treecredit.models.hf_cache import grow_in_place
    from treecredit.sampling.policy import DecodeState, left_pad

    out = []
    with torch.no_grad():
        ids, valid, positions = left_pad(prompts, policy.pad_id)
        logits, cache = policy._forward(ids, valid, positions, None)
        state = DecodeState(grow_in_place(cache), valid, positions[:, -1] + 1)
        for t in range(5):
            logits, state = policy.step(state, torch.tensor([5 + t, 9 - t]))
            out.append(logits)
    return torch.stack(out)


def test_pool_hands_out_a_block_again_only_once_nothing_holds_it():
    from treecredit.models.kv_buffer import BufferPool

    pool = BufferPool()
    like = torch.zeros(1, dtype=torch.float64)
    a = pool.take((2, 3, 4), like)
    a.fill_(1.0)
    view = a[:, :, 1:]  # a cache's view of the buffer keeps the block in use after the buffer is gone
    block = a.data_ptr()
    del a
    b = pool.take((2, 3, 4), like)
    assert b.data_ptr() != block and pool.reused == 0
    del view
    c = pool.take((4, 5), like)  # smaller: the freed block fits, and comes back
    assert c.data_ptr() == block and pool.reused == 1 and c.shape == (4, 5) and c.dtype == torch.float64
    assert pool.take((2, 3, 4), torch.zeros(1, dtype=torch.float32)).dtype == torch.float32  # another dtype: new
    del b
    assert pool.take((100,), like).data_ptr() != block  # too large for every free block: new
    del c
    pool.clear()  # drops the free blocks, keeps none that is held
    assert len(pool._blocks) == 0 and pool.take((2, 3, 4), like).data_ptr() != block


def test_pool_keeps_at_most_keep_bytes_of_free_blocks():
    from treecredit.models.kv_buffer import BufferPool

    pool = BufferPool(keep_bytes=1000)
    like = torch.zeros(1)
    held = [pool.take((100,), like) for _ in range(5)]  # 400 bytes each, all in use
    del held
    small = pool.take((50,), like)  # fits a free block: reused, nothing dropped
    assert pool.reused == 1 and len(pool._blocks) == 5
    big = pool.take((120,), like)  # 480 bytes, no free block fits: free ones dropped to ≤ 1000 − 480 bytes
    free = [e for e in pool._blocks if pool._free(e)]
    assert len(free) == 1 and len(pool._blocks) == 3 and small.numel() == 50 and big.numel() == 120


def test_gpt_states_from_reused_buffers_decode_as_fresh_ones():
    """Old keys and values left in a reused block are never read: a stream of forks through buffers the pool
    hands out again gives the logits of a fresh prefill."""
    from treecredit.models import kv_buffer

    policy = _tiny_gpt()
    prompt = policy.encode_prompt("7*8=")
    before = kv_buffer.POOL.reused
    with torch.no_grad():
        for _ in range(3):  # later rounds take the blocks the earlier ones left
            _, state = policy.prefill([prompt, prompt + [5, 6]])
            for t in range(6):
                _, state = policy.step(state, torch.tensor([4 + t, 9 - t]))
            picked = policy.select(state, torch.tensor([1, 0, 1]))
            logits, picked = policy.step(picked, torch.tensor([3, 3, 4]))
            del state
    assert kv_buffer.POOL.reused > before
    long_ids = prompt + [5, 6] + [9 - t for t in range(6)]
    short_ids = prompt + [4 + t for t in range(6)]
    torch.testing.assert_close(logits[0], _fresh_logits(policy, long_ids + [3])[0], rtol=0, atol=1e-12)
    torch.testing.assert_close(logits[1], _fresh_logits(policy, short_ids + [3])[0], rtol=0, atol=1e-12)
    torch.testing.assert_close(logits[2], _fresh_logits(policy, long_ids + [4])[0], rtol=0, atol=1e-12)


def _copied_by_index(keys, values, b, k, n, groups):
    """The rows as :func:`copy_rows_into` wrote them before runs were gathered in one pass: a zero fill and an
    index copy per group (the reference)."""
    for i, mine in enumerate((keys, values)):
        added = mine[b:b + k, :, :n]
        for *tensors, rows, at, start, column in groups:
            source = tensors[i][:, :, start:start + n - column]
            added[:, :, :column].index_fill_(0, at, 0)
            added[:, :, column:].index_copy_(0, at, source.index_select(0, rows))


def test_rows_copied_in_runs_equal_the_index_copy():
    from treecredit.models.kv_buffer import copy_rows_into

    gen = torch.Generator().manual_seed(0)
    sources = [(torch.randn(9, 2, w, 3, generator=gen), torch.randn(9, 2, w, 4, generator=gen)) for w in (8, 10, 12)]
    n, b, k = 8, 3, 10
    # runs in order, one row, a run starting inside, and out of order (index copy); columns in front or none
    layouts = [[(0, [0, 1, 2, 3], 0), (1, [4], 3), (2, [5, 6, 7, 8, 9], 0)],
               [(2, [9, 8, 7], 0), (0, [0, 2, 4, 6], 2), (1, [1, 3, 5], 0)],
               [(1, [2, 3, 4, 5, 6, 7, 8, 9], 4), (0, [0, 1], 1)]]
    for layout in layouts:
        groups = []
        for s, at, column in layout:
            width = sources[s][0].shape[2]
            rows = torch.randint(0, 9, (len(at),), generator=gen)
            start = int(torch.randint(0, width - (n - column) + 1, (1,), generator=gen))
            groups.append((*sources[s], rows, torch.tensor(at), start, column))
        got = [torch.full((16, 2, 12, d), float("nan")) for d in (3, 4)]  # a reused block: old numbers in it
        want = [t.clone() for t in got]
        copy_rows_into(*got, b, k, n, groups)
        _copied_by_index(*want, b, k, n, groups)
        for g, w in zip(got, want):
            assert torch.equal(g.nan_to_num(7.0), w.nan_to_num(7.0))
            assert not g[b:b + k, :, :n].isnan().any()  # every added row written, zeros in front


def test_a_gpt_buffers_row_hint_counts_only_up_to_twice_its_rows():
    """As a transformers layer's (tests/models/test_hf_cache_spare_bounds.py), with at least SPARE spare rows: kept
    states hold earlier buffers."""
    from treecredit.models import kv_buffer
    from treecredit.models.kv_buffer import spare_rows
    from treecredit.sampling.kv_states import gather_states

    policy = _tiny_gpt()
    with torch.no_grad():
        _, state = policy.prefill([[1, 5, 6 + i % 4] for i in range(4)])

    def rows(gathered):
        return {int(kv._buffer.keys.shape[0]) for kv in gathered.cache}

    assert rows(gather_states(policy, [(state, torch.tensor([0, 2]))], total_rows=200)) == {2 + kv_buffer.SPARE}
    assert rows(gather_states(policy, [(state, torch.tensor([0, 2]))], total_rows=10)) == {2 + spare_rows(2)}
    many = torch.tensor([0, 1, 2, 3] * 20)
    assert rows(gather_states(policy, [(state, many)], total_rows=400)) == {160}  # 2 × 80, not 400
    assert rows(gather_states(policy, [(state, many)], total_rows=150)) == {150}  # more than 80 + 40, at most 160
    kv_buffer.STACKED_MAX_ROW_GROWTH = 0  # the whole hint, as before
    try:
        assert rows(gather_states(policy, [(state, torch.tensor([0, 2]))], total_rows=200)) == {200}
    finally:
        kv_buffer.STACKED_MAX_ROW_GROWTH = 2
