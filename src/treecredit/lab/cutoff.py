"""Early cutoff in the lab: stop generating a branch once a step is judged wrong, and what it costs.

A partial verifier cuts a response after action d; the actions after it are never generated (their
tokens are masked out and count as saved), and the response gets the verifier's value instead of a leaf
reward. Two verifiers, as in the trainer's ``cutoff`` option:

- ``sound``: cut where every completion of the prefix earns the same reward (in the binary MDPs: after a
  wrong decisive action, all completions earn 0), and give that reward. The value is exact, so the
  advantages keep their expectation; the saved tokens are pure gain.
- ``any``: cut after the first wrong decisive action whatever the reward kind, and give 0. Where a wrong
  step is not fatal (graded and noisy rewards: the other decisive actions still count) the prefix's
  exact value V*(p·a) is above 0, so the cut responses' rewards are biased low; ``value_bias`` measures
  it: the mean over cut responses of (assigned value − V*(prefix at the cut)).

The cut is decided from the exact environment (``TabularMDP.meta['decisive_at']``, ``['correct']``), i.e.
a perfect partial verifier; a real one also errs.
"""

from __future__ import annotations

import numpy as np

from treecredit._validation import check_choice
from treecredit.lab.sampling import LabBatch

CUTOFFS = ("off", "sound", "any")


def cut_after(batch: LabBatch, mode: str) -> tuple[np.ndarray, np.ndarray]:
    """``(cut (R, D) bool, value (R, D))``: whether the verifier cuts right after action d, and the value it
    then assigns (every completion's common reward for ``sound``, 0 for ``any``)."""
    check_choice(mode, CUTOFFS, "cutoff")
    mdp = batch.mdp
    V, D = mdp.n_actions, mdp.depth
    after = batch.prefixes * V + batch.actions  # prefix index at depth d + 1
    cut = np.zeros(after.shape, dtype=bool)
    value = np.zeros(after.shape)
    if mode == "sound":
        for d in range(D - 1):
            below = mdp.rewards.reshape(V ** (d + 1), -1)[after[:, d]]  # (R, V^(D−d−1)) completions' rewards
            cut[:, d] = below.max(axis=1) == below.min(axis=1)
            value[:, d] = below[:, 0]
    elif mode == "any":
        decisive, correct = mdp.meta.get("decisive_at", []), mdp.meta.get("correct", [])
        for d in decisive:
            if d < D - 1:
                cut[:, d] = batch.actions[:, d] != correct[d]
    return cut, value


def apply_cutoff(batch: LabBatch, mode: str) -> dict:
    """The effect of a verifier on a batch.

    Returns ``alive (R, D)`` (action generated), ``rewards (R,)`` (leaf reward, or the assigned value of a
    cut response), ``cut_rows (R,)`` bool, ``value_error (n_cut,)`` (assigned − exact value at each cut)."""
    R, D = batch.actions.shape
    if mode == "off":
        return {"alive": np.ones((R, D), dtype=bool), "rewards": batch.rewards, "cut_rows": np.zeros(R, dtype=bool),
                    "value_error": np.zeros(0)}
    cut, value = cut_after(batch, mode)
    first = np.where(cut.any(axis=1), cut.argmax(axis=1), D)  # the action after which the response stops
    alive = np.arange(D)[None, :] <= first[:, None]
    rows = first < D
    rewards = batch.rewards.astype(np.float64).copy()
    rewards[rows] = value[rows, first[rows]]
    after = batch.prefixes * batch.mdp.n_actions + batch.actions
    exact = np.array([batch.mdp.values[d + 1][after[r, d]] for r, d in zip(np.flatnonzero(rows), first[rows])])
    return {"alive": alive, "rewards": rewards, "cut_rows": rows, "value_error": rewards[rows] - exact}


def generated_per_group(batch: LabBatch, alive: np.ndarray) -> float:
    """Tokens generated per group: distinct (segment, position) pairs among the generated tokens."""
    T = batch.tree_nodes.shape[1]
    keys = batch.tree_nodes * T + np.arange(T)[None, :]
    return float(np.unique(keys[batch.per_token(alive)]).size) / batch.n_groups
