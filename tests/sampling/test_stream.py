"""Continuous batching (one stream, a sync per group) grows the forest that rounds across all groups grow."""

import numpy as np
import pytest
import torch
from test_segment_rounds import _same_rollout
from tree_helpers import NeverStops, check_tree_nodes, tiny_gpt

from treecredit.sampling import IIDSampler
from treecredit.sampling.backend import SamplingSettings, SegmentRequest
from treecredit.sampling.kv_backend import KVCacheBackend
from treecredit.sampling.tree import TreeSampler
from treecredit.tasks import ArithmeticTask, CountdownTask

torch.set_num_threads(1)

CASES = [
    ("fixed", {}, "off", 1.0, 1.0),  # forks at step ends, top-up of chains that stop early
    ("fixed", {"every": 3, "top_up": 2}, "off", 0.7, 0.9),
    ("fixed", {"children": 4, "depth": 1, "every": 2}, "any", 1.0, 1.0),
    ("entropy", {"chains": 2, "forks": 2, "children": 1}, "off", 1.0, 1.0),
    ("entropy", {"chains": 2, "forks": 1, "children": 2}, "any", 1.0, 0.95),
    ("adaptive", {"chains": 3, "rounds": 2}, "off", 1.0, 1.0),
    ("adaptive", {"chains": 2, "rounds": 3, "token_budget": 30}, "any", 1.2, 1.0),
]


def _both(policy, task, problems, group_size=8, seed=11, **options):
    out = []
    for schedule in ("rounds", "stream"):
        backend = KVCacheBackend(policy)
        sampler = TreeSampler(schedule=schedule, **options)
        rollout = sampler.sample(policy, task, problems, group_size, torch.Generator().manual_seed(seed),
                                 backend=backend)
        assert backend.kept == {}
        out.append(rollout)
    return out


@pytest.mark.parametrize("branching, options, cutoff, temperature, top_p", CASES)
def test_stream_grows_the_forest_rounds_grow(branching, options, cutoff, temperature, top_p, monkeypatch):
    """Prompts of different lengths (1 to 3 operators), chains that stop early: the same forest, token for
    token, from one stream as from rounds; with rows joining at once (no wait to batch copies), in no more
    decoding steps than rounds."""
    import treecredit.sampling.kv_stream as kv_stream

    policy = tiny_gpt(torch.float64, seed=1)
    task = ArithmeticTask(min_operators=1, max_operators=3)
    problems = task.generate(np.random.default_rng(2), 4)
    assert len({len(task.format_prompt(p)) for p in problems}) > 1
    options = dict(max_new_tokens=18, temperature=temperature, top_p=top_p, branching=branching,
                   branching_options=options, cutoff=cutoff)
    rounds, stream = _both(policy, task, problems, **options)
    _same_rollout(stream, rounds)
    check_tree_nodes(stream)
    assert stream.extras["rounds"] == 1 < rounds.extras["rounds"]
    monkeypatch.setattr(kv_stream, "MAX_WAIT", 0)
    _, at_once = _both(policy, task, problems, **options)
    _same_rollout(at_once, rounds)
    assert at_once.extras["decode_steps"] <= rounds.extras["decode_steps"]


def test_stream_tops_up_groups_whose_chains_stop_early():
    """The default fixed tree on a random model: chains stop before their fork points, the group's top-up
    phase refills them (from its kept states) while other groups decode on."""
    policy = tiny_gpt(torch.float64, seed=3)
    task = CountdownTask()
    problems = task.generate(np.random.default_rng(0), 3)
    rounds, stream = _both(policy, task, problems, max_new_tokens=16)
    _same_rollout(stream, rounds)
    depth = [len(set(row[row >= 0].tolist())) for row in stream.tree_nodes]
    assert min(depth) < 3  # some leaves stopped above depth 2 ...
    assert torch.bincount(stream.group_ids).tolist() == [8, 8, 8]  # ... and top-up refilled their groups


def test_stream_with_replay_and_vine_values():
    policy = tiny_gpt(torch.float64, seed=2)
    task = ArithmeticTask(min_operators=1, max_operators=2)
    problems = task.generate(np.random.default_rng(0), 3)
    options = dict(max_new_tokens=14, branching="adaptive", mc_rollouts=2, replay_leaves=2)
    samplers = [TreeSampler(schedule=s, **options) for s in ("rounds", "stream")]
    for step in range(2):  # the second call replays leaves stored by the first
        a, b = (s.sample(policy, task, problems, 8, torch.Generator().manual_seed(step)) for s in samplers)
        _same_rollout(b, a)
        assert torch.equal(a.mc_values, b.mc_values)
        if step:
            assert a.row_weights is not None and torch.equal(a.row_weights, b.row_weights)


def test_stream_refuses_nothing_rounds_accept_and_counts_one_call():
    """A NeverStops policy: every chain reaches its fork points; one stream call instead of 3 rounds."""
    task = CountdownTask()
    problems = task.generate(np.random.default_rng(0), 5)
    from treecredit.models import CharTokenizer

    policy = NeverStops(tiny_gpt(torch.float32), [0, 2, CharTokenizer().token_id(task.end)])
    backend = KVCacheBackend(policy)
    r = TreeSampler(max_new_tokens=10, branching_options={"every": 3, "top_up": 0}).sample(
        policy, task, problems, 8, torch.Generator().manual_seed(0), backend=backend)
    assert backend.calls == r.extras["rounds"] == 1
    assert torch.bincount(r.group_ids).tolist() == [8] * 5
    assert r.extras["decode_steps"] == 10  # every path is 10 tokens long: one step per token, no waiting


def test_stream_forks_beyond_the_spare_rows_join_at_once_on_the_small_gpt():
    """48 chains: 16 end at step 2 and 16 at step 4, each forking 2 children of 10 tokens from its kept
    state (the first takes its row, the second is added); the first 16 added rows fill the batch's spare
    rows, the next 16 do not fit: the copy that makes room brings new spare rows, so they join at once
    (they waited up to 8 steps to be copied in together before): 4 + 10 decoding steps."""
    policy = NeverStops(tiny_gpt(torch.float32), [0, 2])
    lengths = [2] * 16 + [4] * 16 + [14] * 16
    first = [SegmentRequest((1, 5 + i % 7), 2, n=1, max_tokens=m, keep_key=("a", i), chain_keys=(10 + i,))
             for i, m in enumerate(lengths)]

    def on_end(ended):
        return [SegmentRequest(first[rid].prefix + tuple(segment.tokens), 2, n=2, max_tokens=10,
                               cache_key=(("a", rid), seq), chain_keys=(100 + rid, 200 + rid))
                for rid, seq, segment in ended if rid < len(first) and lengths[rid] < 14]

    backend = KVCacheBackend(policy)
    backend.stream(first, SamplingSettings(), on_end)
    assert backend.steps == 14


def test_backend_stream_gives_the_segments_generate_gives():
    """The backend contract: a request that joins a stream (continuing a state kept in the stream, or cut
    to a shorter prefix) gets the segment a later generate call gives."""
    policy = tiny_gpt(torch.float64, seed=4)
    prompts = [[1, 5, 6, 7], [1, 8]]
    first = [SegmentRequest(tuple(p), len(p), n=2, max_tokens=5, keep_key=("a", i), chain_keys=(10 + i, 20 + i))
             for i, p in enumerate(prompts)]
    settings = SamplingSettings()
    reference = KVCacheBackend(policy)
    done = reference.generate(first, settings)

    def follow(segments):
        out = []
        for i, segs in enumerate(segments):
            whole = first[i].prefix + tuple(segs[0].tokens)
            out.append(SegmentRequest(whole, first[i].response_start, n=2, max_tokens=4, cache_key=(("a", i), 0),
                                      chain_keys=(30 + i, 40 + i)))  # continue / fork at the end
            out.append(SegmentRequest(whole[:-2], first[i].response_start, n=1, max_tokens=3,
                                      cache_key=(("a", i), 0), chain_keys=(50 + i,)))  # fork inside
        return out

    expected = reference.generate(follow(done), settings)
    streaming = KVCacheBackend(policy)
    got, seen = {}, {}

    def on_end(ended):
        for rid, seq, segment in ended:
            got[(rid, seq)] = segment
            seen.setdefault(rid, []).append(seq)
        if len(seen) == len(first) and all(len(seen[i]) == 2 for i in range(len(first))) and len(got) == 4:
            by_request = [[got[(i, 0)], got[(i, 1)]] for i in range(len(first))]
            return follow(by_request)
        return []

    streaming.stream(first, settings, on_end)
    flat = [s for segs in expected for s in segs]
    later = [got[key] for key in sorted(k for k in got if k[0] >= len(first))]
    assert [s.tokens for s in later] == [s.tokens for s in flat]
    for a, b in zip(later, flat):
        np.testing.assert_allclose(a.logprobs, b.logprobs, rtol=0, atol=1e-12)


class Closing(ArithmeticTask):
    """Arithmetic whose responses end at a stop string (as HumanEval's end at the function's end)."""

    def stop_strings_for(self, policy):
        return ("3",)


@pytest.mark.parametrize("schedule", ["rounds", "auto"])
def test_tree_chains_end_at_the_tasks_stop_strings(schedule):
    """Depth 0: tree rows are i.i.d. rows, which end at the task's stop strings; a forking tree's leaves
    end there too, and no response holds a stop string before its last token."""
    policy = tiny_gpt(torch.float32)
    task = Closing(min_operators=1, max_operators=2)
    problems = task.generate(np.random.default_rng(0), 3)
    tree = TreeSampler(max_new_tokens=14, branching_options={"depth": 0}, schedule=schedule).sample(
        policy, task, problems, 4, torch.Generator().manual_seed(5))
    iid = IIDSampler(max_new_tokens=14).sample(policy, task, problems, 4, torch.Generator().manual_seed(5))
    assert tree.response_texts == iid.response_texts
    assert any(t.endswith("3") for t in iid.response_texts)
    forked = TreeSampler(max_new_tokens=14, branching="entropy", schedule=schedule).sample(
        policy, task, problems, 8, torch.Generator().manual_seed(6))
    ends = [t.endswith("3") for t in forked.response_texts]
    assert any(ends)
    for text in forked.response_texts:
        assert "3" not in text[:-1]
