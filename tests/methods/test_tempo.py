"""TEMPO against hand-computed trees, its reductions to GRPO, and its degenerate cases."""

import numpy as np
import pytest
from tree_cases import DISTINCT_MASK, MASK, SIGMA, degenerate_checks, run, run_distinct

EPS = 1e-6


def test_hand_computed_token_trie():
    adv = run("tempo")
    mu = 0.5
    # row A: [1 2] has V=2/3 (rows A,B,C); [3] has V=1 (A,C); [4] has V=1 (A)
    expected_a = np.array([(1 - mu) + (2 / 3 - mu), 1 - mu, (1 - mu) + (1 - 2 / 3), 1 - mu]) / (SIGMA + EPS)
    np.testing.assert_allclose(adv[0], expected_a, rtol=1e-6)
    expected_b = np.array([(0 - mu) + (2 / 3 - mu), 0 - mu, (0 - mu) + (0 - 2 / 3), 0]) / (SIGMA + EPS)
    np.testing.assert_allclose(adv[1], expected_b, rtol=1e-6)
    np.testing.assert_allclose(adv[3, :2], np.array([-1.0, -0.5]) / (SIGMA + EPS), rtol=1e-6)
    assert (adv[4] == 0).all()  # a group of one


def test_td_terms_telescope_to_the_outcome_term():
    td = (run("tempo", norm_by_std=False) - run("grpo", norm_by_std=False)) * MASK
    np.testing.assert_allclose(td.sum(axis=1)[:4], np.array([1.0, 0.0, 1.0, 0.0]) - 0.5, atol=1e-6)


def test_no_shared_prefix_differs_from_grpo_only_on_the_first_token():
    tempo, grpo = run_distinct("tempo"), run_distinct("grpo")
    np.testing.assert_array_equal(tempo[:, 1:], grpo[:, 1:])
    np.testing.assert_allclose(tempo[:, 0], 2 * grpo[:, 0], rtol=1e-6)
    assert (DISTINCT_MASK[:, 0] == 1).all()


def test_a_trie_that_never_branches_equals_grpo():
    ids = np.array([[4, 5, 6]] * 3)
    args = dict(ids=ids, mask=np.ones_like(ids), rewards=[1.0, 0.0, 0.0], groups=[0, 0, 0])
    np.testing.assert_allclose(run("tempo", **args), run("grpo", **args), rtol=1e-6)


def test_step_trie_and_explicit_tree_are_used_when_given():
    by_steps = run("tempo", step_tokens=2, norm_by_std=False)
    # 2-token steps: [1 2] is shared by A, B, C; A's second step [3 4] differs from C's [3]
    assert by_steps[0, 2] == pytest.approx(0.5 + (1 - 2 / 3))
    nodes = np.array([[0, 0, 1, 1], [0, 0, 2, -1], [0, 0, 3, -1], [4, 4, -1, -1], [5, 5, 5, 5]])
    explicit = run("tempo", tree_nodes=nodes, norm_by_std=False)
    np.testing.assert_allclose(explicit[:, 2], [0.5 + 1 / 3, -0.5 - 2 / 3, 0.5 + 1 / 3, 0, 0], atol=1e-6)


def test_degenerate_cases():
    alone = degenerate_checks("tempo")
    assert (alone == 0).all()


def test_bad_options_name_the_argument():
    with pytest.raises(ValueError, match="^epsilon: "):
        run("tempo", epsilon=-1.0)
    with pytest.raises(ValueError, match="^step_tokens: "):
        run("tempo", delimiter=0, step_tokens=2)
    with pytest.raises(ValueError, match="^tree_nodes: "):
        run("tempo", tree_nodes=np.zeros((5, 4), int), step_tokens=2)
    with pytest.raises(ValueError, match="^tau: .*does not take"):
        run("tempo", tau=0.1)


def test_td_terms_sum_to_the_value_of_the_whole_response_which_is_its_reward_unless_another_continues_it():
    # was (docs/estimators.md): "the TD terms add up to r_i − μ_g", false when a response is a prefix of another
    from pathlib import Path

    ids = np.array([[1, 2, 0], [1, 2, 3], [4, 5, 0]])
    mask = np.array([[1, 1, 0], [1, 1, 1], [1, 1, 0]])
    rewards = np.array([0.0, 1.0, 1.0])
    mu = rewards.mean()
    adv = run("tempo", ids=ids, mask=mask, rewards=rewards, groups=[0, 0, 0], norm_by_std=False)
    td = adv.sum(axis=1) - (rewards - mu) * mask.sum(axis=1)
    # row 0 stops inside row 1: its whole text is shared, V([1 2]) = mean(0, 1); rows 1 and 2 end alone
    np.testing.assert_allclose(td, [0.5 - mu, 1.0 - mu, 1.0 - mu], atol=1e-6)
    assert td[0] != rewards[0] - mu
    doc = " ".join((Path(__file__).resolve().parents[2] / "docs" / "estimators.md").read_text().split())
    assert "TD terms add up to V(y_i) − μ_g" in doc and "TD terms add up to r_i − μ_g." not in doc


MASKED_IDS = np.array([[5, 9, 7, 1], [5, 9, 7, 2], [5, 9, 7, 1], [5, 9, 7, 2]])
MASKED_REWARDS = [1.0, 0.0, 1.0, 0.0]
OBSERVATION_MASKED = np.array([[1, 1, 0, 1]] * 4)  # token 7: an observation after the step end at column 1


@pytest.mark.parametrize("tree", [{"step_ends": np.array([[0, 1, 0, 1]] * 4)},
                                  {"tree_nodes": np.array([[0, 0, 1, 1], [0, 0, 2, 2]] * 2)}])
def test_a_node_that_begins_with_a_masked_token_keeps_its_td_term(tree):
    """review42 #1: the TD term of a node whose first token is masked went on that token and was multiplied by 0;
    it now sits on the node's first trained token, so the TD terms still add up to V(y_i) − μ_g."""
    from treecredit.reference.tree_estimators import tempo_reference
    adv = run("tempo", ids=MASKED_IDS, mask=OBSERVATION_MASKED, rewards=MASKED_REWARDS, groups=[0] * 4,
              norm_by_std=False, **tree)
    np.testing.assert_allclose(adv[:2], [[0.5, 0.5, 0.0, 1.0], [-0.5, -0.5, 0.0, -1.0]], atol=1e-6)
    outcome = np.array(MASKED_REWARDS)[:, None] - 0.5
    np.testing.assert_allclose(((adv - outcome) * OBSERVATION_MASKED).sum(axis=1), outcome[:, 0], atol=1e-6)
    ref_tree = {"step_ends": tree["step_ends"]} if "step_ends" in tree else tree
    np.testing.assert_allclose(adv, tempo_reference(MASKED_IDS, OBSERVATION_MASKED, MASKED_REWARDS, [0] * 4,
                                                    norm_by_std=False, **ref_tree), atol=1e-6)


def test_a_node_with_no_trained_token_drops_its_td_term():
    nodes = np.array([[0, 1, 2, 2], [0, 3, 4, 4]] * 2)  # nodes 1 and 3: one masked token each
    mask = np.array([[1, 0, 1, 1]] * 4)
    adv = run("tempo", ids=MASKED_IDS, mask=mask, rewards=MASKED_REWARDS, groups=[0] * 4, norm_by_std=False,
              tree_nodes=nodes)
    np.testing.assert_allclose(adv[:2], [[0.5, 0.0, 0.5, 0.5], [-0.5, 0.0, -0.5, -0.5]], atol=1e-6)
