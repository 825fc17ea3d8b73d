"""A fork's further children at the end of a row that its first child takes over are copied from that row after
the step (``kv_stream.TWIN_COPIES``, ``_add_twins``) instead of each stepping the prefix's last token: the same
segments, trees and log-probabilities as when they join from the kept state, with fewer rows stepped."""

import numpy as np
import pytest
import torch
from test_segment_rounds import CASES, _same_rollout
from test_stream_rows import _forking_stream
from tree_helpers import NeverStops, tiny_gpt

from treecredit.sampling import kv_stream
from treecredit.sampling.kv_backend import KVCacheBackend
from treecredit.sampling.tree import TreeSampler
from treecredit.tasks import ArithmeticTask

torch.set_num_threads(1)


class RowCounter:
    """A policy wrapper counting the rows it steps (one row of one decoding step each)."""

    def __init__(self, policy):
        self.inner, self.rows = policy, 0
        self.pad_id, self.eos_id, self.vocab_size = policy.pad_id, policy.eos_id, policy.vocab_size

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def step(self, state, tokens):
        self.rows += int(tokens.shape[0])
        return self.inner.step(state, tokens)


def _tree(twins: bool, branching, options, cutoff, temperature, top_p, monkeypatch, problems=6, schedule="auto"):
    monkeypatch.setattr(kv_stream, "TWIN_COPIES", twins)
    policy = RowCounter(tiny_gpt(torch.float64, seed=1))
    task = ArithmeticTask()
    sampler = TreeSampler(branching=branching, branching_options=options, cutoff=cutoff, temperature=temperature,
                          top_p=top_p, max_new_tokens=16, schedule=schedule)
    rollout = sampler.sample(policy, task, task.generate(np.random.default_rng(2), problems), 8,
                             torch.Generator().manual_seed(4), backend=KVCacheBackend(policy))
    return rollout, policy.rows


@pytest.mark.parametrize("branching, options, cutoff, temperature, top_p", CASES)
def test_siblings_copied_after_the_step_give_the_same_tree(branching, options, cutoff, temperature, top_p,
                                                           monkeypatch):
    with_twins, rows = _tree(True, branching, options, cutoff, temperature, top_p, monkeypatch)
    without, rows_before = _tree(False, branching, options, cutoff, temperature, top_p, monkeypatch)
    _same_rollout(with_twins, without)
    assert rows <= rows_before
    if branching == "fixed":  # its forks open their children at the end of the chain that forks
        assert rows < rows_before


def test_speculative_entropy_trees_are_unchanged(monkeypatch):
    args = ("entropy", {"chains": 2, "forks": 2, "children": 1}, "off", 1.0, 1.0, monkeypatch)
    _same_rollout(_tree(True, *args, schedule="speculative")[0], _tree(False, *args, schedule="speculative")[0])


@pytest.mark.parametrize("max_rows", [0, 80])
def test_siblings_fit_into_spare_rows_or_join_by_a_copy_of_the_batch(max_rows, monkeypatch):
    """48 chains, 32 fork 2 children each at their end: the second child is the first's twin. Without the row
    hint the twins outgrow the spare rows and the batch is copied with them; with it they go into spare rows.
    Either way the segments are those of the kept-state path, and 32 fewer rows are stepped."""
    out = {}
    for twins in (True, False):
        monkeypatch.setattr(kv_stream, "TWIN_COPIES", twins)
        policy = RowCounter(NeverStops(tiny_gpt(torch.float64), [0, 2]))
        got, copies, steps = _forking_stream(policy, max_rows, monkeypatch)
        out[twins] = got, list(copies), steps, policy.rows  # a later run appends to this run's list too
    assert out[True][0] == out[False][0] and out[True][2] == out[False][2] == 14
    assert out[True][3] == out[False][3] - 32
    if max_rows:
        assert out[True][1] == [48]  # one copy, into a buffer with room for 80 rows
    else:
        assert max(out[True][1]) > 48  # the batch copied with the twins that did not fit


@pytest.mark.parametrize("family", ["gpt", "llama"])
def test_own_rows_appended_whole_equal_the_kept_rows_path(family):
    """``kv_states.append_own_rows`` (the twins' copy) gives the state ``append_kept_rows`` gives for the same rows
    cut to their whole context: the same mask and positions, the same keys and values in every column a copied row
    attends to, and the next step's logits bit for bit, in the buffer's spare rows (the batch left as it was)."""
    from treecredit.sampling.kv_states import append_kept_rows, append_own_rows, gather_states

    if family == "gpt":
        policy = tiny_gpt(torch.float64, seed=1)
    else:
        pytest.importorskip("transformers")
        from hf_tiny import tiny_hf_policy

        policy = tiny_hf_policy("llama")
    prompts = [[1, 5, 6, 7, 8, 9], [1, 4], [1, 6, 7, 8], [1, 9, 9]]  # left-padded: rows use different columns

    def batch():
        _, state = policy.prefill(prompts)
        state = gather_states(policy, [(state, torch.arange(len(prompts)))], 16)  # spare rows, as a stream makes
        for token in (5, 6):
            _, state = policy.step(state, torch.full((len(prompts),), token))
        return state

    index = torch.tensor([2, 1, 2])
    with torch.no_grad():
        state, other = batch(), batch()
        before = [(k.clone(), v.clone()) for k, v in _kv(state)]
        whole = state.key_valid.index_select(0, index).sum(1)
        ours = append_own_rows(state, index)
        kept = append_kept_rows(other, [(other, int(b)) for b in index], whole)
    assert kept is not None and ours is not None
    assert torch.equal(ours.key_valid, kept.key_valid) and torch.equal(ours.next_pos, kept.next_pos)
    assert torch.equal(ours.next_pos[-3:], whole)
    for (k, v), (k0, v0) in zip(_kv(ours), before):  # the batch's own rows untouched
        assert torch.equal(k[:len(prompts)], k0) and torch.equal(v[:len(prompts)], v0)
    valid = ours.key_valid[len(prompts):]
    for (k, v), (src_k, src_v) in zip(_kv(ours), before):
        for j, b in enumerate(index.tolist()):
            cols = valid[j]
            assert torch.equal(k[len(prompts) + j][:, cols], src_k[b][:, cols])
            assert torch.equal(v[len(prompts) + j][:, cols], src_v[b][:, cols])
    with torch.no_grad():
        tokens = torch.arange(ours.key_valid.shape[0]) % 9 + 3
        mine, _ = policy.step(ours, tokens)
        theirs, _ = policy.step(kept, tokens)
    assert torch.equal(mine, theirs)


def _kv(state) -> list:
    cache = state.cache
    return [(kv[0], kv[1]) for kv in cache] if isinstance(cache, list) else [(layer.keys, layer.values)
                                                                                    for layer in cache.layers]
