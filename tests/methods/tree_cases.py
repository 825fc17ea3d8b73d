"""Small shared batches for the tree-estimator tests (imported by the test modules)."""

import numpy as np
import pytest

from treecredit import compute_advantages

# group 0: A=[1 2 3 4] r=1, B=[1 2 5] r=0, C=[1 2 3] r=1 (a prefix of A), D=[7 8] r=0; group 1: one response
IDS = np.array([[1, 2, 3, 4], [1, 2, 5, 0], [1, 2, 3, 0], [7, 8, 0, 0], [1, 2, 3, 4]])
MASK = (IDS > 0).astype(int)
REWARDS = np.array([1.0, 0.0, 1.0, 0.0, 0.0])
GROUPS = np.array([0, 0, 0, 0, 1])
SIGMA = float(np.std([1, 0, 1, 0], ddof=1))

# no shared prefix beyond the prompt
DISTINCT = np.array([[1, 2, 3], [2, 3, 0], [3, 1, 2], [4, 4, 4]])
DISTINCT_MASK = (DISTINCT > 0).astype(int)
DISTINCT_REWARDS = np.array([1.0, 0.0, 0.5, 0.25])


def run(name, ids=IDS, mask=MASK, rewards=REWARDS, groups=GROUPS, **options):
    return compute_advantages(name, response_ids=ids, response_mask=mask, rewards=np.asarray(rewards, float),
                              group_ids=np.asarray(groups), **options)


def run_distinct(name, rewards=DISTINCT_REWARDS, **options):
    return run(name, DISTINCT, DISTINCT_MASK, rewards, np.zeros(4, int), **options)


def degenerate_checks(name, **options):
    """Equal rewards, groups of one, fully masked rows and an empty batch: exact zeros, never NaN."""
    equal = run(name, rewards=np.full(5, 0.5), **options)
    assert (equal == 0).all()
    if "mc_values" in options:  # Monte Carlo values give credit without a group: no warning
        alone = run(name, groups=np.arange(5), **options)
    else:
        with pytest.warns(UserWarning, match="no group has two responses"):
            alone = run(name, groups=np.arange(5), **options)
    assert not np.isnan(alone).any()
    mask = MASK.copy()
    mask[1] = 0
    masked = run(name, mask=mask, **options)
    assert (masked[1] == 0).all() and not np.isnan(masked).any()
    empty_options = {k: (np.zeros((0, 3), np.asarray(v).dtype) if np.ndim(v) == 2 else v) for k, v in options.items()}
    empty = compute_advantages(name, response_ids=np.zeros((0, 3), int), response_mask=np.zeros((0, 3), int),
                               rewards=np.zeros(0), group_ids=np.zeros(0, int), **empty_options)
    assert empty.shape == (0, 3)
    no_tokens = {k: (np.zeros((5, 0), np.asarray(v).dtype) if np.ndim(v) == 2 else v) for k, v in options.items()}
    width0 = compute_advantages(name, response_ids=np.zeros((5, 0), int), response_mask=np.zeros((5, 0), int),
                                rewards=REWARDS, group_ids=GROUPS, **no_tokens)
    assert width0.shape == (5, 0)
    return alone
