"""Speculative forks (schedule="speculative"): the forest of the stream and of the rounds, in fewer steps, with
every decoded token counted; the stream's forks from live rows and cancelled requests."""

import numpy as np
import pytest
import torch
from test_segment_rounds import _same_rollout
from tree_helpers import check_tree_nodes, tiny_gpt

from treecredit.sampling.backend import SamplingSettings, SegmentRequest
from treecredit.sampling.kv_backend import KVCacheBackend
from treecredit.sampling.kv_stream import LiveRow
from treecredit.sampling.speculate import SpeculativeGrower
from treecredit.sampling.tree import TreeSampler
from treecredit.tasks import ArithmeticTask

torch.set_num_threads(1)

CASES = [
    ({}, "off", 1.0, 1.0),  # the default: M=2, T=1, N=2, rounds until the budget
    ({"forks": 2, "children": 1}, "off", 1.0, 1.0),
    ({"forks": 1, "children": 2}, "any", 1.0, 0.95),  # pruning: chains stop at step ends and may be cut
    ({"rounds": 2, "children": 3}, "off", 0.7, 0.9),  # two rounds, the last one short of the budget
    ({"chains": 3, "forks": 2, "children": 2, "rounds": 1}, "any", 1.0, 1.0),
]


class CountingBackend(KVCacheBackend):
    """Counts every token drawn (each row of each decoding step)."""

    drawn = 0

    def _draw_step(self, logits, slots, settings):
        out = super()._draw_step(logits, slots, settings)
        self.drawn += len(out[1])
        return out


def _setup(branching, options, cutoff, temperature, top_p):
    """The float64 tiny GPT, four 1-3 operator problems and the sampler options the forest tests share."""
    policy = tiny_gpt(torch.float64, seed=1)
    task = ArithmeticTask(min_operators=1, max_operators=3)
    problems = task.generate(np.random.default_rng(2), 4)
    return policy, task, problems, dict(max_new_tokens=18, temperature=temperature, top_p=top_p,
                                        branching=branching, branching_options=options, cutoff=cutoff)


def _grow(policy, task, problems, schedule, seed, **options):
    backend = CountingBackend(policy)
    rollout = TreeSampler(schedule=schedule, **options).sample(policy, task, problems, 8,
                                                               torch.Generator().manual_seed(seed), backend=backend)
    assert backend.kept == {}
    assert backend.drawn == rollout.generated_tokens  # every decoded token counted, wasted ones included
    return rollout


@pytest.mark.parametrize("confidence", [0.0, None])
@pytest.mark.parametrize("options, cutoff, temperature, top_p", CASES)
def test_speculative_forks_grow_the_forest_of_the_stream_and_the_rounds(options, cutoff, temperature, top_p,
                                                                       confidence, monkeypatch):
    """float64, prompts of 1 to 3 operators, three seeds: the same forest token for token as the stream and
    the rounds; some speculations adopted; fewer decoding steps than the stream over the seeds. Confidence
    0 speculates on every forecast at once (most cancellations), the default waits for likelier picks."""
    monkeypatch.setattr(SpeculativeGrower, "confidence", confidence)
    policy, task, problems, kw = _setup("entropy", options, cutoff, temperature, top_p)
    steps = {"stream": 0, "speculative": 0}
    for seed in (11, 12, 13):
        stream, rounds = _grow(policy, task, problems, "stream", seed, **kw), _grow(policy, task, problems, "rounds",
                                                                                   seed, **kw)
        spec = _grow(policy, task, problems, "speculative", seed, **kw)
        assert spec.extras["speculative_adopted"] > 0
        assert spec.generated_tokens == stream.generated_tokens + spec.wasted_tokens
        _same_rollout(spec, stream)
        _same_rollout(spec, rounds)
        check_tree_nodes(spec)
        steps["stream"] += stream.extras["decode_steps"]
        steps["speculative"] += spec.extras["decode_steps"]
    assert steps["speculative"] < steps["stream"]


ADAPTIVE_CASES = [
    ({}, "off", 1.0, 1.0),  # the default: M=2, 3 rounds, at most 4 children per point
    ({"chains": 3, "rounds": 2}, "off", 0.7, 0.9),
    ({"chains": 1, "rounds": 3, "max_children": 1}, "any", 1.0, 1.0),  # the cap binds: new chains from the prompt
    ({"chains": 2, "rounds": 3, "token_budget": 30}, "sound", 1.2, 1.0),  # no forecast: the stream itself
]


@pytest.mark.parametrize("thin_rows", [48, 5, 0])
@pytest.mark.parametrize("options, cutoff, temperature, top_p", ADAPTIVE_CASES)
def test_speculative_adaptive_rounds_grow_the_forest_of_the_stream_and_the_rounds(options, cutoff, temperature, top_p,
                                                                                  thin_rows, monkeypatch):
    """Adaptive branching's forecast (picks from the ended segments, the growing leaves' rewards guessed): float64,
    three seeds, the same forest token for token as the stream and the rounds, every decoded token counted. With
    the batch thin enough its later rounds start early (fewer decoding steps; a forecast's later rounds fork again
    at points an earlier one forks at, with the chain keys numbered on); with no thin batch (``THIN_ROWS`` 0)
    nothing is speculated; in between, forecasts wait for the batch to thin."""
    monkeypatch.setattr(SpeculativeGrower, "THIN_ROWS", thin_rows)
    policy, task, problems, kw = _setup("adaptive", options, cutoff, temperature, top_p)
    steps, adopted = {"stream": 0, "speculative": 0}, 0
    for seed in (11, 12, 13):
        stream, rounds = _grow(policy, task, problems, "stream", seed, **kw), _grow(policy, task, problems, "rounds",
                                                                                   seed, **kw)
        spec = _grow(policy, task, problems, "speculative", seed, **kw)
        adopted += spec.extras["speculative_adopted"]
        assert spec.generated_tokens == stream.generated_tokens + spec.wasted_tokens
        _same_rollout(spec, stream)
        _same_rollout(spec, rounds)
        check_tree_nodes(spec)
        steps["stream"] += stream.extras["decode_steps"]
        steps["speculative"] += spec.extras["decode_steps"]
    if thin_rows == 0 or "token_budget" in options:
        assert adopted == 0 and steps["speculative"] == steps["stream"]
    elif thin_rows == 48:
        assert adopted > 0 and steps["speculative"] < steps["stream"]


def test_adaptive_forecast_counts_earlier_forecast_children_below_their_points():
    """The forecast's later rounds: children of an earlier forecast round are leaves of the guessed reward below
    the point they fork at (and the points above it), not below a later point of the same node."""
    from treecredit.sampling.branching import AdaptiveBranching
    from treecredit.sampling.forecast import _below
    from treecredit.sampling.tree_table import SampledForest

    forest = SampledForest()
    root = forest.add_node(0, -1, 1)
    forest.tokens[root] = [5, 6, 7, 8, 9]
    child = forest.add_node(0, root, 2)
    forest.tokens[child] = [1, 2]
    ancestors: dict = {}
    assert _below(forest, ancestors, (-1, -1), root, 2) and _below(forest, ancestors, (-1, -1), -1, -1)
    assert _below(forest, ancestors, (root, 1), root, 2) and _below(forest, ancestors, (root, 2), root, 2)
    assert not _below(forest, ancestors, (root, 3), root, 2)
    assert _below(forest, ancestors, (root, 4), child, 0) and not _below(forest, ancestors, (child, 0), root, 4)
    assert not _below(forest, ancestors, (root, 1), -1, -1)
    assert AdaptiveBranching(token_budget=10).forecast(forest, 0, 8, 2) is None


def test_speculative_forks_with_uneven_groups_from_replay():
    """Replay makes revisited groups grow fewer leaves: per-group budgets in the forecasts."""
    policy = tiny_gpt(torch.float64, seed=2)
    task = ArithmeticTask(min_operators=1, max_operators=2)
    problems = task.generate(np.random.default_rng(0), 3)
    out = []
    for schedule in ("stream", "speculative"):
        sampler = TreeSampler(schedule=schedule, max_new_tokens=14, branching="entropy", replay_leaves=2)
        first = sampler.sample(policy, task, problems, 8, torch.Generator().manual_seed(1))
        mixed = problems[:2] + task.generate(np.random.default_rng(5), 1)
        out.append((first, sampler.sample(policy, task, mixed, 8, torch.Generator().manual_seed(2))))
    for stream, spec in zip(*out):
        _same_rollout(spec, stream)


def test_speculative_schedule_is_refused_for_strategies_that_cannot_forecast_and_falls_back_without_on_step():
    with pytest.raises(ValueError, match="schedule.*speculative.*schedule='auto'"):
        TreeSampler(schedule="speculative", branching="fixed")

    class PlainStream(KVCacheBackend):
        def stream(self, requests, settings, on_end, max_rows=0):
            return super().stream(requests, settings, on_end, max_rows)

    policy = tiny_gpt(torch.float64, seed=1)
    task = ArithmeticTask(min_operators=1, max_operators=2)
    problems = task.generate(np.random.default_rng(3), 2)
    kw = dict(max_new_tokens=12, branching="entropy")
    sampler = TreeSampler(schedule="speculative", **kw)
    plain = sampler.sample(policy, task, problems, 8, torch.Generator().manual_seed(4), backend=PlainStream(policy))
    assert "speculative_adopted" not in plain.extras and plain.wasted_tokens == 0
    stream = TreeSampler(schedule="stream", **kw)
    _same_rollout(plain, stream.sample(policy, task, problems, 8, torch.Generator().manual_seed(4)))


def _request(prefix, keys, max_tokens=6, **kw):
    return SegmentRequest(prefix=tuple(prefix), response_start=3, n=len(keys), max_tokens=max_tokens,
                          chain_keys=tuple(keys), **kw)


def test_stream_forks_from_a_live_row_and_drops_cancelled_requests():
    """A request forking from a row still decoding (LiveRow) gets the segment a fresh prefill of its prefix
    gives; a cancelled request's rows leave the batch unreported and unkept."""
    backend = KVCacheBackend(tiny_gpt(torch.float64, seed=4))
    settings = SamplingSettings()
    prompt = [5, 6, 7]
    ended, forked, cancelled = {}, [], set()

    def on_step(live):
        rows = {row.request: row for row in live}
        if 0 in rows and len(rows[0].segment.tokens) == 4 and not forked:  # fork after its 2nd token
            forked.append(_request(prompt + rows[0].segment.tokens[:2], [77, 78], max_tokens=5,
                                   keep_key="fork", cache_key=LiveRow(0, 0)))
            cancelled.add(1)  # and drop request 1 after 4 of its 12 tokens
            return forked
        return []

    def on_end(done):
        for rid, seq, segment in done:
            ended[(rid, seq)] = segment
        return []

    backend.stream([_request(prompt, [1], max_tokens=10), _request(prompt, [2], max_tokens=12, keep_key="gone")],
                   settings, on_end, on_step=on_step, cancelled=cancelled)
    assert sorted(ended) == [(0, 0), (2, 0), (2, 1)]
    assert not cancelled and set(backend.kept) == {("fork", 0), ("fork", 1)}
    alone = KVCacheBackend(backend.policy).generate([_request(forked[0].prefix, [77, 78], max_tokens=5)], settings)[0]
    for seq in (0, 1):
        assert ended[(2, seq)].tokens == alone[seq].tokens
        np.testing.assert_allclose(ended[(2, seq)].logprobs, alone[seq].logprobs, rtol=0, atol=1e-12)
    assert backend.kept[("fork", 0)].context == forked[0].prefix + tuple(alone[0].tokens)
    assert backend.steps == 10  # request 0's ten tokens; the fork (5 tokens from step 5) ends before


def test_stream_refuses_a_live_row_that_is_not_decoding():
    backend = KVCacheBackend(tiny_gpt(torch.float64, seed=4))

    def on_step(live):
        return [_request([5, 6, 7], [9], cache_key=LiveRow(3, 0))]

    with pytest.raises(ValueError, match="cache_key.*no row decoding"):
        backend.stream([_request([5, 6, 7], [1])], SamplingSettings(), lambda done: [], on_step=on_step)


def test_auto_schedule_speculates_by_the_strategys_measured_rule(monkeypatch):
    """schedule="auto": adaptive branching speculates at any size (not with a token budget: no forecast), entropy
    branching up to ``auto_speculation_leaves`` leaves a call, fixed branching and strategy objects never;
    schedule="stream" never speculates. The tree is the stream's either way."""
    from treecredit.sampling.branching import AdaptiveBranching, EntropyBranching, FixedBranching
    from treecredit.sampling.tree import auto_speculates

    assert auto_speculates(AdaptiveBranching(), 10**6) and not auto_speculates(AdaptiveBranching(token_budget=30), 8)
    assert auto_speculates(EntropyBranching(), 128) and not auto_speculates(EntropyBranching(), 129)
    assert not auto_speculates(FixedBranching(), 8)

    class Forecasting(EntropyBranching):  # a strategy object of the user's: no measured rule, no speculation
        auto_speculation_leaves = 0

    assert not auto_speculates(Forecasting(), 8)
    policy = tiny_gpt(torch.float64, seed=1)
    task = ArithmeticTask(min_operators=1, max_operators=2)
    problems = task.generate(np.random.default_rng(3), 2)  # 16 leaves

    def run(schedule, branching):
        return TreeSampler(schedule=schedule, max_new_tokens=12, branching=branching).sample(
            policy, task, problems, 8, torch.Generator().manual_seed(4))

    for branching in ("adaptive", "entropy"):
        stream, auto = run("stream", branching), run("auto", branching)
        assert "speculative_adopted" not in stream.extras and "speculative_adopted" in auto.extras
        _same_rollout(auto, stream)
    monkeypatch.setattr(EntropyBranching, "auto_speculation_leaves", 15)
    assert "speculative_adopted" not in run("auto", "entropy").extras
    with pytest.raises(ValueError, match="schedule.*stream"):
        TreeSampler(schedule="streamed")
