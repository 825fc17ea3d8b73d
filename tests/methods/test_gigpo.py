"""GiGPO: hand-computed anchor-state groups, reductions, reference agreement, invariances."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from treecredit import compute_turn_advantages
from treecredit.reference.turns import gigpo_reference, permute, random_episodes

DATA = dict(group_ids=[0] * 5, episode_ids=[0, 0, 1, 1, 2], turn_index=[0, 1, 0, 1, 0],
            state_sigs=["S", "M", "S", "M", "S"], action_sigs=["a", "b", "c", "d", "e"],
            rewards=[0.0, 1.0, 0.0, 0.0, 0.5])


def test_hand_computed_without_std():
    # γ = 0.5: R = 0.5, 1, 0, 0, 0.5. Episode returns 1, 0, 0.5 (μ = 0.5).
    # anchor S: returns 0.5, 0, 0.5 (mean 1/3); anchor M: 1, 0 (mean 1/2).
    adv = compute_turn_advantages("gigpo", gamma=0.5, norm_by_std=False, **DATA)
    episode = np.array([0.5, 0.5, -0.5, -0.5, 0.0])
    step = np.array([0.5 - 1 / 3, 0.5, -1 / 3, -0.5, 0.5 - 1 / 3])
    np.testing.assert_allclose(adv, episode + step, rtol=1e-6)


def test_hand_computed_with_std():
    adv = compute_turn_advantages("gigpo", gamma=0.5, omega=2.0, **DATA)
    sd_e, sd_s, sd_m = np.std([1, 0, 0.5], ddof=1), np.std([0.5, 0, 0.5], ddof=1), np.std([1, 0], ddof=1)
    episode = np.array([0.5, 0.5, -0.5, -0.5, 0.0]) / (sd_e + 1e-6)
    step = np.array([(0.5 - 1 / 3) / sd_s, 0.5 / sd_m, (-1 / 3) / sd_s, -0.5 / sd_m, (0.5 - 1 / 3) / sd_s])
    np.testing.assert_allclose(adv, episode + 2 * step, rtol=1e-5)


def test_reductions(rng):
    data = random_episodes(rng)
    grpo = compute_turn_advantages("grpo", **data)
    np.testing.assert_array_equal(compute_turn_advantages("gigpo", omega=0.0, **data), grpo)
    data["state_sigs"] = np.arange(len(data["rewards"]))  # every anchor state visited once: A^S = 0
    np.testing.assert_array_equal(compute_turn_advantages("gigpo", **data), grpo)


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("options", [{}, dict(gamma=1.0, omega=0.5, norm_by_std=False)])
def test_matches_reference(seed, options):
    data = random_episodes(np.random.default_rng(seed))
    ref = gigpo_reference(*[list(data[k]) for k in ["group_ids", "episode_ids", "turn_index", "state_sigs",
                                                     "rewards"]], **options)
    np.testing.assert_allclose(compute_turn_advantages("gigpo", **data, **options), ref, rtol=1e-5, atol=1e-5)


def test_degenerate_cases_exact_zero():
    assert (compute_turn_advantages("gigpo", **dict(DATA, rewards=[0.0] * 5)) == 0).all()
    assert (compute_turn_advantages("gigpo", **{k: v[:1] for k, v in DATA.items()}) == 0).all()
    out = compute_turn_advantages("gigpo", **{k: v[:2] for k, v in DATA.items()})  # one episode
    assert (out == 0).all() and not np.isnan(out).any()


def test_kappa_is_not_a_gigpo_option():
    with pytest.raises(ValueError, match="kappa: estimator 'gigpo' does not take"):
        compute_turn_advantages("gigpo", kappa=1.0, **DATA)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_permuting_turn_rows_permutes_output(seed):
    rng = np.random.default_rng(seed)
    data = random_episodes(rng)
    order = rng.permutation(len(data["rewards"]))
    np.testing.assert_allclose(compute_turn_advantages("gigpo", **permute(data, order)),
                               compute_turn_advantages("gigpo", **data)[order], rtol=1e-6, atol=1e-6)
