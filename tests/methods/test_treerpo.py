"""TreeRPO against a hand-computed step tree, its one-level reduction, tau, scales and errors."""

import warnings

import numpy as np
import pytest
from tree_cases import DISTINCT_REWARDS, degenerate_checks, run, run_distinct

EPS = 1e-6


def test_hand_computed_step_tree():
    # one-token steps: root → X=[1 2] (A,B,C), D=[7 8]; X → [3] (A, C; C ends there), [5] (B); [3] → [4] (A)
    # V([4]) = 1; V([3]) = mean(V([4]), C's reward 1) = 1; V([5]) = 0; V(X) = 0.5; V(D) = 0; V(root) = 0.25
    adv = run("treerpo", step_tokens=1)
    at_root = (0.5 - 0.25) / (0.25 * 0.75 + EPS)
    np.testing.assert_allclose(adv[0], [at_root, at_root, (1 - 0.5) / (0.25 + EPS), 0.0], rtol=1e-6)
    np.testing.assert_allclose(adv[1, :3], [at_root, at_root, (0 - 0.5) / (0.25 + EPS)], rtol=1e-6)
    np.testing.assert_allclose(adv[3, :2], -at_root, rtol=1e-6)
    assert adv[0, 3] == 0  # [4]'s sibling set {V([4]) = 1, C's reward 1} spans 0 < tau


def test_internal_value_weighs_each_subtree_the_same():
    # [1] has two children: [2] (one response ends there, r=1, and [3] below it, r=0) and [4] (r=1)
    ids = np.array([[1, 2, 0], [1, 2, 3], [1, 4, 0], [5, 0, 0]])
    mask = (ids > 0).astype(int)
    adv = run("treerpo", ids=ids, mask=mask, rewards=[1.0, 0.0, 1.0, 0.0], groups=[0] * 4, step_tokens=1,
              scale="none", tau=0.0)
    # V([1 2]-node) = mean(term 1, child [3] = 0) = 0.5; V([4]) = 1; V([1]) = 0.75; V([5]) = 0; root 0.375
    np.testing.assert_allclose(adv[0, :2], [0.75 - 0.375, 0.5 - 0.75])
    np.testing.assert_allclose(adv[1, 2], 0.0 - 0.5)


def test_one_level_step_tree_gives_the_group_baseline():
    adv = run_distinct("treerpo", step_tokens=10, scale="none", tau=0.0)
    np.testing.assert_allclose(adv, run_distinct("dr_grpo"), atol=1e-7)
    std = run_distinct("treerpo", step_tokens=10, scale="std", tau=0.0)
    np.testing.assert_allclose(std, run_distinct("grpo"), rtol=1e-5)
    binary = np.array([1.0, 0.0, 1.0, 1.0])
    bern = run_distinct("treerpo", rewards=binary, step_tokens=10)
    np.testing.assert_allclose(bern, run_distinct("dr_grpo", rewards=binary) / (0.75 * 0.25 + EPS), rtol=1e-6)
    assert DISTINCT_REWARDS.max() <= 1


def test_tau_drops_sibling_sets_that_barely_differ():
    rewards = [0.5, 0.45, 0.52, 0.5]
    with pytest.warns(UserWarning, match="^tau: 0.1 removes every sibling set"):  # all of them: said
        assert (run_distinct("treerpo", rewards=rewards, step_tokens=10, tau=0.1) == 0).all()
    assert (run_distinct("treerpo", rewards=rewards, step_tokens=10, tau=0.05) != 0).any()


def test_a_node_with_one_child_gives_it_zero():
    nodes = np.array([[0, 1, 1, 2], [0, 3, 3, -1], [0, 1, 1, -1], [4, 4, -1, -1], [5, 5, 5, 5]])
    ids = np.array([[1, 2, 3, 4], [1, 2, 5, 0], [1, 2, 3, 0], [7, 8, 0, 0], [1, 2, 3, 4]])
    adv = run("treerpo", ids=ids, tree_nodes=nodes, scale="none", tau=0.0)
    # node 1 ([2 3]) has one child (node 2 = [4]) and C ends at it: its sibling set {1, 1} → 0
    assert adv[0, 3] == 0


def test_degenerate_cases():
    alone = degenerate_checks("treerpo", step_tokens=1)
    assert (alone == 0).all()


def test_errors_name_the_argument():
    with pytest.raises(ValueError, match="^step_ends: .*needs steps"):
        run("treerpo")
    with pytest.raises(ValueError, match="^rewards: .*outside"):
        run("treerpo", rewards=[2.0, 0, 0, 0, 0], step_tokens=1)
    with pytest.raises(ValueError, match="^scale: "):
        run("treerpo", scale="var", step_tokens=1)
    with pytest.raises(ValueError, match="^tau: "):
        run("treerpo", tau=-0.1, step_tokens=1)
    assert run("treerpo", rewards=[2.0, 0, 0, 0, 0], step_tokens=1, scale="std").shape == (5, 4)


def test_warns_when_tau_removes_every_sibling_set_that_spreads():
    # was: rewards in {0, 0.05} with scale="std" gave 0 everywhere without a word (tau is in reward units)
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 3, (16, 8))
    rewards = rng.integers(0, 2, 16) * 0.05
    common = dict(ids=ids, mask=np.ones_like(ids), groups=np.repeat([0, 1], 8), step_tokens=2, scale="std")
    with pytest.warns(UserWarning, match=r"^tau: 0.1 removes every sibling set.*largest span here is 0.05.*Fix: "
                                         r"pass tau below 0.05"):
        adv = run("treerpo", rewards=rewards, **common)
    assert (adv == 0).all()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a tau below the spans, or sets that do not spread at all: no warning
        assert np.abs(run("treerpo", rewards=rewards, tau=0.01, **common)).max() > 0
        run("treerpo", rewards=rewards * 20, **common)
        run("treerpo", rewards=np.zeros(16), **common)
