"""The cut parts of a gather (a fork's rows joining from several kept states) have their masks cut together
(``kv_states._parts_rows``): the same masks, positions and widths as each part cut on its own (``_part_rows``), and
the same gathered state bit for bit (docs/performance.md [2z])."""

import torch
from tree_helpers import tiny_gpt

from kv_steps import stepped_state
from treecredit.sampling import kv_states
from treecredit.sampling.kv_states import _part_rows, _parts_rows, gather_states

torch.set_num_threads(1)


def _states(policy):
    old = stepped_state(policy, [[1, 5, 6], [1, 7, 8, 9, 4, 5], [1, 4]], 3, seed=1)
    new = stepped_state(policy, [[1, 5], [1, 6, 7, 8, 9, 10, 11, 5]], 6, seed=2)
    batch = stepped_state(policy, [[1, 5, 6, 7]] * 3, 5, seed=9)
    return old, new, batch


def test_cut_parts_masks_cut_together_equal_each_cut_alone():
    policy = tiny_gpt(torch.float64)
    old, new, batch = _states(policy)
    layouts = [
        [(batch, torch.tensor([2, 0])), (new, torch.tensor([1, 0]), torch.tensor([10, 3])),
         (old, torch.tensor([0, 0, 2]), torch.tensor([4, 2, 5])), (new, torch.tensor([1]), torch.tensor([14]))],
        [(old, torch.tensor([1]), torch.tensor([1])), (new, torch.tensor([0, 1]), torch.tensor([1, 1]))],  # one token
        [(new, None, torch.tensor([2, 7])), (old, torch.tensor([2, 1]), [3, 9]), (batch, None)],
    ]
    for parts in layouts:
        got, want = _parts_rows(parts), [_part_rows(*part) for part in parts]
        for (gv, gp, gw), (wv, wp, ww) in zip(got, want):
            assert gw == ww and torch.equal(gv, wv) and torch.equal(gp, wp) and gp.dtype == wp.dtype


def test_a_gather_of_cut_parts_is_the_same_bit_for_bit(monkeypatch):
    policy = tiny_gpt(torch.float64)
    old, new, batch = _states(policy)
    parts = [(batch, torch.tensor([2, 0])), (new, torch.tensor([1, 0]), torch.tensor([10, 3])),
             (old, torch.tensor([0, 0, 2]), torch.tensor([4, 2, 5])), (new, torch.tensor([1]), torch.tensor([14]))]
    got = gather_states(policy, parts, 40)
    monkeypatch.setattr(kv_states, "_parts_rows", lambda parts: [_part_rows(*part) for part in parts])
    want = gather_states(policy, parts, 40)
    assert torch.equal(got.key_valid, want.key_valid) and torch.equal(got.next_pos, want.next_pos)
    for (gk, gv), (wk, wv) in zip(got.cache, want.cache):
        assert torch.equal(gk, wk) and torch.equal(gv, wv)
