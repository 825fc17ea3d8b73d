"""Adaptive branching forecast from rows still growing (``SpeculativeGrower.FORECAST_GROWING``,
``forecast.GrowingRows``), and the default confidence of entropy speculation: the same forest as the stream and the
rounds whatever the forecast reads."""

import numpy as np
import pytest
import torch
from test_segment_rounds import _same_rollout
from test_speculative import ADAPTIVE_CASES, _grow, _setup
from tree_helpers import check_tree_nodes, tiny_gpt

from treecredit.sampling.forecast import GrowingRows
from treecredit.sampling.kv_stream import LiveRow
from treecredit.sampling.rounds import GrowContext
from treecredit.sampling.speculate import SpeculativeGrower
from treecredit.sampling.stops import stop_positions
from treecredit.sampling.tree_table import SampledForest
from treecredit.tasks import ArithmeticTask

torch.set_num_threads(1)


@pytest.mark.parametrize("growing, points", [(True, 1), (True, 2), (False, 2)])
@pytest.mark.parametrize("options, cutoff, temperature, top_p", ADAPTIVE_CASES[:3] + [
    ({"chains": 1, "rounds": 3, "max_children": 1}, "off", 1.0, 1.0)])  # one chain: new chains from the prompt early
def test_adaptive_forecast_from_growing_rows_forks_live_rows_and_grows_the_same_forest(
        options, cutoff, temperature, top_p, growing, points, monkeypatch):
    """float64, three seeds: with the rows still growing read (a candidate point or two per row first), some
    speculative children fork from a row still decoding (``LiveRow``: a pick inside a segment that has not ended,
    which a forecast from ended segments never makes) and the forest is the stream's and the rounds', token for
    token; without, no speculation forks a live row. With cutoff every segment stops at its first step end (to be
    checked), so no row still decoding has a point of its own and none is forked either."""
    monkeypatch.setattr(SpeculativeGrower, "FORECAST_GROWING", growing)
    monkeypatch.setattr(GrowingRows, "MIN_POINTS", points)
    live: list = []
    sent = SpeculativeGrower._requests

    def requests(self, forest, work):
        live.extend(isinstance(spec.request.cache_key, LiveRow) for spec in self._outbox)
        return sent(self, forest, work)

    monkeypatch.setattr(SpeculativeGrower, "_requests", requests)
    policy, task, problems, kw = _setup("adaptive", options, cutoff, temperature, top_p)
    for seed in (11, 12, 13):
        spec = _grow(policy, task, problems, "speculative", seed, **kw)
        stream = _grow(policy, task, problems, "stream", seed, **kw)
        assert spec.generated_tokens == stream.generated_tokens + spec.wasted_tokens
        # new chains from the prompt speculated before a root ended fork a root's live row: no prompt prefilled again
        assert spec.extras["prefill_tokens"] == stream.extras["prefill_tokens"]
        _same_rollout(spec, stream)
        _same_rollout(spec, _grow(policy, task, problems, "rounds", seed, **kw))
        check_tree_nodes(spec)
    assert live and (any(live) if growing and cutoff == "off" else not any(live))


def test_growing_rows_find_the_step_ends_of_an_ended_segment_and_view_them_as_ended():
    """Tokens fed a few at a time: the step ends a segment's absorption finds (``stop_positions`` over the segment
    after its node's path); a new point only once the token after a step end is drawn; the view appends the
    segment's tokens, entropies and step ends to its node without changing the forest."""
    policy = tiny_gpt(torch.float64)
    ctx = GrowContext(policy, ArithmeticTask(), [], 1.0, 1.0, 32, [policy.eos_id], ("=", ";"))
    forest = SampledForest()
    root = forest.add_node(0, -1, 1)
    forest.tokens[root] = policy.encode("1+2")
    forest.entropy[root] = [0.5, 0.25, 0.125]
    forest.step_end_offsets[root] = []
    child = forest.add_node(0, root, 2)

    class Row:  # what the stream's on_step hands over: a row with its segment so far
        class segment:
            tokens: list = []
            entropies: list = []

    row = Row()
    text = "*3=1+6=7;8"
    growing = GrowingRows(ctx, forest)
    new_points = []
    for i, token in enumerate(policy.encode(text)):
        row.segment.tokens.append(token)
        row.segment.entropies.append(float(i))
        new_points.append(growing.update(child, row))
    ends = stop_positions(policy.decode, ctx.marks, policy.encode(text), forest.path_tokens(child), ctx.pieces)
    assert ends == [2, 6, 8]
    assert new_points == [False] * 3 + [True] + [False] * 3 + [True, False, True]  # the token after "=", "=", ";"
    assert not growing.ready(0, {})
    assert growing.ready(0, {child: row})  # three points drawn
    view = growing.view(0, {child: row})
    assert view.tokens[child] == policy.encode(text) and view.entropy[child] == [float(i) for i in range(10)]
    assert view.step_end_offsets[child] == ends and view.tokens[root] == forest.tokens[root]
    assert forest.tokens[child] == [] and forest.step_end_offsets[child] == []  # the forest itself is unchanged
    assert growing.view(0, {}) is forest
    other = Row()  # a row growing the node again, not fed yet: not read
    assert growing.view(0, {child: other}) is forest and not growing.ready(0, {child: other})


def test_entropy_speculation_default_confidence_falls_faster_below_few_groups(monkeypatch):
    """G / (G + 12) from 16 groups on (the rule before), times (G / 16)² below: 8 groups 0.1, not 0.4."""
    seen = []
    grow = SpeculativeGrower.grow

    def recorded(self, strategy, forest, group_size):
        try:
            return grow(self, strategy, forest, group_size)
        finally:
            seen.append(self._confidence)

    monkeypatch.setattr(SpeculativeGrower, "grow", recorded)
    from treecredit.sampling.tree import TreeSampler

    policy = tiny_gpt(torch.float64, seed=1)
    task = ArithmeticTask(min_operators=1, max_operators=1)
    for groups in (8, 16, 32):
        TreeSampler(max_new_tokens=4, branching="entropy", schedule="speculative").sample(
            policy, task, task.generate(np.random.default_rng(0), groups), 4, torch.Generator().manual_seed(0))
    assert seen == pytest.approx([0.4 * 0.25, 16 / 28, 32 / 44])
    monkeypatch.setattr(SpeculativeGrower, "confidence", 0.3)
    TreeSampler(max_new_tokens=4, branching="entropy", schedule="speculative").sample(
        policy, task, task.generate(np.random.default_rng(0), 8), 4, torch.Generator().manual_seed(0))
    assert seen[-1] == 0.3


def _adoptions(monkeypatch, record) -> list:
    """The list that ``SpeculativeGrower._adopt``, patched, appends ``record(spec)`` to for each speculation it
    adopts (in order)."""
    adopted: list = []
    adopt = SpeculativeGrower._adopt

    def adopting(self, forest, item, spec):
        adopted.append(record(spec))
        return adopt(self, forest, item, spec)

    monkeypatch.setattr(SpeculativeGrower, "_adopt", adopting)
    return adopted


@pytest.mark.parametrize("options, cutoff, temperature, top_p", ADAPTIVE_CASES[:2] + [
    ({"chains": 1, "rounds": 3, "max_children": 1}, "off", 1.0, 1.0)])
def test_hedged_adaptive_forecast_adopts_picks_of_rows_with_one_point_and_grows_the_same_forest(
        options, cutoff, temperature, top_p, monkeypatch):
    """float64, three seeds: while a running row has one candidate point only, the forecast from the ended segments is
    hedged with one that reads the growing rows (``SpeculativeGrower.HEDGE``); some phase adopts a speculation that
    only the hedge picked, and the forest is the stream's and the rounds' token for token, with the hedge and
    without it."""
    from treecredit.sampling.forecast import HedgedForecast

    only_hedged: set = set()
    picks = HedgedForecast.picks

    def recorded(self, sign):
        first = {pick[0] for pick in self.parts[0].picks(sign)}
        only_hedged.update(pick[0] for pick in self.parts[1].picks(sign) if pick[0] not in first)
        return picks(self, sign)

    adopted = _adoptions(monkeypatch, lambda spec: spec.signature)
    monkeypatch.setattr(HedgedForecast, "picks", recorded)
    policy, task, problems, kw = _setup("adaptive", options, cutoff, temperature, top_p)
    for seed in (11, 12, 13):
        stream = _grow(policy, task, problems, "stream", seed, **kw)
        for hedge in (True, False):
            monkeypatch.setattr(SpeculativeGrower, "HEDGE", hedge)
            spec = _grow(policy, task, problems, "speculative", seed, **kw)
            _same_rollout(spec, stream)
            check_tree_nodes(spec)
        _same_rollout(spec, _grow(policy, task, problems, "rounds", seed, **kw))
    assert only_hedged & set(adopted)


@pytest.mark.parametrize("options, cutoff, temperature, top_p", ADAPTIVE_CASES[:3] + [
    ({"chains": 1, "rounds": 3, "max_children": 1}, "off", 1.0, 1.0)])
def test_prompt_reserve_chains_are_adopted_by_later_rounds_and_grow_the_same_forest(
        options, cutoff, temperature, top_p, monkeypatch):
    """float64, three seeds: new chains from the prompt started beside a group's first chains
    (``SpeculativeGrower.PROMPT_RESERVE``, here at any prompt entropy and batch) with the keys of the group's next new
    chains there, one each; a later round that opens one chain there adopts one, a reserve no round can adopt any more
    is cancelled, and the forest is the stream's and the rounds' token for token, with reserves and without. Without
    (``PROMPT_RESERVE`` 0, or the batch outside ``RESERVE_ROWS``) none starts."""
    monkeypatch.setattr(SpeculativeGrower, "RESERVE_ENTROPY", 0.0)
    adopted = _adoptions(monkeypatch, lambda spec: (spec.reserve, spec.signature))
    started: list = []
    reserve = SpeculativeGrower._reserve

    def reserving(self, group, cache, chains):
        started.append(chains)
        assert isinstance(cache, LiveRow)  # a root's row at its first token: the prompt is not prefilled again
        return reserve(self, group, cache, chains)

    monkeypatch.setattr(SpeculativeGrower, "_reserve", reserving)
    policy, task, problems, kw = _setup("adaptive", options, cutoff, temperature, top_p)
    for seed in (11, 12, 13):
        stream = _grow(policy, task, problems, "stream", seed, **kw)
        for chains, rows in ((2, (0, 1000)), (1, (0, 1000)), (0, (0, 1000)), (2, (0, 1))):
            monkeypatch.setattr(SpeculativeGrower, "PROMPT_RESERVE", chains)
            monkeypatch.setattr(SpeculativeGrower, "RESERVE_ROWS", rows)
            before = len(started)
            spec = _grow(policy, task, problems, "speculative", seed, **kw)
            assert (len(started) > before) == (chains > 0 and rows[1] > 1)
            assert spec.generated_tokens == stream.generated_tokens + spec.wasted_tokens
            assert spec.extras["prefill_tokens"] == stream.extras["prefill_tokens"]
            _same_rollout(spec, stream)
            check_tree_nodes(spec)
        _same_rollout(spec, _grow(policy, task, problems, "rounds", seed, **kw))
    if options.get("max_children") != 1:  # (with the cap binding, rounds open several chains there at once)
        assert any(is_reserve for is_reserve, _ in adopted)  # some round adopted a reserve


def test_a_strategy_object_without_rounds_gets_no_reserve(monkeypatch):
    """A strategy object that forecasts at ends but has no ``rounds`` (the reserve's bound on the rounds left) grows
    its trees without reserves, as the stream does."""
    from treecredit.sampling.branching import AdaptiveBranching

    class NoRounds:
        def __init__(self) -> None:
            self._inner = AdaptiveBranching()

        def __getattr__(self, name):
            if name == "rounds":
                raise AttributeError(name)
            return getattr(self._inner, name)

    monkeypatch.setattr(SpeculativeGrower, "RESERVE_ENTROPY", 0.0)
    monkeypatch.setattr(SpeculativeGrower, "RESERVE_ROWS", (0, 1000))
    started: list = []
    reserve = SpeculativeGrower._reserve
    monkeypatch.setattr(SpeculativeGrower, "_reserve", lambda self, *a: started.append(a) or reserve(self, *a))
    policy, task, problems, kw = _setup("adaptive", {}, "off", 1.0, 1.0)
    kw = {**kw, "branching": NoRounds(), "branching_options": None}
    spec = _grow(policy, task, problems, "speculative", 11, **kw)
    _same_rollout(spec, _grow(policy, task, problems, "stream", 11, **kw))
    assert not started
