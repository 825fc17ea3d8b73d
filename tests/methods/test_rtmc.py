"""RTMC: hand-computed graph credit, reductions to turn-level GRPO, reference agreement, invariances."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from treecredit import compute_turn_advantages
from treecredit.reference.turns import permute, random_episodes, rtmc_reference

# One group. Episodes 0 and 1 start in S and take a, b; episode 2 starts in S, takes a; all of them
# then pass through M (reached from different paths). Terminal rewards 1, 0, 0.
DATA = dict(group_ids=[0] * 6, episode_ids=[0, 0, 1, 1, 2, 2], turn_index=[0, 1, 0, 1, 0, 1],
            state_sigs=["S", "M", "S", "M", "S", "M"], action_sigs=["a", "m", "b", "m", "a", "n"],
            rewards=[0.0, 1.0, 0.0, 0.0, 0.0, 0.0])


def test_hand_computed():
    # R = 1, 1, 0, 0, 0, 0. V̂(S) = V̂(M) = 1/3. Q̂(S,a) = 1/2 (n=2), Q̂(S,b) = 0 (n=1),
    # Q̂(M,m) = 1/2 (n=2), Q̂(M,n) = 0 (n=1). κ = 1: Â = n/(n+1)(Q̂ − V̂).
    adv = compute_turn_advantages("rtmc", norm_by_std=False, **DATA)
    episode = np.array([2, 2, -1, -1, -1, -1]) / 3
    step = np.array([2 / 3 * (1 / 6), 2 / 3 * (1 / 6), 1 / 2 * (-1 / 3),
                     2 / 3 * (1 / 6), 2 / 3 * (1 / 6), 1 / 2 * (-1 / 3)])
    np.testing.assert_allclose(adv, episode + step, rtol=1e-6)
    no_smoothing = compute_turn_advantages("rtmc", norm_by_std=False, kappa=0.0, omega=2.0, **DATA)
    np.testing.assert_allclose(no_smoothing, episode + 2 * np.array([1, 1, -2, 1, 1, -2]) / 6, rtol=1e-6, atol=1e-7)


def test_every_state_visited_once_equals_grpo(rng):
    data = random_episodes(rng, n_groups=4, episodes=5)
    data["state_sigs"] = np.arange(len(data["rewards"]))  # all distinct
    for options in [dict(omega=1.0), dict(omega=3.0, kappa=0.0, gamma=0.9)]:
        np.testing.assert_array_equal(compute_turn_advantages("rtmc", **data, **options),
                                      compute_turn_advantages("grpo", **data))


def test_omega_zero_equals_grpo(rng):
    data = random_episodes(rng)
    np.testing.assert_array_equal(compute_turn_advantages("rtmc", omega=0.0, **data),
                                  compute_turn_advantages("grpo", **data))


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("options", [{}, dict(gamma=0.8, kappa=0.5, omega=0.7, norm_by_std=False)])
def test_matches_reference(seed, options):
    data = random_episodes(np.random.default_rng(seed))
    ref = rtmc_reference(*[list(data[k]) for k in ["group_ids", "episode_ids", "turn_index", "state_sigs",
                                                    "action_sigs", "rewards"]], **options)
    np.testing.assert_allclose(compute_turn_advantages("rtmc", **data, **options), ref, rtol=1e-5, atol=1e-5)


def test_degenerate_cases_exact_zero():
    zero = dict(DATA, rewards=[0.0] * 6)
    assert (compute_turn_advantages("rtmc", gamma=0.5, **zero) == 0).all()
    equal_terminal = dict(DATA, rewards=[0.0, 0.3, 0.0, 0.3, 0.0, 0.3])  # γ = 1: every R_k = 0.3
    out = compute_turn_advantages("rtmc", **equal_terminal)
    assert (out == 0).all() and not np.isnan(out).any()
    one_episode = {k: v[:2] for k, v in DATA.items()}
    assert (compute_turn_advantages("rtmc", **one_episode) == 0).all()
    one_turn = {k: v[:1] for k, v in DATA.items()}
    assert (compute_turn_advantages("rtmc", **one_turn) == 0).all()


@pytest.mark.parametrize("option, match", [(dict(kappa=-1.0), "kappa:"), (dict(omega=np.inf), "omega:"),
                                           (dict(gamma=-0.1), "gamma:"), (dict(epsilon=-1.0), "epsilon:"),
                                           (dict(tau=0.1), "tau: estimator 'rtmc' does not take")])
def test_bad_options(option, match):
    with pytest.raises(ValueError, match=match):
        compute_turn_advantages("rtmc", **DATA, **option)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000))
def test_permuting_turn_rows_and_renaming_episodes_permutes_output(seed):
    rng = np.random.default_rng(seed)
    data = random_episodes(rng)
    base = compute_turn_advantages("rtmc", gamma=0.9, **data)
    order = rng.permutation(len(data["rewards"]))
    moved = permute(data, order)
    moved["episode_ids"] = 1000 - moved["episode_ids"]
    np.testing.assert_allclose(compute_turn_advantages("rtmc", gamma=0.9, **moved), base[order], rtol=1e-6, atol=1e-7)


def test_forest_equals_groups_one_by_one(rng):
    data = random_episodes(rng, n_groups=4)
    together = compute_turn_advantages("rtmc", **data)
    for g in np.unique(data["group_ids"]):
        rows = data["group_ids"] == g
        np.testing.assert_allclose(compute_turn_advantages("rtmc", **permute(data, rows)), together[rows], rtol=1e-6)
