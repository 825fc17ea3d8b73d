"""Outcome baselines against hand-computed values and their defined degenerate cases."""

import numpy as np
import pytest

from treecredit import compute_advantages

IDS = np.array([[5, 6, 7, 0], [5, 6, 8, 9], [5, 1, 0, 0]])
MASK = np.array([[1, 1, 1, 0], [1, 1, 1, 1], [1, 1, 0, 0]])


def call(name, rewards, groups=(0, 0, 0), **options):
    return compute_advantages(name, response_ids=IDS, response_mask=MASK, rewards=np.array(rewards, float),
                              group_ids=np.array(groups), **options)


def test_grpo_hand_computed():
    adv = call("grpo", [1.0, 0.0, 0.0])
    mu, sd = 1 / 3, np.std([1, 0, 0], ddof=1)
    np.testing.assert_allclose(adv[0, :3], (1 - mu) / (sd + 1e-6), rtol=1e-6)
    np.testing.assert_allclose(adv[2, :2], (0 - mu) / (sd + 1e-6), rtol=1e-6)
    assert adv[0, 3] == 0 and (adv[2, 2:] == 0).all()
    assert adv.dtype == np.float32


def test_grpo_without_std_equals_dr_grpo():
    np.testing.assert_array_equal(call("grpo", [3.0, 1.0, 2.0], norm_by_std=False), call("dr_grpo", [3.0, 1.0, 2.0]))


def test_rloo_is_leave_one_out():
    adv = call("rloo", [3.0, 1.0, 2.0])
    np.testing.assert_allclose(adv[0, 0], 3 - (1 + 2) / 2)
    np.testing.assert_allclose(adv[1, 0], 1 - (3 + 2) / 2)


@pytest.mark.parametrize("name", ["grpo", "dr_grpo", "rloo"])
def test_group_of_one_and_equal_rewards_give_exact_zero(name):
    assert (call(name, [0.7, 0.1, 0.3], groups=(0, 1, 2)) == 0).all()
    adv = call(name, [0.1, 0.1, 0.1])
    assert (adv == 0).all() and not np.isnan(adv).any()


def test_groups_are_independent_and_string_ids_work():
    both = call("grpo", [1.0, 0.0, 5.0], groups=("a", "a", "b"))
    assert both[2].sum() == 0
    np.testing.assert_allclose(both[0, 0], -both[1, 0])


def test_dr_grpo_docstring_names_the_real_loss_option():
    """review42 #10: the docstring named ``loss_agg="constant"``, an option that does not exist."""
    from treecredit.registry import get_estimator
    from treecredit.training.config import TrainConfig
    from treecredit.training.loss import AGGREGATIONS

    doc = get_estimator("dr_grpo").fn.__doc__
    assert 'loss_aggregation="constant"' in doc and "--loss-aggregation constant" in doc and "loss_agg=" not in doc
    assert "constant" in AGGREGATIONS and TrainConfig(loss_aggregation="constant").loss_aggregation == "constant"
