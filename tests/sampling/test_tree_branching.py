"""Branching strategies: budgets, the E-TreeRPO allocation rule, the entropy fork choice."""

import numpy as np
import pytest
import torch
from tree_helpers import check_tree_nodes, sample_tree, tiny_gpt

from treecredit.sampling.branching import AdaptiveBranching, EntropyBranching, open_points
from treecredit.sampling.leaf_scores import candidate_scores
from treecredit.sampling.tree_table import SampledForest
from treecredit.tasks import ArithmeticTask, CountdownTask

torch.set_num_threads(1)


@pytest.mark.parametrize("branching, options, group_size", [
    ("entropy", {"chains": 2, "forks": 1, "children": 2}, 8), ("entropy", {"chains": 3, "forks": 2, "children": 2}, 6),
    ("entropy", {"chains": 2, "forks": 1, "children": 2, "rounds": 1}, 8),
    ("adaptive", {"chains": 2, "rounds": 3}, 8), ("adaptive", {"chains": 4, "rounds": 1, "max_children": 2}, 12)])
def test_strategies_respect_the_leaf_budget(branching, options, group_size):
    policy = tiny_gpt(torch.float32)
    task = ArithmeticTask(min_operators=1, max_operators=2)
    problems = task.generate(np.random.default_rng(0), 3)
    r = sample_tree(policy, task, problems, group_size=group_size, branching=branching, branching_options=options)
    counts = torch.bincount(r.group_ids, minlength=3)
    if branching == "entropy" and options.get("rounds") == 1:
        assert (counts == options["chains"] + options["children"]).all()
    elif branching == "adaptive":  # the per-point cap can leave budget unspent when candidates are few
        assert (counts <= group_size).all() and (counts >= options["chains"]).all()
        assert counts.sum() > 3 * options["chains"]
    else:
        assert (counts == group_size).all()
    check_tree_nodes(r)


def test_adaptive_token_budget_stops_the_rounds():
    policy = tiny_gpt(torch.float32)
    task = ArithmeticTask(min_operators=1, max_operators=2)
    problems = task.generate(np.random.default_rng(0), 2)
    r = sample_tree(policy, task, problems, branching="adaptive", branching_options={"chains": 2, "token_budget": 1})
    assert torch.bincount(r.group_ids).tolist() == [2, 2]


def _forest(entropies, rewards_of_leaves):
    """Group 0: two root chains with step ends at offset 1; per-token entropies given."""
    forest = SampledForest()
    for tokens_entropy in entropies:
        node = forest.add_node(0, -1)
        forest.tokens[node] = [5, 5, 5, 5]
        forest.entropy[node] = list(tokens_entropy)
        forest.step_end_offsets[node] = [1]
        forest.status[node] = "stop"
    return forest, dict(enumerate(rewards_of_leaves))


def test_adaptive_rule_follows_entropy_and_uncertainty():
    # chain 0: uncertain next step (H = 1); chain 1: an obvious step (H = 0) -> no branches there
    forest, rewards = _forest([[2.0, 0.0, 1.0, 0.0], [2.0, 0.0, 0.0, 0.0]], [1.0, 0.0])
    scores = candidate_scores(forest, 0, rewards)
    p = 2 / 3  # one leaf with reward 1: (1 + 1) / (1 + 2)
    assert scores[(0, 1)] == pytest.approx(1.0 * p * (1 - p) / 4)
    assert scores[(1, 1)] == 0.0
    assert scores[(-1, -1)] == pytest.approx(2.0 * 0.5 * 0.5 / 5)  # prompt: 2 leaves, one right
    plan = dict(AdaptiveBranching(max_children=4).allocate(forest, 0, rewards, budget=5))
    assert (1, 1) not in plan and sum(plan.values()) == 5 and max(plan.values()) <= 4
    # shares 5·u/Σu = 3.21 (prompt) and 1.79 (chain 0's step end): largest remainder gives 3 and 2
    assert plan == {(-1, -1): 3, (0, 1): 2}


def test_adaptive_spare_leaves_go_to_positive_points_then_to_the_prompt():
    # prompt u = 0.1, chain 0's step end u = 0.056, chain 1's (H = 0) u = 0; budget 10, cap 4: the shares
    # 6.4 / 3.6 are capped at 4 / 4, and the 2 leaves no positive point can take become new chains from the
    # prompt (formerly 1 went to the u = 0 point and 1 was not spent)
    forest, rewards = _forest([[2.0, 0.0, 1.0, 0.0], [2.0, 0.0, 0.0, 0.0]], [1.0, 0.0])
    plan = dict(AdaptiveBranching(max_children=4).allocate(forest, 0, rewards, budget=10))
    assert plan == {(-1, -1): 6, (0, 1): 4}


def test_adaptive_capped_share_is_spread_over_the_other_positive_points_by_score():
    # three chains: step-end entropies 1.0, 0.5, 0.0 -> u ∝ 2 : 1 : 0; the prompt's entropy is 0 too
    forest, rewards = _forest([[0.0, 0.0, 1.0, 0.0], [0.0, 0.0, 0.5, 0.0], [0.0, 0.0, 0.0, 0.0]], [0.0] * 3)
    scores = candidate_scores(forest, 0, rewards)
    assert scores[(0, 1)] == pytest.approx(2 * scores[(1, 1)]) and scores[(2, 1)] == 0 == scores[(-1, -1)]
    assert dict(AdaptiveBranching(max_children=8).allocate(forest, 0, rewards, budget=6)) == {(0, 1): 4, (1, 1): 2}
    # cap 3: chain 0 takes 3, the rest goes to chain 1 (water-filling), none to the u = 0 points
    assert dict(AdaptiveBranching(max_children=3).allocate(forest, 0, rewards, budget=6)) == {(0, 1): 3, (1, 1): 3}
    # cap 2: both positive points full at 2; the 2 leaves left become new chains from the prompt
    assert dict(AdaptiveBranching(max_children=2).allocate(forest, 0, rewards, budget=6)) == {
        (0, 1): 2, (1, 1): 2, (-1, -1): 2}


def test_adaptive_allocation_spends_the_budget_and_skips_zero_scores_on_random_trees():
    rng = np.random.default_rng(0)
    for _ in range(200):
        chains = int(rng.integers(1, 5))
        entropies = [[float(rng.choice([0.0, rng.uniform(0, 2)])) for _ in range(4)] for _ in range(chains)]
        forest, rewards = _forest(entropies, rng.integers(0, 2, chains).astype(float).tolist())
        cap, budget = int(rng.integers(1, 5)), int(rng.integers(0, 20))
        scores = candidate_scores(forest, 0, rewards)
        plan = dict(AdaptiveBranching(max_children=cap).allocate(forest, 0, rewards, budget=budget))
        assert sum(plan.values()) == budget
        positive = [c for c, u in scores.items() if u > 0]
        assert all(scores[c] > 0 and k <= cap for c, k in plan.items() if c != (-1, -1))
        if any(plan.get(c, 0) < cap for c in positive):  # room left on a positive point: no leaf beyond a cap,
            assert plan.get((-1, -1), 0) <= cap and all(scores[c] > 0 for c in plan)  # none at a u = 0 point


def test_adaptive_rule_settled_values_get_fewer_branches():
    # the same entropy, but chain 1's value rests on many agreeing leaves -> smaller variance
    forest, rewards = _forest([[1.0, 1.0, 1.0, 1.0], [1.0, 1.0, 1.0, 1.0]], [1.0, 1.0])
    for _ in range(6):
        leaf = forest.add_node(0, 1)
        forest.tokens[leaf], forest.entropy[leaf], forest.status[leaf] = [5], [1.0], "stop"
        rewards[leaf] = 1.0
    forest.status[1] = "inner"
    scores = candidate_scores(forest, 0, rewards)
    assert scores[(0, 1)] > scores[(1, 1)] > 0


def test_adaptive_rule_without_signal_samples_fresh_chains():
    forest, rewards = _forest([[0.0] * 4, [0.0] * 4], [0.0, 0.0])
    assert AdaptiveBranching().allocate(forest, 0, rewards, budget=3) == [((-1, -1), 3)]
    assert AdaptiveBranching().allocate(forest, 0, rewards, budget=0) == []


def test_open_points_splits_a_node_twice_in_one_round():
    forest, _ = _forest([[0.0] * 4], [0.0])
    points = open_points(forest, [(0, 0, 2, 1), (0, 0, 0, 2), (0, -1, -1, 1)])
    assert [k for _, _, k in points] == [1, 2, 1]
    ends = {node: forest.start[node] + len(forest.tokens[node]) for _, node, _ in points if node >= 0}
    assert sorted(ends.values()) == [1, 3]  # the prefixes end after tokens 0 and 2
    assert [len(forest.tokens[n]) for n in range(len(forest))] == [1, 2, 1]


def test_entropy_strategy_forks_at_the_highest_entropy_token():
    forest, _ = _forest([[0.1, 0.3, 2.5, 0.2], [0.1, 0.9, 0.0, 0.0]], [0.0, 0.0])
    assert EntropyBranching._top_tokens(forest, 0)[:2] == [(0, 2), (1, 1)]
    forest.status[0] = "cut"
    forest.step_end_offsets[0] = [1, 3]  # the pruned step is tokens 2..3: only token 2 may be re-drawn
    assert (0, 3) not in EntropyBranching._top_tokens(forest, 0)
    assert (0, 2) in EntropyBranching._top_tokens(forest, 0)


def test_countdown_cutoff_with_adaptive_rounds_stays_consistent():
    policy = tiny_gpt(torch.float32, seed=1)
    task = CountdownTask()
    problems = task.generate(np.random.default_rng(1), 3)
    r = sample_tree(policy, task, problems, max_new_tokens=20, branching="adaptive", cutoff="sound")
    check_tree_nodes(r)
    assert (r.rewards[r.extras["cut_rows"]] == 0).all()


def test_an_option_typo_lists_the_accepted_options():
    from treecredit.sampling.branching import make_branching

    with pytest.raises(ValueError, match=r"branching_options: 'fixed' branching has no option\(s\) \['dept'\].*depth"):
        make_branching("fixed", dept=2)


def test_adaptive_rule_clips_rewards_outside_the_unit_interval_with_a_warning():
    from treecredit.sampling.leaf_scores import unit_rewards

    # a count reward of 3 would make p_c = 4/3 and the variance negative: the point would never be picked
    forest, rewards = _forest([[1.0] * 4, [1.0] * 4], [3.0, 0.0])
    assert candidate_scores(forest, 0, rewards)[(0, 1)] < 0
    with pytest.warns(UserWarning, match="outside \\[0, 1\\]"):
        clipped = unit_rewards({**rewards, 2: float("nan")})
    assert clipped == {0: 1.0, 1: 0.0, 2: 0.0}
    assert candidate_scores(forest, 0, clipped)[(0, 1)] > 0
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert unit_rewards({0: 0.25, 1: 1.0}) == {0: 0.25, 1: 1.0}  # in range: unchanged, silent
