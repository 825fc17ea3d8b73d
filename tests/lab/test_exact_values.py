"""Exact values of the lab environments, checked against hand-solved cases."""

import numpy as np
import pytest

from treecredit.lab.state_graph import StateGraph
from treecredit.lab.tabular import TabularMDP, make_tabular_mdp


def hand_mdp() -> TabularMDP:
    """Depth 2, two actions: π(root) = (1/4, 3/4); π(·|0) = (1/2, 1/2); π(·|1) = (1/5, 4/5); r = (1, 0, 0, 1)."""
    logits = (np.log([[1.0, 3.0]]), np.log([[1.0, 1.0], [1.0, 4.0]]))
    return TabularMDP(logits, np.array([1.0, 0.0, 0.0, 1.0]), np.arange(2)[:, None])


def test_hand_token_mdp_values_and_advantages():
    mdp = hand_mdp()
    # V*(0) = 1/2, V*(1) = 4/5, V*(root) = 1/4 · 1/2 + 3/4 · 4/5 = 0.725
    np.testing.assert_allclose(mdp.values[1], [0.5, 0.8])
    np.testing.assert_allclose(mdp.values[0], [0.725])
    np.testing.assert_allclose(mdp.advantages[0], [[0.5 - 0.725, 0.8 - 0.725]])
    np.testing.assert_allclose(mdp.advantages[1], [[0.5, -0.5], [-0.8, 0.2]])
    np.testing.assert_allclose(mdp.reach[2], [0.125, 0.125, 0.15, 0.6])
    assert mdp.success_rate == pytest.approx(0.725)
    assert mdp.reward_variance == pytest.approx(0.725 * 0.275)


def test_hand_token_mdp_true_gradient():
    # ∂J/∂θ_{p,b} = P(p) π(b|p) A*(p, b)
    expected = [0.25 * -0.225, 0.75 * 0.075, 0.25 * 0.5 * 0.5, 0.25 * 0.5 * -0.5,
                0.75 * 0.2 * -0.8, 0.75 * 0.8 * 0.2]
    np.testing.assert_allclose(hand_mdp().true_gradient, expected)


def _finite_difference(make, theta: np.ndarray, value) -> np.ndarray:
    grad = np.zeros_like(theta)
    for i in range(theta.size):
        step = np.zeros_like(theta)
        step[i] = 1e-6
        grad[i] = (value(make(theta + step)) - value(make(theta - step))) / 2e-6
    return grad


def test_random_mdp_gradient_matches_finite_differences():
    mdp = make_tabular_mdp(n_actions=3, depth=3, entropy="peaked_late", reward="noisy", seed=4)
    sizes = [lg.size for lg in mdp.logits]
    shapes = [lg.shape for lg in mdp.logits]

    def make(theta):
        parts = np.split(theta, np.cumsum(sizes)[:-1])
        return TabularMDP(tuple(p.reshape(s) for p, s in zip(parts, shapes)), mdp.rewards, mdp.action_tokens)

    theta = np.concatenate([lg.reshape(-1) for lg in mdp.logits])
    fd = _finite_difference(make, theta, lambda m: m.success_rate)
    np.testing.assert_allclose(mdp.true_gradient, fd, atol=1e-7)


def test_controlled_success_rate_and_step_mdp():
    for reward in ("binary", "graded"):
        mdp = make_tabular_mdp(depth=5, success_rate=0.2, reward=reward, seed=2)
        if reward == "binary":
            assert mdp.success_rate == pytest.approx(0.2)
        for d in range(mdp.depth):  # Σ_a π(a|p) A*(p, a) = 0 at every prefix
            np.testing.assert_allclose((mdp.probs[d] * mdp.advantages[d]).sum(axis=1), 0.0, atol=1e-12)
    step = make_tabular_mdp(depth=3, step_len=3, token_vocab=4, seed=1)
    assert step.action_tokens.shape == (3, 3)
    assert len({tuple(r) for r in step.action_tokens}) == 3
    assert (step.action_tokens[:, -1] == 4).all()  # the delimiter ends every step


def hand_graph(logits=(0.0, 0.0)) -> StateGraph:
    """One live state and the goal; a0 reaches the goal w.p. 1/2, a1 w.p. 1/10; π = (1/2, 1/2); H = 2."""
    P = np.array([[[0.5, 0.5], [0.9, 0.1]]])
    return StateGraph(P, np.array([logits], dtype=np.float64), horizon=2)


def test_hand_state_graph_values():
    env = hand_graph()
    # Q_1 = (0.5, 0.1), V_1 = 0.3; Q_0 = (0.5 + 0.5·0.3, 0.1 + 0.9·0.3) = (0.65, 0.37), V_0 = 0.51
    np.testing.assert_allclose(env.q_values[:, 0], [[0.65, 0.37], [0.5, 0.1]])
    np.testing.assert_allclose(env.values[:, 0], [0.51, 0.3])
    np.testing.assert_allclose(env.advantages[:, 0], [[0.14, -0.14], [0.2, -0.2]])
    np.testing.assert_allclose(env.occupancy[:, 0], [1.0, 0.7])
    assert env.success_rate == pytest.approx(0.51)
    # ∂J/∂θ_b = Σ_k ρ_k π(b) A*_k(b) = 0.5 · 0.14 + 0.7 · 0.5 · 0.2 = 0.14
    np.testing.assert_allclose(env.true_gradient, [0.14, -0.14])
    fd = _finite_difference(lambda th: hand_graph(tuple(th)), np.zeros(2), lambda e: e.success_rate)
    np.testing.assert_allclose(env.true_gradient, fd, atol=1e-7)
