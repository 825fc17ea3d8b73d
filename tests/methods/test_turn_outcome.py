"""Turn-level outcome baselines: the episode's outcome (plain sum of its turn rewards) on every turn."""

import numpy as np
import pytest

from treecredit import compute_turn_advantages
from treecredit.reference.turns import episode_grpo_reference, random_episodes

# group 0: episode 0 (rewards 0, 1 → R = 1), episode 1 (rewards 0, 0, 0 → R = 0), episode 2 (R = 2)
DATA = dict(group_ids=[0, 0, 0, 0, 0, 0, 0], episode_ids=[0, 0, 1, 1, 1, 2, 2], turn_index=[0, 1, 0, 1, 2, 0, 1],
            state_sigs=[0, 1, 0, 2, 3, 0, 1], action_sigs=[0, 0, 1, 1, 1, 0, 0],
            rewards=[0.0, 1.0, 0.0, 0.0, 0.0, 1.0, 1.0])


def test_grpo_hand_computed():
    adv = compute_turn_advantages("grpo", **DATA)
    sd = np.std([1, 0, 2], ddof=1)
    expected = np.array([0, 0, -1, -1, -1, 1, 1]) / (sd + 1e-6)
    np.testing.assert_allclose(adv, expected, rtol=1e-6)
    assert adv.dtype == np.float32


def test_dr_grpo_and_rloo_hand_computed():
    np.testing.assert_allclose(compute_turn_advantages("dr_grpo", **DATA), [0, 0, -1, -1, -1, 1, 1])
    np.testing.assert_allclose(compute_turn_advantages("grpo", norm_by_std=False, **DATA), [0, 0, -1, -1, -1, 1, 1])
    # rloo: R − mean of the others: 1 − 1, 0 − 1.5, 2 − 0.5
    np.testing.assert_allclose(compute_turn_advantages("rloo", **DATA), [0, 0, -1.5, -1.5, -1.5, 1.5, 1.5])


@pytest.mark.parametrize("name", ["grpo", "dr_grpo", "rloo"])
def test_degenerate_cases_are_exact_zero(name):
    # equal episode returns (0.1 + 0.2 vs 0.3 in another order is not equal in floats; use exact sums)
    equal = dict(DATA, rewards=[0.5, 0.5, 1.0, 0.0, 0.0, 0.25, 0.75])
    assert (compute_turn_advantages(name, **equal) == 0).all()
    one = {k: v[:2] for k, v in DATA.items()}  # one episode
    assert (compute_turn_advantages(name, **one) == 0).all()
    single_turn = {k: [v[0]] for k, v in DATA.items()}
    assert (compute_turn_advantages(name, **single_turn) == 0).all()


def test_grpo_matches_reference_on_random_episodes(rng):
    for _ in range(20):
        data = random_episodes(rng)
        ref = episode_grpo_reference(list(data["group_ids"]), list(data["episode_ids"]), list(data["rewards"]))
        np.testing.assert_allclose(compute_turn_advantages("grpo", **data), ref, rtol=1e-5, atol=1e-6)
