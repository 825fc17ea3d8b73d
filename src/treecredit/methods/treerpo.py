"""TreeRPO: each step's value against the mean value of its siblings in the sampled tree."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from treecredit._validation import OutOfRange, Remedy, check_choice, check_positive
from treecredit.batch import TokenBatch
from treecredit.groups import centered, divide_or_zero, group_mean
from treecredit.registry import register_estimator
from treecredit.trees import forest_for
from treecredit.trees.values import children_mean_values, sibling_stats, zero_masked_tokens

SCALES = ("bernoulli", "std", "none")
BERNOULLI_SLACK = 1e-6
"""Rewards this far outside [0, 1] (the rounding of a weighted sum of reward functions) are clipped into it
under ``scale="bernoulli"``; farther ones are refused."""
UNIT_REWARD_REMEDIES = (
    Remedy("scale='std' or scale='none'", "--estimator-option scale=std", (("scale", "std"), ("scale", "none"))),
    Remedy("rewards in [0, 1]", "--reward weights that sum to at most 1"))
"""What lifts ``scale="bernoulli"``'s need for rewards in [0, 1]: another scale, or rewards that stay in it."""


@register_estimator("treerpo", requires=("steps|tree",))
def treerpo(batch: TokenBatch, *, scale: str = "bernoulli", tau: float = 0.1, epsilon: float = 1e-6,
            tree_nodes: Any = None, step_ends: Any = None, delimiter: Any = None,
            step_tokens: Any = None) -> np.ndarray:
    """TreeRPO: a step's advantage is its value minus the mean value of its sibling set.

    V(leaf) = reward of the path (identical merged paths: their mean);
    V(p) = mean of V over its sibling set C(p) of children (each subtree weighs the same, not each leaf);
    for c ∈ C(p), μ = mean_{c'∈C(p)} V(c') = V(p):
        A(c) = (V(c) − μ) / (μ(1 − μ) + ε)      scale="bernoulli" (binary rewards: a Bernoulli variance)
        A(c) = (V(c) − μ) / (std_{C(p)} V + ε)   scale="std" (Bessel std of the sibling values)
        A(c) =  V(c) − μ                          scale="none"
    A(c) = 0 when max − min of V over C(p) < τ. Every token of step (node) c gets A(c).

    Special cases: a one-level step tree (every response a single distinct step) with scale="none",
    τ = 0 gives r_i − μ_g (the group baseline); a node with one child gives it 0; a group of one or
    with equal rewards gives exactly 0.
    Paper: TreeRPO, arXiv 2506.05183 (N = 8 children, depth D = 3, 384-token steps, τ = 0.1).
    Our choices: the tree is the sampled one (``tree_nodes``) or the step trie (a step option), and one of
    them is required. In a trie a response can end at an internal node (its steps are a prefix of
    another's); those responses join C(p) as one more member whose value is their mean reward (they have
    no tokens below p, so they receive nothing). Values use group-centred rewards (exact zeros); the
    Bernoulli denominator uses the uncentred μ.

    Args:
        batch: responses ``(B, T)``, rewards ``(B,)`` (in [0, 1] for scale="bernoulli"; within 1e-6 of it
            they are clipped into it, farther out ``ValueError``), groups ``(B,)``.
        scale: "bernoulli" | "std" | "none".
        tau: τ ≥ 0, the smallest span (max − min) of sibling values that is trained on, in reward units under
            every ``scale`` (it is compared before the division): rewards in {0, 0.05} have spans of at most
            0.05, so the default 0.1 zeroes every advantage (a ``UserWarning`` says so); rescale them or lower τ.
        epsilon: ε.
        tree_nodes: ``(B, T)`` sampled node ids; or step_ends / delimiter / step_tokens for the step trie.
    Returns:
        ``(B, T)`` float32, zero on masked tokens.

    Warns:
        ``UserWarning`` (naming ``tau``) when τ removes every sibling set whose values spread at all.
    """
    check_choice(scale, SCALES, "scale")
    check_positive(tau, "tau", allow_zero=True)
    check_positive(epsilon, "epsilon", allow_zero=True)
    rewards = batch.rewards
    if scale == "bernoulli" and rewards.size and (rewards.min() < 0 or rewards.max() > 1):
        if rewards.min() >= -BERNOULLI_SLACK and rewards.max() <= 1 + BERNOULLI_SLACK:  # rounding of a sum
            rewards = np.clip(rewards, 0.0, 1.0)
    if scale == "bernoulli" and rewards.size and (rewards.min() < 0 or rewards.max() > 1):
        low, high = float(rewards.min()), float(rewards.max())
        raise OutOfRange("rewards", f"are outside [0, 1] (from {low:.8g} to {high:.8g}), which scale={scale!r} "
                         "needs (μ(1 − μ) is a Bernoulli variance)", UNIT_REWARD_REMEDIES, seen=(low, high))
    forest = forest_for(batch, tree_nodes=tree_nodes, step_ends=step_ends, delimiter=delimiter,
                        step_tokens=step_tokens, require_steps=True)
    dev = centered(rewards, batch.group_index, batch.n_groups)
    value = children_mean_values(forest, dev)
    span, spread_std = sibling_stats(forest, value, dev)
    kids = np.arange(forest.n_groups, forest.n_nodes)
    parent = forest.node_parent[kids]
    numer = value[kids] - value[parent]
    if scale == "bernoulli":
        mu = value[parent] + group_mean(rewards, batch.group_index, batch.n_groups)[forest.node_group[kids]]
        numer = divide_or_zero(numer, mu * (1.0 - mu) + epsilon)
    elif scale == "std":
        numer = divide_or_zero(numer, spread_std[parent] + epsilon)
    warn_if_tau_removes_all(span[parent], tau, rewards)
    advantage = np.zeros(forest.n_nodes)
    advantage[kids] = np.where(span[parent] < tau, 0.0, numer)
    out = forest.spread(advantage)
    return zero_masked_tokens(out, batch)


def warn_if_tau_removes_all(spans: np.ndarray, tau: float, rewards: np.ndarray) -> bool:
    """Warn (``UserWarning``) when ``tau`` zeroes every sibling set that has a non-zero span: the batch had credit
    to give and τ, which is in reward units whatever the scale, removed all of it (rewards in {0, 0.05} with the
    paper's τ = 0.1). ``spans``: each child's sibling-set span (max − min of the values); returns True when it
    warned."""
    spread = spans[spans > 0]
    if not spread.size or float(spread.max()) >= tau:
        return False
    largest = float(spread.max())
    warnings.warn(
        f"tau: {tau:g} removes every sibling set of this batch, so every treerpo advantage is 0: tau is the smallest "
        f"span (max - min) of sibling values that is trained on, in reward units under every scale, and the largest "
        f"span here is {largest:.4g} (rewards from {float(rewards.min()):.4g} to {float(rewards.max()):.4g}). "
        f"Fix: pass tau below {largest:.4g} (e.g. tau={largest / 2:.2g}, or tau=0 to train on every set), or "
        "rescale the rewards (e.g. to [0, 1])", UserWarning, stacklevel=4)
    return True
