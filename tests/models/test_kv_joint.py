"""Every layer's keys and values in one joint buffer (``models.kv_joint``, ``hf_cache.GrowingLayer.stack_layers`` /
``append_layers``): the joint view reads what the layers hold, a stacked or appended cache holds bit for bit what the
per-layer buffers and copies held (``kv_joint.JOINT`` off), the joint copies are the ones taken (the trees:
tests/sampling/test_stream_joint_kv.py)."""

import pytest
import torch

transformers = pytest.importorskip("transformers")
pytest.importorskip("tokenizers")

from hf_tiny import tiny_hf_policy  # noqa: E402
from kv_joint_counts import Counts  # noqa: E402
from kv_steps import stepped_state  # noqa: E402
from treecredit.models import kv_buffer, kv_joint  # noqa: E402
from treecredit.sampling.kv_states import (  # noqa: E402
    append_kept_rows,
    append_own_rows,
    concat_states,
    gather_states,
    snapshot,
)

torch.set_num_threads(1)


def _policy():
    policy = tiny_hf_policy("llama")
    policy.model.to(torch.float64)
    return policy


def _kv(state) -> list:
    return [t.clone() for layer in state.cache.layers for t in (layer.keys, layer.values)]


def _joint(state):
    return kv_joint.joint_view([t for layer in state.cache.layers for t in (layer.keys, layer.values)])


def _same(a, b):
    assert torch.equal(a.key_valid, b.key_valid) and torch.equal(a.next_pos, b.next_pos)
    for x, y in zip(_kv(a), _kv(b)):
        assert x.shape == y.shape and torch.equal(x, y)  # masked columns included, bit for bit
    for x, y in zip(a.cache.layers, b.cache.layers):
        assert x.spare_rows() == y.spare_rows() and x.__dict__["_buffer"].keys.shape == y.__dict__["_buffer"].keys.shape


def test_joint_view_reads_the_slices_and_refuses_other_layouts():
    block = torch.randn(4, 9, 2, 12, 3)
    views = [block[j, :5, :, 2:7] for j in range(4)]
    joint = kv_joint.joint_view(views)
    assert joint is not None and torch.equal(joint, torch.stack(views))
    assert joint.data_ptr() == views[0].data_ptr()  # a view, no copy
    assert kv_joint.joint_view([torch.randn(5, 2, 5, 3) for _ in range(4)]) is None  # separate buffers
    assert kv_joint.joint_view([views[0], views[2], views[1], views[3]]) is None  # not at equal distances
    assert kv_joint.joint_view([block[0, :5], block[1, :4]]) is None  # different shapes
    assert kv_joint.joint_view(views[:1]) is None


def test_joint_copies_equal_the_per_layer_copies():
    """``copy_rows_joint`` writes what ``copy_rows_into`` writes into each layer's keys and values, rows in order
    (one gather) or scattered (``at`` out of order), with zeros in front."""
    g = torch.Generator().manual_seed(0)
    source = torch.randn(4, 6, 2, 10, 3, generator=g, dtype=torch.float64)
    for at in (torch.tensor([0, 1, 2]), torch.tensor([2, 0, 1])):
        rows = torch.tensor([4, 1, 4])
        a = torch.randn(4, 12, 2, 16, 3, generator=g, dtype=torch.float64)
        b = a.clone()
        kv_joint.copy_rows_joint(a, 5, 3, 9, [(source, rows, at, 2, 3)])
        for layer in range(2):
            kv_buffer.copy_rows_into(b[2 * layer], b[2 * layer + 1], 5, 3, 9,
                                     [(source[2 * layer], source[2 * layer + 1], rows, at, 2, 3)])
        assert torch.equal(a, b)


@pytest.mark.parametrize("joint", [True, False])
def test_gathered_and_appended_rows_equal_the_per_layer_path(joint, monkeypatch):
    """A stream's copies (gather into a new buffer, a fork's kept rows and a fork's siblings into spare rows), with
    and without joint buffers, from sources that are joint and sources that are not (a prefill's cache): the same
    keys, values, mask, positions and spare rows, and the next step's logits bit for bit."""
    policy = _policy()
    counts = Counts(monkeypatch)

    def run(on: bool):
        monkeypatch.setattr(kv_joint, "JOINT", on)
        with torch.no_grad():
            plain = stepped_state(policy, [[1, 5, 6, 7], [1, 9], [1, 4, 4, 4, 4, 4]], 3, seed=1)  # per-layer buffers
            batch = gather_states(policy, [(plain, torch.tensor([2, 0])), (plain, None)], 24)
            kept = snapshot(batch)
            _, batch = policy.step(batch, torch.tensor([5, 6, 7, 8, 9]))
            other = stepped_state(policy, [[1, 5], [1, 6, 7, 8, 9, 10, 11, 5]], 2, seed=2)
            wide = concat_states(policy, [other, plain]) if joint else other
            # kept rows: from the batch's own earlier snapshot and from another (joint or not) state, out of order
            grown = append_kept_rows(batch, [(kept, 1), (wide, 1), (kept, 3), (wide, 0)], [3, 6, 5, 2])
            grown = append_own_rows(grown, torch.tensor([0, 6, 6]))
            gathered = gather_states(policy, [(grown, torch.tensor([7, 0, 3])), (kept, torch.tensor([4, 1]),
                                                                                 torch.tensor([4, 2]))], 12)
            logits, _ = policy.step(gathered, torch.arange(5))
        return grown, gathered, logits

    on, off = run(True), run(False)
    monkeypatch.setattr(kv_joint, "JOINT", True)
    assert counts.stacks >= 2 and counts.appends == (2 if joint else 1)  # joint copies taken, with JOINT on only
    assert _joint(on[0]) is not None and _joint(on[1]) is not None and _joint(off[1]) is None
    _same(on[0], off[0])
    _same(on[1], off[1])
    assert torch.equal(on[2], off[2])


def test_interleaved_groups_copied_in_runs_equal_the_index_copy():
    """Rows of several sources that interleave among the added rows (a fork's rows from several kept states), each
    source's rows starting at its own column: ``copy_rows_joint`` (one zero fill, one gather per run of consecutive
    added rows) writes bit for bit what one index copy and one zero fill per source wrote (the copy before
    docs/performance.md [2z]), into a buffer holding old numbers (NaN), every added row written."""
    g = torch.Generator().manual_seed(1)
    sources = [torch.randn(4, 9, 2, w, 3, generator=g, dtype=torch.float64) for w in (8, 10, 12)]
    n, b, k = 8, 3, 10
    layouts = [[(0, [0, 2, 4, 6], 2), (1, [1, 3, 5], 0), (2, [7, 8, 9], 5)],
               [(2, [9, 8, 7], 0), (0, [0, 1, 5, 6], 3), (1, [2, 3, 4], 1)],
               [(1, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9], 4)]]
    for layout in layouts:
        groups = []
        for s, at, column in layout:
            width = sources[s].shape[3]
            rows = torch.randint(0, 9, (len(at),), generator=g)
            start = int(torch.randint(0, width - (n - column) + 1, (1,), generator=g))
            groups.append((sources[s], rows, torch.tensor(at), start, column))
        got = torch.full((4, 16, 2, 12, 3), float("nan"), dtype=torch.float64)
        want = got.clone()
        kv_joint.copy_rows_joint(got, b, k, n, groups)
        added = want[:, b:b + k, :, :n]
        for source, rows, at, start, column in groups:
            added[:, :, :, :column].index_fill_(1, at, 0)
            added[:, :, :, column:].index_copy_(1, at, source[:, rows, :, start:start + n - column])
        assert torch.equal(got.nan_to_num(7.0), want.nan_to_num(7.0))
        assert not got[:, b:b + k, :, :n].isnan().any()
