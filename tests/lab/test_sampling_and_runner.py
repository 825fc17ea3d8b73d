"""The lab's batches have the layout of real rollouts, and every estimator gets valid inputs."""

import numpy as np
import pytest

import treecredit
from treecredit.lab.measure import Accumulator, block_stats
from treecredit.lab.runner import run_token_cell, token_options, variants
from treecredit.lab.sampling import branch_schedule, sample_forest
from treecredit.lab.tabular import make_tabular_mdp


@pytest.fixture(scope="module")
def mdp():
    return make_tabular_mdp(n_actions=3, depth=4, success_rate=0.4, seed=0)


def test_tree_layout_is_consistent(mdp):
    B, n_groups = 3, 5
    depths = branch_schedule(mdp.depth, 2)
    np.testing.assert_array_equal(depths, [0, 2])
    batch = sample_forest(mdp, np.random.default_rng(0), n_groups=n_groups, branching=B, branch_depths=depths)
    assert batch.n_rows == n_groups * B ** 2 and batch.group_size == B ** 2
    np.testing.assert_array_equal(batch.group_index, np.repeat(np.arange(n_groups), B ** 2))
    nodes, tokens = batch.tree_nodes, batch.response_ids
    for node in np.unique(nodes):
        rows, cols = np.nonzero(nodes == node)
        assert np.unique(batch.group_index[rows]).size == 1  # a segment never crosses groups
        for c in np.unique(cols):  # all rows of a segment carry the same tokens there
            assert np.unique(tokens[rows[cols == c], c]).size == 1
    # depth 0..1 is one of B root segments, depth 2..3 one of B² leaf segments per group
    assert all(np.unique(nodes[batch.group_index == g][:, :2]).size == B for g in range(n_groups))
    assert all(np.unique(nodes[batch.group_index == g][:, 2:]).size == B ** 2 for g in range(n_groups))
    # rewards are the leaves' exact rewards; targets the exact A* of each (prefix, action)
    leaf = batch.prefixes[:, -1] * mdp.n_actions + batch.actions[:, -1]
    np.testing.assert_array_equal(batch.rewards, mdp.rewards[leaf])
    np.testing.assert_allclose(batch.target_per_action[:, 0], mdp.advantages[0][0, batch.actions[:, 0]])


def test_segment_estimator_gives_one_value_per_segment(mdp):
    batch = sample_forest(mdp, np.random.default_rng(1), n_groups=4, branching=3, branch_depths=[0, 2])
    adv = np.asarray(treecredit.compute_advantages("spo", **batch.estimator_inputs(), tree_nodes=batch.tree_nodes))
    for node in np.unique(batch.tree_nodes):
        assert np.ptp(adv[batch.tree_nodes == node]) == 0


@pytest.mark.parametrize("explicit_tree", [False, True])
def test_token_options_never_pass_a_tree_and_steps(mdp, explicit_tree):
    batch = sample_forest(mdp, np.random.default_rng(2), n_groups=2, branching=4,
                          branch_depths=[0, 2] if explicit_tree else [0])
    for v in variants("token"):
        spec = treecredit.get_estimator(v.name)
        opts = token_options(v, spec, batch, explicit_tree=explicit_tree, mc_cache={}, mc_rollouts=2,
                             rng=np.random.default_rng(0))
        assert not ("tree_nodes" in opts and "step_ends" in opts), v.label
        if "tree_nodes" in spec.options:
            assert ("tree_nodes" in opts) == explicit_tree, v.label
        if v.mc is not None:
            assert "mc_values" in opts and "step_ends" in opts


@pytest.mark.parametrize("branch_depths,step_len", [([0], 1), ([0, 2], 1), ([0], 3), ([0, 2], 3)])
def test_every_registered_estimator_runs_in_every_regime(branch_depths, step_len):
    env = make_tabular_mdp(n_actions=3, depth=4, step_len=step_len, token_vocab=5, reward="binary", seed=0)
    result = run_token_cell(env, branching=4 if branch_depths == [0] else 2, branch_depths=branch_depths,
                            n_blocks=3, groups_per_block=4, variant_list=variants("token", mc_rollouts=2), seed=0)
    assert result.skipped == {}
    labels = {v.label for v in variants("token", mc_rollouts=2)}
    assert labels <= set(result.metrics)
    assert {"tempo", "spo", "treepo", "treerl", "treerpo", "vine[mc=exact]"} <= labels


def test_normalised_flags():
    flags = {v.label: v.normalised for v in variants("token")}
    assert flags["grpo"] and flags["treerl"] and flags["treerpo"] and flags["treepo"]
    assert not flags["grpo[norm_by_std=False]"] and not flags["treerpo[scale=none]"] and not flags["rloo"]
    assert not flags["treepo[whiten=False]"] and not flags["spo"]


def test_exact_advantages_measure_zero_error_and_a_shift_is_pure_bias():
    rng = np.random.default_rng(3)
    node = rng.integers(0, 6, size=600)
    target = np.linspace(-1, 1, 6)[node]
    group = np.repeat(np.arange(20), 30)
    blocks = [Accumulator(), Accumulator()]
    for _ in range(5):
        blocks[0].add(block_stats(target, target, node, 6, group, 20))
        blocks[1].add(block_stats(target + 0.25, target, node, 6, group, 20))
    exact, shifted = blocks[0].result(), blocks[1].result()
    assert exact["rmse"][0] == 0 and exact["rank_corr"][0] == pytest.approx(1) and exact["gain"][0] == 1
    assert shifted["rms_bias"][0] == pytest.approx(0.25) and shifted["sd"][0] == pytest.approx(0, abs=1e-9)
    assert shifted["rmse"][0] == pytest.approx(0.25)


def test_an_estimator_refusing_its_inputs_is_recorded_as_skipped_with_its_message():
    env = make_tabular_mdp(n_actions=3, depth=3, reward="noisy", seed=0)  # rewards outside [0, 1]
    assert env.rewards.min() < 0 or env.rewards.max() > 1
    names = [v for v in variants("token") if v.name == "treerpo"]
    result = run_token_cell(env, branching=2, branch_depths=[0, 1], n_blocks=3, groups_per_block=4,
                            variant_list=names, seed=0)
    assert set(result.skipped) == {"treerpo"} and "rewards" in result.skipped["treerpo"]
    assert "treerpo[scale=none]" in result.metrics
