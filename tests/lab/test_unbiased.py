"""Sample means of unbiased estimates converge to the exact values.

Each test draws independent samples with a fixed seed and accepts |mean − exact| ≤ 5 standard errors,
the standard error computed from the sample variance (two-sided false-alarm rate ~6e-7 per comparison).
One sample per group keeps the samples independent.
"""

import numpy as np

import treecredit
from treecredit.lab.sampling import rollout_rewards, sample_forest
from treecredit.lab.state_graph import make_state_graph, sample_episodes
from treecredit.lab.tabular import make_tabular_mdp

K_SE = 5.0


def assert_mean_close(samples: np.ndarray, exact: float) -> None:
    samples = np.asarray(samples, dtype=np.float64)
    se = samples.std(ddof=1) / np.sqrt(samples.size)
    assert se > 0
    assert abs(samples.mean() - exact) <= K_SE * se, (samples.mean(), exact, se)


def small_mdp():
    """Decisive actions at depths 0 and 2, so the root token's A* is far from 0."""
    mdp = make_tabular_mdp(n_actions=3, depth=3, decisive="spread", success_rate=0.4, reward="binary", seed=3)
    assert np.abs(mdp.advantages[0]).min() > 0.1
    return mdp


def test_rollout_mean_is_the_exact_value():
    mdp = small_mdp()
    rng = np.random.default_rng(0)
    assert_mean_close(rollout_rewards(mdp, np.zeros(4000, dtype=np.int64), 0, rng), mdp.values[0][0])
    prefix = int(np.argmax(mdp.values[2] * (1 - mdp.values[2])))  # the depth-2 prefix with the most reward noise
    assert_mean_close(rollout_rewards(mdp, np.full(4000, prefix), 2, rng), mdp.values[2][prefix])


def first_token_advantages(name: str, mdp, group_size: int, n_groups: int, seed: int, **opts):
    """The advantage of the first response's first token in each i.i.d. group, and its action."""
    batch = sample_forest(mdp, np.random.default_rng(seed), n_groups=n_groups, branching=group_size,
                          branch_depths=[0])
    extra = {}
    if "mc_values" in opts:
        extra["mc_values"], extra["prompt_values"] = batch.sampled_mc_values(opts.pop("mc_values"),
                                                                             np.random.default_rng(seed + 1))
        extra["step_ends"] = batch.step_ends
    adv = np.asarray(treecredit.compute_advantages(name, **batch.estimator_inputs(), **extra, **opts))
    first = np.arange(n_groups) * group_size
    return adv[first, 0].astype(np.float64), batch.actions[first, 0]


def test_rloo_root_advantage_is_unbiased_for_a_star():
    # E[r_i − mean_{j≠i} r_j | a_i,0 = a] = Q*(root, a) − V*(root) = A*(root, a): the others are independent of i.
    mdp = small_mdp()
    adv, first_action = first_token_advantages("rloo", mdp, group_size=4, n_groups=6000, seed=1)
    for a in range(mdp.n_actions):
        assert_mean_close(adv[first_action == a], mdp.advantages[0][0, a])


def test_dr_grpo_root_advantage_is_shrunk_by_one_minus_one_over_g():
    # r_i − mean_j r_j = (1 − 1/G)(r_i − mean_{j≠i} r_j), so its mean is (1 − 1/G) A*(root, a).
    mdp, G = small_mdp(), 4
    adv, first_action = first_token_advantages("dr_grpo", mdp, group_size=G, n_groups=6000, seed=2)
    for a in range(mdp.n_actions):
        assert_mean_close(adv[first_action == a], (1 - 1 / G) * mdp.advantages[0][0, a])


def test_dr_grpo_shrinkage_is_detected():
    # The test above has power: against the unshrunk A*, the shrunk mean fails by far more than 5 SE.
    mdp, G = small_mdp(), 2
    adv, first_action = first_token_advantages("dr_grpo", mdp, group_size=G, n_groups=6000, seed=2)
    a = int(np.argmax(np.abs(mdp.advantages[0][0])))
    sel = adv[first_action == a]
    se = sel.std(ddof=1) / np.sqrt(sel.size)
    assert abs(sel.mean() - mdp.advantages[0][0, a]) > K_SE * se


def test_vine_with_sampled_values_is_unbiased_at_the_root():
    # V̂(root·a) − V̂(root) with independent fresh rollouts: mean Q*(root, a) − V*(root).
    mdp = small_mdp()
    adv, first_action = first_token_advantages("vine", mdp, group_size=2, n_groups=5000, seed=3, mc_values=4)
    for a in range(mdp.n_actions):
        assert_mean_close(adv[first_action == a], mdp.advantages[0][0, a])


def test_turn_level_rloo_first_turn_is_unbiased():
    env = make_state_graph(seed=0)
    G, n_groups = 4, 6000
    sample = sample_episodes(env, np.random.default_rng(4), n_groups=n_groups, group_size=G)
    adv = np.asarray(treecredit.compute_turn_advantages("rloo", **sample.estimator_inputs(env)), dtype=np.float64)
    first = (sample.turn == 0) & (sample.episode % G == 0)
    for a in range(env.n_actions):
        sel = first & (sample.action == a)
        assert_mean_close(adv[sel], env.advantages[0, 0, a])


def test_episode_success_rate_matches_exact():
    env = make_state_graph(seed=1)
    sample = sample_episodes(env, np.random.default_rng(5), n_groups=1000, group_size=4)
    per_episode = np.bincount(sample.episode, weights=sample.reward, minlength=4000)
    assert_mean_close(per_episode, env.success_rate)
