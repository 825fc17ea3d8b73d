"""Random multi-turn episodes for the turn-level estimator tests (states shared across paths on purpose)."""

import numpy as np


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
