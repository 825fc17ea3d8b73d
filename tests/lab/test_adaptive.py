"""Adaptive branching in the lab (the trainer's rule over exact MDPs) and early cutoff counted by hand."""

import numpy as np
import pytest

from treecredit.lab.adaptive import grow_adaptive_tree, sample_adaptive
from treecredit.lab.cutoff import apply_cutoff, generated_per_group
from treecredit.lab.runner import run_token_cell, variants
from treecredit.lab.sampling import LabBatch
from treecredit.lab.tabular import TabularMDP, make_tabular_mdp


def _settled_below_first_action(depth=4, seed=0) -> TabularMDP:
    """V = 3; after a first action 0 the policy is deterministic (entropy 0), elsewhere uniform."""
    logits = [np.zeros((1, 3))]
    for d in range(1, depth):
        z = np.zeros((3 ** d, 3))
        first = np.arange(3 ** d) // 3 ** (d - 1)
        z[first == 0] = [0.0, -1e9, -1e9]
        logits.append(z)
    rewards = (np.random.default_rng(seed).random(3 ** depth) < 0.4).astype(np.float64)
    return TabularMDP(tuple(logits), rewards, np.arange(3)[:, None])


def test_adaptive_trees_do_not_branch_where_the_policy_is_certain():
    mdp = _settled_below_first_action()
    batch = sample_adaptive(mdp, np.random.default_rng(0), n_groups=64, group_size=16)
    below_zero = batch.actions[:, 0] == 0

    def share_sharing_first_segment(mask):
        shared = 0
        for g in range(batch.n_groups):
            _, counts = np.unique(batch.tree_nodes[(batch.group_index == g) & mask, 0], return_counts=True)
            shared += counts[counts > 1].sum()
        return shared / mask.sum()

    # The leaf budget goes to the uncertain branches: far fewer leaves below the first action 0 than
    # π(0) = 1/3 of them (i.i.d. sampling), and there a response is mostly its own chain from the prompt, since
    # points of entropy 0 get no children (leaves the capped points cannot take become chains from the prompt);
    # on the uncertain side every response shares its first segment with a sibling.
    assert below_zero.mean() < 0.15
    assert share_sharing_first_segment(below_zero) < 0.3
    assert share_sharing_first_segment(~below_zero) > 0.9


def test_adaptive_batch_counts_each_segment_once_and_is_reproducible():
    mdp = make_tabular_mdp(depth=5, success_rate=0.2, seed=3)
    forest = grow_adaptive_tree(mdp, np.random.default_rng(1), 12, chains=2, rounds=3, max_children=4)
    leaves = forest.leaves(0)
    assert len(leaves) <= 12 and all(len(forest.path_tokens(leaf)) == 5 for leaf in leaves)
    batch = sample_adaptive(mdp, np.random.default_rng(1), n_groups=1, group_size=12)
    assert np.array_equal(batch.actions, [forest.path_tokens(leaf) for leaf in leaves])
    assert generated_per_group(batch, np.ones(batch.actions.shape, dtype=bool)) == forest.generated_tokens()
    assert generated_per_group(batch, np.ones(batch.actions.shape, dtype=bool)) < 5 * len(leaves)  # shared
    leaf_index = (batch.actions * 3 ** np.arange(4, -1, -1)).sum(axis=1)
    assert np.array_equal(batch.rewards, mdp.rewards[leaf_index])
    again = sample_adaptive(mdp, np.random.default_rng(7), n_groups=6, group_size=12)
    assert np.array_equal(again.tree_nodes, sample_adaptive(mdp, np.random.default_rng(7), n_groups=6,
                                                            group_size=12).tree_nodes)
    with pytest.raises(ValueError, match="group_size"):
        sample_adaptive(mdp, np.random.default_rng(0), n_groups=1, group_size=1)


def test_adaptive_cell_is_measured_like_the_other_shapes():
    mdp = make_tabular_mdp(depth=5, success_rate=0.3, seed=1)
    chosen = [v for v in variants("token") if v.label in ("grpo", "treerl")]
    result = run_token_cell(mdp, branching=16, branch_depths=[0], n_blocks=3, groups_per_block=8,
                            variant_list=chosen, seed=0, adaptive={})
    assert not result.skipped and set(result.metrics) == {"grpo", "treerl", "(oracle A*)"}
    assert 5 < result.tokens_per_group < 16 * 5 and 2 < result.leaves_per_group <= 16
    assert np.isfinite(result.metrics["treerl"]["grad_rel_var"][0])
    with pytest.raises(ValueError, match="cutoff"):
        run_token_cell(mdp, branching=16, branch_depths=[0], n_blocks=1, groups_per_block=2, variant_list=chosen,
                       seed=0, adaptive={}, cutoff="sound")


def test_cutoff_tokens_saved_and_value_bias_equal_a_hand_count():
    mdp = make_tabular_mdp(depth=4, decisive="spread", n_decisive=3, reward="graded", seed=0)
    assert mdp.meta["decisive_at"] == [0, 2, 3]
    c = mdp.meta["correct"]
    wrong = [(x + 1) % 3 for x in c]
    # One tree, B = 2 at depths 0 and 2: root segments A (rows 0, 1) and B (rows 2, 3) cover depths 0–1,
    # each row has its own segment for depths 2–3.
    actions = np.array([[wrong[0], 1, c[2], 0],  # A: wrong at depth 0 → cut after 1 token
                        [wrong[0], 1, wrong[2], 0],
                        [c[0], 2, wrong[2], 1],  # B right; this leaf wrong at depth 2 → cut after its 1st token
                        [c[0], 2, c[2], 2]])  # runs to the end
    prefixes = np.zeros_like(actions)
    for d in range(1, 4):
        prefixes[:, d] = prefixes[:, d - 1] * 3 + actions[:, d - 1]
    nodes = np.array([[0, 0, 2, 2], [0, 0, 3, 3], [1, 1, 4, 4], [1, 1, 5, 5]])
    batch = LabBatch(mdp, actions, prefixes, np.zeros(4, dtype=np.int64), nodes, 1)
    off, cut = apply_cutoff(batch, "off"), apply_cutoff(batch, "any")
    assert generated_per_group(batch, off["alive"]) == 2 + 2 + 4 * 2
    # by hand: A's first token (1) + B (2) + row 2's leaf segment up to the wrong step (1) + row 3's (2) = 6
    assert generated_per_group(batch, cut["alive"]) == 6
    assert cut["cut_rows"].tolist() == [True, True, True, False]
    exact = [mdp.values[1][wrong[0]]] * 2 + [mdp.values[3][prefixes[2, 2] * 3 + wrong[2]]]
    assert cut["value_error"] == pytest.approx([0.0 - v for v in exact])
    assert all(v > 0 for v in exact)  # graded reward: a wrong step is not fatal, so the cut is biased low
