"""Branch statistics on hand-made trees and groups."""

import numpy as np

from treecredit.sampling.branch_stats import branch_points, leaf_branch_depth, nonzero_credit_share, tree_credit_share


def test_branch_points_and_depth():
    # group 0: two roots (0, 1); node 0 forks into 2 and 3; node 3 forks into 4 and 5. group 1: one chain (6)
    parent = np.array([-1, -1, 0, 0, 3, 3, -1])
    group = np.array([0, 0, 0, 0, 0, 0, 1])
    assert branch_points(parent, group, 2).tolist() == [3, 0]
    assert leaf_branch_depth(parent, group, [2, 4, 5, 1, 6]).tolist() == [2, 3, 3, 1, 0]


def test_nonzero_credit_share_hand_computed():
    ids = np.array([[1, 2, 3], [1, 2, 4], [1, 5, 0], [7, 7, 7]])
    mask = np.array([[1, 1, 1], [1, 1, 1], [1, 1, 0], [1, 1, 1]], dtype=bool)
    rewards = np.array([1.0, 0.0, 1.0, 0.0])
    groups = np.array([0, 0, 0, 1])
    # group 0 (G = 3): prefix (1) is shared by the whole group (no step credit); (1,2) is shared by 2 rows
    # and V = 1/2 differs from V(1) = 2/3: 2 tokens; the unshared tails (1,2,3), (1,2,4), (1,5) do not
    # count; group 1 (one row) has none: 2 of 11 tokens
    assert nonzero_credit_share(ids, mask, rewards, groups) == 2 / 11
    assert nonzero_credit_share(ids, mask, np.ones(4), groups) == 0.0
    assert nonzero_credit_share(ids[:0], mask[:0], rewards[:0], groups[:0]) == 0.0


def test_tree_credit_share_uses_the_sampled_nodes():
    # group of 4: root node 0 (all rows), node 1 under it for rows 0-1 (value 1/2 vs root 1/4), and tails
    nodes = np.array([[0, 1, 2], [0, 1, 3], [0, 4, 4], [0, 5, -1]])
    mask = nodes >= 0
    rewards = np.array([1.0, 0.0, 0.0, 0.0])
    groups = np.zeros(4, dtype=int)
    assert tree_credit_share(nodes, mask, rewards, groups) == 2 / 11  # node 1, in rows 0 and 1
    assert tree_credit_share(nodes, mask, np.zeros(4), groups) == 0.0


def test_sampler_metrics_for_tree_and_iid_rollouts():
    import torch
    from tree_helpers import sample_tree, tiny_gpt

    from treecredit.sampling import IIDSampler
    from treecredit.sampling.branch_stats import sampler_metrics
    from treecredit.tasks import ArithmeticTask

    policy = tiny_gpt(torch.float32)
    task = ArithmeticTask(min_operators=1, max_operators=2)
    problems = task.generate(np.random.default_rng(0), 2)
    tree = sampler_metrics(sample_tree(policy, task, problems, branching_options={"every": 3}))
    assert tree["tree_branch_points_per_group"] > 0 and 0 <= tree["step_credit_share_tree"] <= 1
    iid = sampler_metrics(IIDSampler(max_new_tokens=8).sample(policy, task, problems, 4, torch.Generator()))
    assert set(iid) == {"step_credit_share_trie"}
