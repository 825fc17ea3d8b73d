"""A fork's rows copied once, straight from their kept states into the batch's spare rows
(``kv_states.append_kept_rows``): the same keys, values, mask and positions as the select → concat →
truncate path it replaces, then a plain concatenation, and a forked row's keys and values are its parent's prefix."""

import torch
from tree_helpers import tiny_gpt

from kv_steps import stepped_state
from treecredit.sampling.kv_states import append_kept_rows, concat_states, gather_states, truncate_state

torch.set_num_threads(1)


def _old_path(policy, batch, sources, keep):
    """The rows as the stream added them before: select per source, concat, truncate, reorder, append."""
    groups: dict = {}
    for i, (s, r) in enumerate(sources):
        groups.setdefault(id(s), (s, []))[1].append((i, r))
    states = [policy.select(s, torch.tensor([r for _, r in members])) for s, members in groups.values()]
    order = [i for _, members in groups.values() for i, _ in members]
    merged = truncate_state(concat_states(policy, states), torch.tensor([keep[i] for i in order]))
    merged = policy.select(merged, torch.tensor([order.index(i) for i in range(len(sources))]))
    return _appended(batch, merged)


def _appended(batch, rows):
    """``batch``'s keys, values, mask and positions with ``rows``' after them, by plain concatenation: ``rows``
    less its leading columns that no row attends to, right-aligned under ``batch``'s columns (zeros in front)."""
    first = int(rows.key_valid.any(0).nonzero().min())
    width, extra = batch.key_valid.shape[1], rows.key_valid.shape[1] - first
    assert extra <= width

    def joined(mine, theirs):
        return torch.cat([mine, torch.nn.functional.pad(theirs[:, :, first:], (0, 0, width - extra, 0))])

    cache = [(joined(bk, rk), joined(bv, rv)) for (bk, bv), (rk, rv) in zip(batch.cache, rows.cache)]
    valid = torch.cat([batch.key_valid, torch.nn.functional.pad(rows.key_valid[:, first:], (width - extra, 0))])
    return cache, valid, torch.cat([batch.next_pos, rows.next_pos])


def _batch(policy, rows, steps, spare):
    """A batch of ``rows`` + 1 rows (4 + ``steps`` columns) in a buffer with spare rows (16 at least)."""
    state = stepped_state(policy, [[1, 5, 6, 7]] * rows, steps, seed=9)
    return gather_states(policy, [(state, None), (state, torch.tensor([0]))], rows + 1 + spare)


def test_rows_copied_once_equal_the_select_concat_truncate_path():
    policy = tiny_gpt(torch.float64)
    old = stepped_state(policy, [[1, 5, 6], [1, 7, 8, 9, 4, 5], [1, 4]], 3, seed=1)  # narrower: 6 + 3 columns
    new = stepped_state(policy, [[1, 5], [1, 6, 7, 8, 9, 10, 11, 5]], 6, seed=2)  # wider: 8 + 6 columns
    # interleaved sources, a row taken twice, keeps that leave masked columns inside the merged width
    sources = [(new, 1), (old, 0), (new, 0), (old, 2), (old, 1), (new, 1)]
    keep = [10, 4, 3, 2, 9, 14]
    a, b = _batch(policy, 12, 12, 0), _batch(policy, 12, 12, 0)
    want_cache, want_valid, want_pos = _old_path(policy, a, sources, keep)
    got = append_kept_rows(b, sources, keep)
    assert got is not None and got.key_valid.shape == (19, 16)
    assert torch.equal(got.key_valid, want_valid) and torch.equal(got.next_pos, want_pos)
    for (gk, gv), (wk, wv) in zip(got.cache, want_cache):
        assert torch.equal(gk, wk) and torch.equal(gv, wv)  # masked columns included, bit for bit
    assert got.cache[0].spare_rows() == 16 + 13 - 19  # the rest stays spare


def test_a_forked_row_holds_its_parents_prefix_and_decodes_like_it():
    policy = tiny_gpt(torch.float64)
    parent = stepped_state(policy, [[1, 5, 6, 7, 8], [1, 9]], 7, seed=3)  # row 1: 2 + 7 real tokens, left-padded
    batch = _batch(policy, 4, 2, 8)
    keep = 6
    got = append_kept_rows(batch, [(parent, 1)], [keep])
    assert got is not None and got.key_valid.shape[0] == 6 and int(got.next_pos[-1]) == keep
    real = parent.key_valid[1].nonzero().view(-1)[:keep]  # the parent's first 6 real columns
    columns = got.key_valid[-1].nonzero().view(-1)
    assert len(columns) == keep
    for (gk, gv), (pk, pv) in zip(got.cache, parent.cache):
        assert torch.equal(gk[-1][:, columns], pk[1][:, real]) and torch.equal(gv[-1][:, columns], pv[1][:, real])
        assert not gk[-1][:, ~got.key_valid[-1]].any()  # masked columns in front are zeros
    # the forked row decodes its next token as the parent's prefix does, alone
    with torch.no_grad():
        logits, _ = policy.step(got, torch.tensor([4] * 6))
        ref, _ = policy.step(truncate_state(policy.select(parent, torch.tensor([1])), torch.tensor([keep])),
                             torch.tensor([4]))
    torch.testing.assert_close(logits[-1], ref[0], rtol=0, atol=1e-12)


def test_no_in_place_copy_where_the_batch_cannot_take_it():
    policy = tiny_gpt(torch.float64)
    wide = stepped_state(policy, [[1, 5, 6, 7, 8, 9, 10, 11, 4, 5, 6]], 9, seed=4)  # 20 columns
    batch = _batch(policy, 4, 2, 8)  # 6 columns
    assert append_kept_rows(batch, [(wide, 0)], [15]) is None  # wider than the batch: the caller copies instead
    full = _batch(policy, 4, 2, 0)
    assert append_kept_rows(full, [(wide, 0)] * 40, [2] * 40) is None  # too few spare rows
    grown = append_kept_rows(batch, [(wide, 0)], [3])
    assert grown is not None and append_kept_rows(batch, [(wide, 0)], [3]) is None  # batch no longer the latest


def test_gathered_cut_parts_equal_the_select_concat_truncate_path():
    """``gather_states`` with ``(state, rows, keep)`` parts (the stream's joins when it copies the batch) holds
    each row's real keys and values, positions and next logits as the former select → concat → truncate →
    gather path, copying each row once."""
    policy = tiny_gpt(torch.float64)
    old = stepped_state(policy, [[1, 5, 6], [1, 7, 8, 9, 4, 5], [1, 4]], 3, seed=1)
    new = stepped_state(policy, [[1, 5], [1, 6, 7, 8, 9, 10, 11, 5]], 6, seed=2)
    batch = stepped_state(policy, [[1, 5, 6, 7]] * 3, 5, seed=9)
    going = torch.tensor([2, 0])
    runs = [(new, [1, 0], [10, 3]), (old, [0, 0, 2], [4, 2, 5]), (new, [1], [14])]  # a row taken twice, new again
    got = gather_states(policy, [(batch, going)] + [(s, torch.tensor(r), torch.tensor(k)) for s, r, k in runs], 40)
    merged = [truncate_state(policy.select(s, torch.tensor(r)), torch.tensor(k)) for s, r, k in runs]
    want = gather_states(policy, [(batch, going), (concat_states(policy, merged), None)])
    assert torch.equal(got.next_pos, want.next_pos) and got.key_valid.shape[0] == 8
    for (gk, gv), (wk, wv) in zip(got.cache, want.cache):
        for row in range(8):
            g, w = got.key_valid[row], want.key_valid[row]
            assert int(g.sum()) == int(w.sum())
            assert torch.equal(gk[row][:, g], wk[row][:, w]) and torch.equal(gv[row][:, g], wv[row][:, w])
    assert got.key_valid.shape[1] <= want.key_valid.shape[1]  # no wider than the former path
    tokens = torch.arange(4, 12)
    with torch.no_grad():
        got_logits, _ = policy.step(got, tokens)
        want_logits, _ = policy.step(want, tokens)
    torch.testing.assert_close(got_logits, want_logits, rtol=0, atol=1e-12)
