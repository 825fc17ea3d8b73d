"""TreeRL against a hand-computed trie, its reductions and the leave-one-out option."""

import numpy as np
import pytest
from tree_cases import degenerate_checks, run, run_distinct


def test_hand_computed_token_trie():
    adv = run("treerl")
    root = 0.5
    x = 2 / 3  # [1 2]: rows A, B, C
    np.testing.assert_allclose(adv[0], [(2 * x - 2 * root) / np.sqrt(3)] * 2
                               + [((1 - root) + (1 - x)) / np.sqrt(2), (1 - root) + 0.0], rtol=1e-6)
    np.testing.assert_allclose(adv[1, 2], ((0 - root) + (0 - x)) / 1.0, rtol=1e-6)
    np.testing.assert_allclose(adv[3, :2], 2 * (0 - root), rtol=1e-6)


def test_no_shared_prefix_gives_twice_the_centred_reward():
    np.testing.assert_allclose(run_distinct("treerl"), 2 * run_distinct("dr_grpo"), atol=1e-7)


def test_leave_one_out_rescales_by_g_over_g_minus_one():
    np.testing.assert_allclose(run("treerl", leave_one_out=True)[:4], run("treerl")[:4] * 4 / 3, rtol=1e-6)
    assert (run("treerl", leave_one_out=True)[4] == 0).all()


def test_step_option_and_degenerate_cases():
    by_steps = run("treerl", step_tokens=2)
    assert by_steps[0, 2] == pytest.approx(((1 - 0.5) + (1 - 2 / 3)) / 1.0)
    assert (degenerate_checks("treerl") == 0).all()
