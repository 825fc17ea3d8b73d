"""Completions whose reward failed (a reward function raised, or every one returned None) get no advantage.

The task marks them with a NaN reward. :func:`neutralise_failed_rewards` gives such a row the mean
reward of the valid rows of its group (0.0 when none is valid), so that it moves no baseline of the
others (the group mean is unchanged), and a row weight of 0, so that its own advantage is 0
(``sampling.rollout.weighted_advantages`` applies row weights). Tree estimators see the imputed value in
shared prefixes: the group mean, which again leaves sibling comparisons centred.
"""

from __future__ import annotations


def neutralise_failed_rewards(rollout) -> int:
    """Fix the NaN rewards of ``rollout`` in place as described above; returns how many rows failed."""
    import torch

    rewards = rollout.rewards
    failed = torch.isnan(rewards)
    n_failed = int(failed.sum())
    if n_failed == 0:
        return 0
    filled = rewards.clone()
    for group in torch.unique(rollout.group_ids[failed]).tolist():
        rows = rollout.group_ids == group
        valid = rows & ~failed
        filled[rows & failed] = float(rewards[valid].mean()) if bool(valid.any()) else 0.0
    weights = rollout.row_weights if rollout.row_weights is not None else torch.ones_like(rewards)
    rollout.row_weights = torch.where(failed, torch.zeros_like(weights), weights.to(rewards.dtype))
    rollout.rewards = filled
    return n_failed
