"""Rows joining a ``transformers`` cache's batch in place (``hf_cache.ROWS_JOIN_IN_PLACE``: spare rows of
``GrowingLayer`` buffers, ``kv_states.append_kept_rows``, siblings copied after the step): the same trees, token for
token, as when every join copies the whole batch (the flag off), on a float64 tiny Llama (the fused decoding step),
the same Llama through the ``transformers`` forward, and a tiny GPT-2 (whose cache the fused step does not take)."""

import numpy as np
import pytest
import torch

transformers = pytest.importorskip("transformers")
pytest.importorskip("tokenizers")

from test_segment_rounds import CASES, _same_rollout  # noqa: E402
from test_stream_rows import _forking_stream  # noqa: E402
from tree_helpers import NeverStops  # noqa: E402

from hf_tiny import tiny_hf_policy  # noqa: E402
from treecredit.models import hf_cache  # noqa: E402
from treecredit.sampling.kv_backend import KVCacheBackend  # noqa: E402
from treecredit.sampling.tree import TreeSampler  # noqa: E402
from treecredit.tasks import ArithmeticTask  # noqa: E402

torch.set_num_threads(1)


def _policy(kind="llama", fast=True):
    policy = tiny_hf_policy(kind)
    policy.model.to(torch.float64)
    policy.fast_decode = fast
    return policy


class Appends:
    """Counts the rows written into spare rows of ``GrowingLayer`` buffers (``append_copies`` that succeeded, per
    layer, and ``append_layers``, which writes them into every layer's at once)."""

    def __init__(self, monkeypatch):
        self.rows = 0
        append, append_layers = hf_cache.GrowingLayer.append_copies, hf_cache.GrowingLayer.append_layers

        def counting(layer, k, groups):
            grown = append(layer, k, groups)
            self.rows += k if grown is not None else 0
            return grown

        def counting_layers(layers, k, groups):
            grown = append_layers(layers, k, groups)
            self.rows += k * len(layers) if grown is not None else 0
            return grown

        monkeypatch.setattr(hf_cache.GrowingLayer, "append_copies", counting)
        monkeypatch.setattr(hf_cache.GrowingLayer, "append_layers", staticmethod(counting_layers))


def _tree(policy, in_place, case, monkeypatch, schedule="auto", problems=3):
    branching, options, cutoff, temperature, top_p = case
    monkeypatch.setattr(hf_cache, "ROWS_JOIN_IN_PLACE", in_place)
    task = ArithmeticTask(min_operators=1, max_operators=3)
    sampler = TreeSampler(branching=branching, branching_options=options, cutoff=cutoff, temperature=temperature,
                          top_p=top_p, max_new_tokens=12, schedule=schedule)
    return sampler.sample(policy, task, task.generate(np.random.default_rng(1), problems), 8,
                          torch.Generator().manual_seed(2), backend=KVCacheBackend(policy))


@pytest.mark.parametrize("case", CASES)
def test_rows_joining_in_place_give_the_same_tree(case, monkeypatch):
    policy = _policy()
    appends = Appends(monkeypatch)
    in_place = _tree(policy, True, case, monkeypatch)
    written = appends.rows
    _same_rollout(in_place, _tree(policy, False, case, monkeypatch))
    assert appends.rows == written  # the flag off writes no spare row
    if case[0] == "fixed" and "children" not in case[1]:  # its forks join the running batch (4 children of each of
        assert written > 0  # 6 rows at once outgrow the batch's 16 spare rows: the hint counts up to 2 × 6 rows)


@pytest.mark.parametrize("kind, fast", [("llama", False), ("gpt2", True)])
def test_the_transformers_forward_takes_the_spare_rows_too(kind, fast, monkeypatch):
    """A cache with spare rows stepped by the model's own forward (the fused step off, or a model it does not
    take): ``GrowingLayer.update`` writes each step's column into the batch's rows only."""
    policy = _policy(kind, fast)
    appends = Appends(monkeypatch)
    case = ("fixed", {"every": 3}, "off", 1.0, 1.0)
    in_place = _tree(policy, True, case, monkeypatch)
    assert appends.rows > 0
    _same_rollout(in_place, _tree(policy, False, case, monkeypatch))


def test_speculative_forks_into_spare_rows_give_the_same_tree(monkeypatch):
    policy = _policy()
    case = ("entropy", {"chains": 2, "forks": 2, "children": 1}, "off", 1.0, 1.0)
    _same_rollout(_tree(policy, True, case, monkeypatch, schedule="speculative"),
                  _tree(policy, False, case, monkeypatch, schedule="speculative"))


@pytest.mark.parametrize("max_rows", [0, 80])
def test_forks_go_into_spare_rows_or_join_by_one_copy(max_rows, monkeypatch):
    """48 chains, 32 fork 2 children each at their end. With the row hint the first 48 rows are copied once into a
    buffer with room for 80 and every fork goes into its spare rows; without it the batch is copied when the forks
    outgrow them, each copy bringing new spare rows; the flag off copies the batch at the joins. Same segments."""
    out = {}
    for in_place in (True, False):
        monkeypatch.setattr(hf_cache, "ROWS_JOIN_IN_PLACE", in_place)
        appends = Appends(monkeypatch)
        got, copies, steps = _forking_stream(NeverStops(_policy(), [0, 2]), max_rows, monkeypatch)
        out[in_place] = got, list(copies), steps, appends.rows
    assert out[True][0] == out[False][0] and out[True][2] == out[False][2] == 14
    assert out[True][3] >= 32 and out[False][3] == 0  # 16 forks' second children at least, copied after the step
    if max_rows:
        assert out[True][1] == [48]
