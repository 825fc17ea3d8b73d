"""An exact multi-turn environment whose states recur across episodes, for turn-level estimators.

S states (state S−1 is the absorbing goal), A actions, horizon H turns. Turn k in state s takes action
a ~ π(·|s) = softmax(θ_s) and moves to s' ~ P(·|s, a); reaching the goal ends the episode with reward 1
on that turn; otherwise the episode ends after H turns with reward 0. Values are exact, by backward
induction over the turn index (γ = 1)::

    V_H(s) = 0,  Q_k(s, a) = Σ_s' P(s'|s, a) [1(s' = goal) + 1(s' ≠ goal) V_{k+1}(s')],
    V_k(s) = Σ_a π(a|s) Q_k(s, a),  A*_k(s, a) = Q_k(s, a) − V_k(s)

and with the occupancy ρ_k(s) (probability of being in non-goal s at turn k), the exact gradient of
J = V_0(s_0) for the stationary softmax policy is ∂J/∂θ_{s,b} = Σ_k ρ_k(s) π(b|s) A*_k(s, b).

Sampled episodes become the arrays of ``compute_turn_advantages``. The state signature is
``k·S + s`` (``signature="state+turn"``: the exact Markov state, so equal signatures have equal
values) or ``s`` (``signature="state"``: states reached at different turns collide).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from treecredit._validation import check_choice, fail
from treecredit.lab.measure import GradientTerms
from treecredit.lab.sampling import sample_actions
from treecredit.lab.tabular import softmax

SIGNATURES = ("state+turn", "state")


@dataclass(frozen=True)
class StateGraph:
    """Transitions ``P (S−1, A, S)``, policy logits ``(S−1, A)``, horizon and start state 0."""

    transitions: np.ndarray
    logits: np.ndarray
    horizon: int
    description: str = ""

    @property
    def n_states(self) -> int:
        return int(self.transitions.shape[2])

    @property
    def n_actions(self) -> int:
        return int(self.transitions.shape[1])

    @property
    def goal(self) -> int:
        return self.n_states - 1

    @cached_property
    def policy(self) -> np.ndarray:
        return softmax(self.logits)

    @cached_property
    def q_values(self) -> np.ndarray:
        """``(H, S−1, A)`` exact Q_k(s, a)."""
        H, S = self.horizon, self.n_states
        q = np.zeros((H, S - 1, self.n_actions))
        v_next = np.zeros(S - 1)
        for k in range(H - 1, -1, -1):
            q[k] = self.transitions[:, :, self.goal] + self.transitions[:, :, : S - 1] @ v_next
            v_next = (self.policy * q[k]).sum(axis=1)
        return q

    @cached_property
    def values(self) -> np.ndarray:
        """``(H, S−1)`` exact V_k(s)."""
        return (self.policy[None] * self.q_values).sum(axis=2)

    @cached_property
    def advantages(self) -> np.ndarray:
        """``(H, S−1, A)`` A*_k(s, a)."""
        return self.q_values - self.values[:, :, None]

    @cached_property
    def occupancy(self) -> np.ndarray:
        """``(H, S−1)`` ρ_k(s): probability of being in non-goal state s at turn k."""
        S = self.n_states
        occ = np.zeros((self.horizon, S - 1))
        occ[0, 0] = 1.0
        step = np.einsum("sa,sat->st", self.policy, self.transitions[:, :, : S - 1])
        for k in range(1, self.horizon):
            occ[k] = occ[k - 1] @ step
        return occ

    @cached_property
    def true_gradient(self) -> np.ndarray:
        """``((S−1)·A,)`` the exact policy gradient of the success probability."""
        return (self.occupancy[:, :, None] * self.policy[None] * self.advantages).sum(axis=0).reshape(-1)

    @property
    def success_rate(self) -> float:
        return float(self.values[0, 0])

    @property
    def n_nodes(self) -> int:
        return self.horizon * (self.n_states - 1) * self.n_actions


def make_state_graph(*, n_states: int = 6, n_actions: int = 3, horizon: int = 5, concentration: float = 0.3,
                     goal_bias: float = 0.15, policy_scale: float = 1.0, seed: int = 0) -> StateGraph:
    """A random graph: P(·|s, a) ~ Dirichlet(concentration) mixed with ``goal_bias`` mass on the goal
    for one good action per state (so actions matter), logits ~ N(0, policy_scale²)."""
    if n_states < 2 or n_actions < 2 or horizon < 1:
        fail("n_states", "need at least 2 states, 2 actions and 1 turn", "pass larger sizes")
    rng = np.random.default_rng(seed)
    P = rng.dirichlet(np.full(n_states, concentration), size=(n_states - 1, n_actions))
    P[:, :, -1] *= 0.2
    good = rng.integers(0, n_actions, size=n_states - 1)
    P[np.arange(n_states - 1), good, -1] += goal_bias
    P /= P.sum(axis=2, keepdims=True)
    logits = policy_scale * rng.standard_normal((n_states - 1, n_actions))
    label = f"state graph S={n_states} A={n_actions} H={horizon}"
    return StateGraph(P, logits, horizon, label)


@dataclass(frozen=True)
class TurnSample:
    """Sampled turns, sorted by episode then turn; ``episode`` ids unique, groups contiguous."""

    group: np.ndarray
    episode: np.ndarray
    turn: np.ndarray
    state: np.ndarray
    action: np.ndarray
    reward: np.ndarray
    n_groups: int
    group_size: int

    def estimator_inputs(self, env: StateGraph, signature: str = "state+turn") -> dict:
        check_choice(signature, SIGNATURES, "signature")
        sig = self.turn * env.n_states + self.state if signature == "state+turn" else self.state
        return dict(group_ids=self.group, episode_ids=self.episode, turn_index=self.turn, state_sigs=sig,
                    action_sigs=self.action, rewards=self.reward)

    def targets(self, env: StateGraph) -> np.ndarray:
        return env.advantages[self.turn, self.state, self.action]

    def node_keys(self, env: StateGraph) -> np.ndarray:
        return (self.turn * (env.n_states - 1) + self.state) * env.n_actions + self.action

    def gradient_terms(self, env: StateGraph) -> GradientTerms:
        A = env.n_actions
        index = self.state[:, None] * A + np.arange(A)[None, :]
        score = (self.action[:, None] == np.arange(A)[None, :]) - env.policy[self.state]
        return GradientTerms(index, score, self.group, env.true_gradient, self.group_size)


def sample_episodes(env: StateGraph, rng: np.random.Generator, *, n_groups: int, group_size: int) -> TurnSample:
    """``n_groups`` groups of ``group_size`` i.i.d. episodes from state 0."""
    E = n_groups * group_size
    state = np.zeros(E, dtype=np.int64)
    alive = np.ones(E, dtype=bool)
    cols = {key: [] for key in ("episode", "turn", "state", "action", "reward")}
    for k in range(env.horizon):
        ep = np.flatnonzero(alive)
        if ep.size == 0:
            break
        s = state[ep]
        a = sample_actions(env.policy[s], rng)
        nxt = sample_actions(env.transitions[s, a], rng)
        done = nxt == env.goal
        for key, val in zip(cols, (ep, np.full(ep.size, k), s, a, done.astype(np.float64))):
            cols[key].append(val)
        state[ep] = nxt
        alive[ep[done]] = False
    flat = {key: np.concatenate(v) for key, v in cols.items()}
    order = np.lexsort((flat["turn"], flat["episode"]))
    flat = {key: v[order] for key, v in flat.items()}
    group = flat["episode"] // group_size
    return TurnSample(group, flat["episode"], flat["turn"].astype(np.int64), flat["state"], flat["action"],
                      flat["reward"], n_groups, group_size)
