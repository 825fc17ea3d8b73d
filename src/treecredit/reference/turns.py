"""Reference turn-level estimators: dictionaries and per-turn Python loops (slow and obvious; test oracles).

Each takes plain per-turn lists (group, episode, turn index, state, action, reward) and returns one
advantage per turn, in input order. ``random_episodes`` builds test data whose paths meet in shared states.
"""

from __future__ import annotations

import math

import numpy as np


def _returns(episodes, turns, rewards, gamma):
    """R_k per input row: walk each episode backwards."""
    rows_of: dict = {}
    for row, (e, k) in enumerate(zip(episodes, turns)):
        rows_of.setdefault(e, {})[k] = row
    out = [0.0] * len(rewards)
    for by_turn in rows_of.values():
        later = 0.0
        for k in sorted(by_turn, reverse=True):
            later = rewards[by_turn[k]] + gamma * later
            out[by_turn[k]] = later
    return out


def _mean(xs):
    return sum(xs) / len(xs)


def _std(xs):
    if len(xs) < 2:
        return 0.0
    mu = _mean(xs)
    return math.sqrt(sum((x - mu) ** 2 for x in xs) / (len(xs) - 1))


def episode_grpo_reference(groups, episodes, rewards, *, norm_by_std=True, epsilon=1e-6):
    """Turn-level grpo: (R_i − μ_g)/(σ_g + ε) with R_i the plain sum of episode i's turn rewards."""
    total: dict = {}
    group_of: dict = {}
    for g, e, r in zip(groups, episodes, rewards):
        total[e] = total.get(e, 0.0) + r
        group_of[e] = g
    adv_of: dict = {}
    for g in set(group_of.values()):
        eps = [e for e in total if group_of[e] == g]
        values = [total[e] for e in eps]
        mu = _mean(values)
        for e in eps:
            a = 0.0 if max(values) == min(values) else total[e] - mu
            adv_of[e] = a / (_std(values) + epsilon) if norm_by_std else a
    return [adv_of[e] for e in episodes]


def rtmc_reference(groups, episodes, turns, states, actions, rewards, *, gamma=1.0, kappa=1.0, omega=1.0,
                   norm_by_std=True, epsilon=1e-6):
    """A = A^E + ω · n/(n + κ) · (Q̂(σ, α) − V̂(σ)), Q̂ and V̂ plain means of R_k within the group."""
    R = _returns(episodes, turns, rewards, gamma)
    base = episode_grpo_reference(groups, episodes, rewards, norm_by_std=norm_by_std, epsilon=epsilon)
    out = []
    for row in range(len(R)):
        at_state = [R[j] for j in range(len(R)) if groups[j] == groups[row] and states[j] == states[row]]
        taken = [R[j] for j in range(len(R)) if groups[j] == groups[row] and states[j] == states[row]
                 and actions[j] == actions[row]]
        diff = 0.0 if max(at_state) == min(at_state) else _mean(taken) - _mean(at_state)
        out.append(base[row] + omega * len(taken) / (len(taken) + kappa) * diff)
    return out


def gigpo_reference(groups, episodes, turns, states, rewards, *, gamma=0.95, omega=1.0, norm_by_std=True,
                    epsilon=1e-6):
    """A = A^E + ω (R^γ_k − mean R^γ over the anchor state's turns) / F."""
    R = _returns(episodes, turns, rewards, gamma)
    base = episode_grpo_reference(groups, episodes, rewards, norm_by_std=norm_by_std, epsilon=epsilon)
    out = []
    for row in range(len(R)):
        anchor = [R[j] for j in range(len(R)) if groups[j] == groups[row] and states[j] == states[row]]
        step = 0.0 if max(anchor) == min(anchor) else R[row] - _mean(anchor)
        if norm_by_std:
            step /= _std(anchor) + epsilon
        out.append(base[row] + omega * step)
    return out

def random_episodes(rng, *, n_groups=3, episodes=4, max_turns=4, n_states=4, n_actions=3, terminal_only=False,
                    shuffle=True) -> dict:
    """Per-turn lists for ``compute_turn_advantages``; few states, so paths meet and states repeat."""
    rows = []
    episode_id = 0
    for g in range(n_groups):
        for _ in range(int(rng.integers(1, episodes + 1))):
            k = int(rng.integers(1, max_turns + 1))
            for t in range(k):
                reward = float(rng.integers(0, 3)) / 2 if (not terminal_only or t == k - 1) else 0.0
                rows.append((g, episode_id, t, int(rng.integers(0, n_states)), int(rng.integers(0, n_actions)), reward))
            episode_id += 1
    if shuffle:
        rows = [rows[i] for i in rng.permutation(len(rows))]
    cols = list(zip(*rows))
    keys = ["group_ids", "episode_ids", "turn_index", "state_sigs", "action_sigs", "rewards"]
    return {key: np.array(col) for key, col in zip(keys, cols)}


def permute(data: dict, order) -> dict:
    return {key: value[order] for key, value in data.items()}
