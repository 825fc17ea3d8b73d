"""SPO (tree) against a hand-computed trie and its reductions to the outcome baselines."""

import numpy as np
from tree_cases import REWARDS, degenerate_checks, run, run_distinct


def test_hand_computed_token_trie():
    adv = run("spo")
    np.testing.assert_allclose(adv[0], [1 / 6, 1 / 6, 1 / 3, 0.0], atol=1e-7)
    np.testing.assert_allclose(adv[1, :3], [1 / 6, 1 / 6, -2 / 3], atol=1e-7)
    np.testing.assert_allclose(adv[3, :2], [-0.5, -0.5], atol=1e-7)


def test_norm_by_std_divides_by_the_std_under_the_parent():
    adv = run("spo", norm_by_std=True)
    under_x = np.std(REWARDS[:3], ddof=1)  # [3] and [5] hang under [1 2] (rows A, B, C)
    np.testing.assert_allclose(adv[0, 2], (1 / 3) / (under_x + 1e-6), rtol=1e-6)
    assert adv[0, 3] == 0  # [4] under [3] (rows A, C, both r=1): V gain 0


def test_no_shared_prefix_reduces_to_dr_grpo_and_grpo():
    np.testing.assert_allclose(run_distinct("spo"), run_distinct("dr_grpo"), atol=1e-7)
    np.testing.assert_allclose(run_distinct("spo", norm_by_std=True), run_distinct("grpo"), rtol=1e-6)


def test_degenerate_cases():
    assert (degenerate_checks("spo") == 0).all()
