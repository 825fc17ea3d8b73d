"""TreePO against hand-computed subgroup sums, weights, whitening and reductions."""

import numpy as np
import pytest
from tree_cases import degenerate_checks, run, run_distinct


def test_hand_computed_subgroups():
    adv = run("treepo", whiten=False)
    # row A: root (4 rows, mean 1/2), [1 2] (3 rows, mean 2/3), [3] (A, C: mean 1), [4] alone: skipped
    assert adv[0, 0] == pytest.approx((4 * 0.5 + 3 * (1 / 3) + 2 * 0.0) / 9)
    # row D: root only ([7 8] is a singleton)
    assert adv[3, 0] == pytest.approx(-0.5)
    uniform = run("treepo", whiten=False, weights="uniform")
    assert uniform[0, 0] == pytest.approx((0.5 + 1 / 3 + 0.0) / 3)
    assert (adv[4] == 0).all()  # alone in its group: every subgroup is a singleton


def test_whitening_is_over_the_responses_of_the_batch():
    raw = run("treepo", whiten=False)[:, 0]
    white = run("treepo")[:, 0]
    np.testing.assert_allclose(white, (raw - raw.mean()) / (raw.std(ddof=1) + 1e-6), rtol=1e-5)


def test_no_shared_prefix_gives_the_centred_reward():
    np.testing.assert_allclose(run_distinct("treepo", whiten=False), run_distinct("dr_grpo"), atol=1e-7)


def test_degenerate_cases_and_errors():
    degenerate_checks("treepo")
    with pytest.raises(ValueError, match="^weights: "):
        run("treepo", weights="depth")
