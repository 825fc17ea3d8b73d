"""The credit lab: exact values on hand-solvable environments, unbiasedness with variance-derived
tolerances, and the CLI end to end at tiny size."""

import numpy as np
import pytest

from treecredit.cli import main
from treecredit.lab.measure import group_gradients, grouped_spearman
from treecredit.lab.runner import token_gradient_terms
from treecredit.lab.sampling import sample_forest
from treecredit.lab.state_graph import make_state_graph
from treecredit.lab.tabular import TabularMDP, make_tabular_mdp


def two_by_two():
    # depth 2, two tokens; π(0|root)=0.25, π(0|0)=0.5, π(0|1)=0.8; rewards r(00)=1, r(01)=0, r(10)=0, r(11)=1
    logits = (np.log([[0.25, 0.75]]), np.log([[0.5, 0.5], [0.8, 0.2]]))
    return TabularMDP(logits, np.array([1.0, 0.0, 0.0, 1.0]), np.arange(2)[:, None])


def test_hand_solved_values_and_advantages():
    m = two_by_two()
    np.testing.assert_allclose(m.values[1], [0.5, 0.2])
    np.testing.assert_allclose(m.values[0], [0.25 * 0.5 + 0.75 * 0.2])  # 0.275
    np.testing.assert_allclose(m.advantages[0], [[0.5 - 0.275, 0.2 - 0.275]])
    np.testing.assert_allclose(m.advantages[1], [[0.5, -0.5], [-0.2, 0.8]])


def test_true_gradient_matches_finite_differences():
    m = make_tabular_mdp(n_actions=2, depth=3, reward="graded", seed=3)
    flat = np.concatenate([lg.reshape(-1) for lg in m.logits])
    h, grad = 1e-6, np.zeros(flat.size)
    for k in range(flat.size):
        for sign in (1, -1):
            f = flat.copy()
            f[k] += sign * h
            parts, off = [], 0
            for lg in m.logits:
                parts.append(f[off: off + lg.size].reshape(lg.shape))
                off += lg.size
            grad[k] += sign * TabularMDP(tuple(parts), m.rewards, m.action_tokens).success_rate / (2 * h)
    np.testing.assert_allclose(m.true_gradient, grad, atol=1e-6)


def test_binary_success_rate_is_exact_and_bad_args_say_fix():
    assert make_tabular_mdp(success_rate=0.2, seed=5).success_rate == pytest.approx(0.2)
    with pytest.raises(ValueError, match="success_rate:.*Fix:"):
        make_tabular_mdp(success_rate=1.5)


def test_tree_segments_are_shared_and_paths_marginally_on_policy():
    m = two_by_two()
    b = sample_forest(m, np.random.default_rng(0), n_groups=20000, branching=2, branch_depths=[0, 1])
    # equal node ids carry equal tokens at equal positions
    for t in range(2):
        ids, toks = b.tree_nodes[:, t], b.response_ids[:, t]
        assert all(len(set(toks[ids == i])) == 1 for i in np.unique(ids)[:200])
    leaf = b.prefixes[:, -1] * 2 + b.actions[:, -1]
    freq = np.bincount(leaf, minlength=4) / leaf.size
    # rows of a tree are correlated: 5 standard errors with the design effect of B=2 siblings (≤ 2)
    se = np.sqrt(2 * m.reach[2] * (1 - m.reach[2]) / leaf.size)
    assert np.all(np.abs(freq - m.reach[2]) < 5 * se)


@pytest.mark.parametrize("branching, depths", [(8, [0]), (2, [0, 3])])
def test_oracle_gradient_is_unbiased_on_groups_and_trees(branching, depths):
    m = make_tabular_mdp(n_actions=2, depth=4, seed=2)
    b = sample_forest(m, np.random.default_rng(1), n_groups=4000, branching=branching, branch_depths=depths)
    g = group_gradients(token_gradient_terms(b), b.target_per_action.reshape(-1), b.n_groups)
    mean, se = g.mean(axis=0), g.std(axis=0, ddof=1) / np.sqrt(b.n_groups)
    ok = se > 0
    assert np.all(np.abs(mean[ok] - m.true_gradient[ok]) < 5 * se[ok] + 1e-12)


def test_rloo_first_token_mean_is_exact_advantage():
    """E[r_i − mean of the others | a_0] = Q*(root, a_0) − V*(root) = A*(root, a_0): unbiased."""
    import treecredit

    m = make_tabular_mdp(n_actions=3, depth=3, seed=4, success_rate=0.4)
    b = sample_forest(m, np.random.default_rng(2), n_groups=3000, branching=8, branch_depths=[0])
    adv = np.asarray(treecredit.compute_advantages("rloo", **b.estimator_inputs()))[:, 0]
    for a in range(3):
        x = adv[b.actions[:, 0] == a]
        se = x.std(ddof=1) / np.sqrt(x.size) * np.sqrt(2)  # rows of a group are correlated: design effect ≤ 2
        assert abs(x.mean() - m.advantages[0][0, a]) < 5 * se


def test_state_graph_values_and_gradient():
    env = make_state_graph(n_states=4, n_actions=2, horizon=3, seed=1)
    # Bellman consistency at the last turn: Q_{H-1}(s, a) = P(goal | s, a)
    np.testing.assert_allclose(env.q_values[-1], env.transitions[:, :, -1])
    h = 1e-6
    grad = np.zeros(env.logits.size)
    for k in range(env.logits.size):
        for sign in (1, -1):
            lg = env.logits.copy().reshape(-1)
            lg[k] += sign * h
            other = type(env)(env.transitions, lg.reshape(env.logits.shape), env.horizon)
            grad[k] += sign * other.success_rate / (2 * h)
    np.testing.assert_allclose(env.true_gradient, grad, atol=1e-6)


def test_spearman_with_ties():
    rho, ok = grouped_spearman(np.array([1.0, 1, 2, 5, 5, 5]), np.array([1.0, 2, 3, 1, 2, 3]),
                               np.array([0, 0, 0, 1, 1, 1]), 2)
    assert ok.all() and rho[0] == pytest.approx(np.sqrt(3) / 2) and rho[1] == 0.0


def test_cli_end_to_end_tiny(tmp_path):
    out = tmp_path / "lab"
    assert main(["lab", "--size", "tiny", "--sweeps", "headline", "branching", "turns", "--out", str(out),
                 "--no-progress"]) == 0
    for name in ("report.md", "results.json", "results.csv", "claims.json", "branching.png"):
        assert (out / name).exists()
    assert "Headline" in (out / "report.md").read_text()
