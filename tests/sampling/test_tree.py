"""Tree sampler: structure, the tree_nodes contract, KV reuse against from-scratch decoding, determinism."""

import numpy as np
import pytest
import torch
from tree_helpers import NeverStops, check_tree_nodes, replay_row_from_scratch, sample_tree, tiny_gpt

import treecredit
from treecredit.sampling import IIDSampler
from treecredit.sampling.tree import TreeSampler
from treecredit.tasks import ArithmeticTask, CountdownTask

torch.set_num_threads(1)

STRATEGIES = [("fixed", {"every": 3}), ("fixed", {"children": 4, "depth": 1, "every": 2}),
              ("entropy", {"chains": 2, "forks": 2, "children": 1}), ("adaptive", {"chains": 3, "rounds": 2})]


def task_token(text):
    from treecredit.models import CharTokenizer

    return CharTokenizer().token_id(text)


def _setup(task=None, n=3):
    task = task or CountdownTask()
    return task, task.generate(np.random.default_rng(0), n)


@pytest.mark.parametrize("branching, options", STRATEGIES)
def test_kv_reuse_changes_no_numbers(branching, options):
    """Every row decoded alone from its prompt with its recorded draws gives the same tokens and log-probs."""
    policy = tiny_gpt(torch.float64)
    task, problems = _setup()
    r = sample_tree(policy, task, problems, seed=3, branching=branching, branching_options=options)
    for row in range(r.shape[0]):
        tokens, logps = replay_row_from_scratch(policy, r, row)
        n = len(tokens)
        assert tokens == r.response_ids[row, :n].tolist()
        np.testing.assert_allclose(logps, r.extras["logprobs_f64"][row, :n].numpy(), rtol=0, atol=1e-12)


def test_old_logprobs_match_teacher_forcing_in_float32():
    """In float32 the cached and the full forward differ by rounding only (≤ 1e-5 on log-probs ~ -3)."""
    policy = tiny_gpt(torch.float32)
    task, problems = _setup()
    r = sample_tree(policy, task, problems, seed=1, branching_options={"every": 2})
    with torch.no_grad():
        logp, _ = policy.token_logprobs(r.prompt_ids, r.response_ids)
    torch.testing.assert_close(logp * r.response_mask, r.old_logprobs, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("branching, options", STRATEGIES)
def test_tree_nodes_contract_and_shared_tokens(branching, options):
    policy = tiny_gpt(torch.float32)
    task, problems = _setup()
    r = sample_tree(policy, task, problems, seed=2, branching=branching, branching_options=options)
    segments = check_tree_nodes(r)
    # entropy and adaptive branching: "auto" speculates, and counts its wasted tokens in generated_tokens too
    tree_tokens = r.kept_tokens
    assert tree_tokens == sum(end - start for _, start, end, _, _ in segments.values())
    assert tree_tokens < int(r.response_mask.sum())
    counts = torch.bincount(r.group_ids)
    assert (counts <= 8).all() and counts.sum() == r.shape[0]
    assert r.group_ids.tolist() == sorted(r.group_ids.tolist())
    assert (r.response_ids[~r.response_mask] == 0).all() and (r.old_logprobs[~r.response_mask] == 0).all()
    adv = treecredit.compute_advantages("grpo", **r.estimator_inputs())
    assert adv.shape == r.shape


def test_fixed_tree_has_the_shape_asked_for():
    """R = G / N^D roots per group; every fork has N children; forks come every k tokens, D levels deep."""
    task, problems = _setup(n=4)
    policy = NeverStops(tiny_gpt(torch.float32), [0, 2, task_token(task.end)])
    sampler = TreeSampler(max_new_tokens=10, branching="fixed",
                          branching_options={"children": 2, "depth": 2, "every": 3})
    r = sampler.sample(policy, task, problems, 8, torch.Generator().manual_seed(0))
    segments = check_tree_nodes(r)
    children = {}
    for node, (group, _start, _end, parent, _) in segments.items():
        children.setdefault(parent if parent >= 0 else ("root", group), []).append(node)
    for kids in children.values():
        assert len(kids) == 2  # 2 roots per group (8 / 2**2) and 2 children per fork
    for node, (_group, start, end, parent, _) in segments.items():
        level = 0
        p = parent
        while p >= 0:
            level, p = level + 1, segments[p][3]
        if node in children:  # a fork: after exactly k = 3 tokens of the node, above depth D
            assert end - start == 3 and level < 2
        else:
            assert level == 2 and end - start == 4  # leaves sit at depth D and run to the cap
    assert torch.bincount(r.group_ids).tolist() == [8] * 4  # no chain stops early: all R·N^D leaves
    assert (r.response_mask.sum(1) == 10).all()
    assert r.generated_tokens == 4 * (2 * 3 + 4 * 3 + 8 * 4)


def test_fixed_depth_zero_is_iid_like_and_bad_shapes_fail():
    policy = tiny_gpt(torch.float32)
    task, problems = _setup()
    r = sample_tree(policy, task, problems, branching_options={"depth": 0})
    assert r.generated_tokens == int(r.response_mask.sum()) and r.shape[0] == 24
    with pytest.raises(ValueError, match="^group_size: .*Fix: "):
        sample_tree(policy, task, problems, group_size=6, branching_options={"depth": 2})


def test_same_seed_same_tree():
    policy = tiny_gpt(torch.float32)
    task, problems = _setup()
    a, b, c = (sample_tree(policy, task, problems, seed=s, branching="entropy") for s in (5, 5, 6))
    assert torch.equal(a.response_ids, b.response_ids) and torch.equal(a.tree_nodes, b.tree_nodes)
    assert torch.equal(a.old_logprobs, b.old_logprobs)
    assert not torch.equal(a.response_ids, c.response_ids)


def test_step_ends_match_the_iid_definition():
    policy = tiny_gpt(torch.float32)
    task, problems = _setup(ArithmeticTask(min_operators=1, max_operators=2))
    r = sample_tree(policy, task, problems, seed=4, branching_options={"every": 2})
    delim = {policy.encode("=")[0], policy.encode(";")[0]}
    for row in range(r.shape[0]):
        ids = r.response_ids[row][r.response_mask[row]].tolist()
        assert r.step_ends[row, : len(ids)].tolist() == [i in delim for i in ids]


def _rollouts_with_and_without_search(monkeypatch, strategy, operators: int, seed: int, max_new_tokens: int,
                                      **sample):
    """The same seeded tree sampled with ``strategy.reads_step_ends`` True and False, each with the count of
    tokens the grower searched for step ends (``extras["searched"]``; the search joins the small GPT's token texts,
    so it decodes no text, see test_step_end_pieces.py)."""
    import treecredit.sampling.rounds as rounds

    policy = tiny_gpt(torch.float64)
    task, problems = _setup(ArithmeticTask(min_operators=1, max_operators=operators), n=4)
    calls = []
    real = rounds.stop_positions
    monkeypatch.setattr(rounds, "stop_positions", lambda decode, strings, ids, *a: calls.append(len(ids)) or real(
        decode, strings, ids, *a))
    out = []
    for reads in (True, False):
        monkeypatch.setattr(strategy, "reads_step_ends", reads)
        calls.clear()
        out.append(sample_tree(policy, task, problems, seed=seed, max_new_tokens=max_new_tokens, **sample))
        out[-1].extras["searched"] = sum(calls)
    return out


@pytest.mark.parametrize("options", [{"every": 2}, {}])
def test_fixed_tree_skips_step_end_search_inside_segments_and_gives_the_same_rollout(options, monkeypatch):
    """The fixed strategy reads no step ends inside segments that ran past one, so the grower does not
    search them; the rollout (step ends from the leaves' text included) is the one a search gives, and fewer
    tokens are searched."""
    from test_segment_rounds import _same_rollout

    from treecredit.sampling.branching import FixedBranching

    out = _rollouts_with_and_without_search(monkeypatch, FixedBranching, 2, 4, 14, branching_options=options)
    _same_rollout(out[1], out[0])
    assert out[0].step_ends.any()
    assert out[1].extras["searched"] < out[0].extras["searched"]


@pytest.mark.parametrize("schedule", ["stream", "speculative"])
@pytest.mark.parametrize("cutoff", ["off", "any"])
def test_entropy_tree_skips_step_end_search_inside_segments_and_gives_the_same_rollout(cutoff, schedule,
                                                                                     monkeypatch):
    """Entropy branching reads step ends only of pruned nodes, whose segments all stopped at step ends (the
    cutoff stops them there), so the grower does not search the others; the rollout is the one a search
    gives, with fewer tokens searched (without cutoff; with it there is nothing to search)."""
    from test_segment_rounds import _same_rollout

    from treecredit.sampling.branching import EntropyBranching

    out = _rollouts_with_and_without_search(monkeypatch, EntropyBranching, 3, 5, 16, branching="entropy",
                                            cutoff=cutoff, schedule=schedule)
    _same_rollout(out[1], out[0])
    assert out[0].step_ends.any()
    if cutoff == "off":
        assert out[1].extras["searched"] < out[0].extras["searched"]
    else:  # every segment stops at a step end: nothing to search either way
        assert out[1].extras["searched"] == out[0].extras["searched"]
        assert "cut" in out[0].extras["leaf_status"]


@pytest.mark.parametrize("kw, arg", [({"top_p": 0.0}, "top_p"), ({"cutoff": "maybe"}, "cutoff"),
                                     ({"branching": "bushy"}, "branching"), ({"mc_rollouts": -1}, "mc_rollouts"),
                                     ({"replay_leaves": -1}, "replay_leaves"),
                                     ({"branching_options": {"children": 1}}, "children"),
                                     ({"branching_options": {"leaves": 1}}, "branching_options")])
def test_bad_tree_sampler_options(kw, arg):
    with pytest.raises(ValueError, match=f"^{arg}: .*Fix: "):
        TreeSampler(**kw)


def test_greedy_tree_rows_equal_greedy_iid():
    """At temperature 0 every branch of a tree is the greedy response, as i.i.d. greedy sampling gives."""
    policy = tiny_gpt(torch.float32)
    task, problems = _setup()
    with pytest.warns(UserWarning, match="^temperature: is 0"):  # every leaf is one response: warned about
        r = sample_tree(policy, task, problems, temperature=0.0, branching_options={"every": 2})
    iid = IIDSampler(temperature=0.0, max_new_tokens=16).sample(policy, task, problems, 1, torch.Generator())
    for row in range(r.shape[0]):
        g = int(r.group_ids[row])
        assert r.response_texts[row] == iid.response_texts[g]


def test_fixed_top_up_refills_groups_whose_chains_stopped_early():
    policy = tiny_gpt(torch.float32)
    task, problems = _setup(n=4)
    bare = sample_tree(policy, task, problems, seed=0, branching_options={"every": 3, "top_up": 0})
    topped = sample_tree(policy, task, problems, seed=0, branching_options={"every": 3, "top_up": 3})
    assert (torch.bincount(bare.group_ids) < 8).any()
    counts = torch.bincount(topped.group_ids)
    assert (counts <= 8).all() and counts.sum() > torch.bincount(bare.group_ids).sum()
    check_tree_nodes(topped)
    # refills continue kept KV states: only the prompts are ever prefilled
    assert topped.extras["prefill_tokens"] == bare.extras["prefill_tokens"] == sum(len(p) for p in {
        tuple(p) for p in topped.prompt_ids})
    assert topped.extras["rounds"] == bare.extras["rounds"] == 1  # one continuous stream
    assert topped.extras["decode_steps"] >= bare.extras["decode_steps"]


def test_kv_reuse_with_temperature_and_top_p():
    policy = tiny_gpt(torch.float64)
    task, problems = _setup()
    r = sample_tree(policy, task, problems, seed=9, temperature=0.7, top_p=0.8, branching_options={"every": 2})
    for row in range(r.shape[0]):
        tokens, _ = replay_row_from_scratch(policy, r, row, temperature=0.7, top_p=0.8)
        assert tokens == r.response_ids[row, : len(tokens)].tolist()


def test_check_group_size_reports_what_sample_would():
    TreeSampler().check_group_size(8)
    with pytest.raises(ValueError, match="^group_size: .*Fix: "):
        TreeSampler().check_group_size(6)
    with pytest.raises(ValueError, match="^replay_leaves: is 2: .* 6 new leaves.*Fix: "):
        TreeSampler(replay_leaves=2).check_group_size(8)  # 6 fresh leaves: not a multiple of 4
    TreeSampler(replay_leaves=4).check_group_size(8)
    with pytest.raises(ValueError, match="^chains: .*Fix: "):
        TreeSampler(branching="entropy", branching_options={"chains": 9}).check_group_size(8)
    with pytest.raises(ValueError, match="^replay_leaves: is 8, not below the group size.*Fix: "):
        TreeSampler(branching="entropy", replay_leaves=8).check_group_size(8)
