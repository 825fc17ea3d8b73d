"""Exact tabular environments: a tree of actions with a softmax policy at every prefix.

An episode is D actions a_0..a_{D−1} from an alphabet of V; the prefix after d actions has the index
p_d = Σ_k a_k V^{d−1−k} (base-V digits), so the V^d prefixes of depth d are the rows of one array.
Action a emits a fixed token sequence ``action_tokens[a]`` (L tokens): L = 1 is the *token MDP* (each
token is an action), L > 1 the *step MDP* (each step is a short token sequence from a small set). The
reward r(leaf) sits on the V^D leaves. Everything is computed exactly by backward induction::

    V*(leaf) = r(leaf),   V*(p) = Σ_a π(a|p) V*(p·a),   Q*(p, a) = V*(p·a),   A*(p, a) = Q*(p, a) − V*(p)

with reach probabilities P(p) = Π π(a_k | p_k) and, for the softmax policy π(·|p) = softmax(θ_p), the
true policy gradient ∂J/∂θ_{p,b} = P(p) π(b|p) A*(p, b), J = V*(root).

Parameters are flattened depth by depth: ``param_offset[d] + p·V + a`` indexes (depth d, prefix p, action a);
the same number is the key of the state-action node in the measurements.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property

import numpy as np

from treecredit._validation import check_choice, fail

ENTROPY_PROFILES = ("flat", "peaked_early", "peaked_late")
DECISIVE_PLACES = ("early", "late", "spread")
REWARD_KINDS = ("binary", "graded", "noisy")


def softmax(logits: np.ndarray) -> np.ndarray:
    z = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


@dataclass(frozen=True)
class TabularMDP:
    """A depth-D action tree with softmax policy logits per prefix and a reward per leaf.

    Attributes:
        logits: D arrays, ``logits[d]`` of shape ``(V^d, V)``.
        rewards: ``(V^D,)`` leaf rewards.
        action_tokens: ``(V, L)`` int token ids emitted by each action (distinct rows).
        description: a short label for reports.
    """

    logits: tuple
    rewards: np.ndarray
    action_tokens: np.ndarray
    description: str = ""
    meta: dict = field(default_factory=dict)

    @property
    def n_actions(self) -> int:
        return int(self.action_tokens.shape[0])

    @property
    def depth(self) -> int:
        return len(self.logits)

    @property
    def step_len(self) -> int:
        return int(self.action_tokens.shape[1])

    @cached_property
    def probs(self) -> tuple:
        """D arrays ``(V^d, V)``: π(a | p)."""
        return tuple(softmax(lg) for lg in self.logits)

    @cached_property
    def values(self) -> tuple:
        """D+1 arrays ``(V^d,)``: V*(p) at every depth; ``values[D]`` are the leaf rewards."""
        V = self.n_actions
        out = [None] * (self.depth + 1)
        out[self.depth] = self.rewards.astype(np.float64)
        for d in range(self.depth - 1, -1, -1):
            out[d] = (self.probs[d] * out[d + 1].reshape(-1, V)).sum(axis=1)
        return tuple(out)

    @cached_property
    def advantages(self) -> tuple:
        """D arrays ``(V^d, V)``: A*(p, a) = V*(p·a) − V*(p)."""
        V = self.n_actions
        return tuple(self.values[d + 1].reshape(-1, V) - self.values[d][:, None] for d in range(self.depth))

    @cached_property
    def reach(self) -> tuple:
        """D+1 arrays ``(V^d,)``: the probability that an episode passes through prefix p."""
        out = [np.ones(1)]
        for d in range(self.depth):
            out.append((out[d][:, None] * self.probs[d]).reshape(-1))
        return tuple(out)

    @cached_property
    def param_offset(self) -> np.ndarray:
        """``(D+1,)``: where depth d's ``V^d · V`` parameters start in the flat parameter vector."""
        V = self.n_actions
        sizes = [V ** d * V for d in range(self.depth)]
        return np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)

    @property
    def n_params(self) -> int:
        return int(self.param_offset[-1])

    @cached_property
    def true_gradient(self) -> np.ndarray:
        """``(n_params,)``: ∂J/∂θ_{p,b} = P(p) π(b|p) A*(p, b) for the softmax tabular policy."""
        return np.concatenate(
            [(self.reach[d][:, None] * self.probs[d] * self.advantages[d]).reshape(-1) for d in range(self.depth)]
        )

    @property
    def success_rate(self) -> float:
        """J = V*(root), the expected reward (the success rate for binary rewards)."""
        return float(self.values[0][0])

    @property
    def reward_variance(self) -> float:
        """Var[r] under the policy."""
        second = float((self.reach[self.depth] * self.rewards ** 2).sum())
        return second - self.success_rate ** 2


def _leaf_actions(n_actions: int, depth: int) -> np.ndarray:
    """``(V^D, D)``: the action sequence of every leaf (base-V digits, most significant first)."""
    leaves = np.arange(n_actions ** depth)
    powers = n_actions ** np.arange(depth - 1, -1, -1)
    return (leaves[:, None] // powers[None, :]) % n_actions


def decisive_depths(depth: int, n_decisive: int, place: str) -> np.ndarray:
    """The depths whose action decides the reward: the first, the last, or evenly spread ones."""
    check_choice(place, DECISIVE_PLACES, "decisive")
    k = min(max(int(n_decisive), 1), depth)
    if place == "early":
        return np.arange(k)
    if place == "late":
        return np.arange(depth - k, depth)
    return np.unique(np.round(np.linspace(0, depth - 1, k)).astype(np.int64))


def make_tabular_mdp(
    *, n_actions: int = 3, depth: int = 6, entropy: str = "flat", decisive: str = "late", n_decisive: int = 2,
    reward: str = "binary", success_rate: float = 0.3, step_len: int = 1, token_vocab: int = 8,
    noise: float = 0.5, seed: int = 0,
) -> TabularMDP:
    """Build a random tabular MDP with a controlled success rate, entropy profile and decisive depths.

    At each decisive depth d one action c_d is correct; the policy puts probability q on it at every
    prefix, with q^k = ``success_rate`` for k decisive depths, so P(all correct) equals ``success_rate``
    exactly. Other actions get softmax(s_d · z) of the remaining mass, z ~ N(0, 1) per prefix, where the
    logit scale s_d runs 3 → 0.3 over the depths (``peaked_early``: low entropy first), 0.3 → 3
    (``peaked_late``) or stays 1 (``flat``); non-decisive depths use the same scale on all actions.

    Rewards: ``binary`` = 1 if every decisive action is correct; ``graded`` = the fraction correct;
    ``noisy`` = graded + N(0, noise²) per leaf (fixed per leaf: a high reward variance that is still
    a function of the tokens). ``step_len`` > 1 makes a step MDP whose actions emit distinct random
    sequences of ``step_len`` tokens from ``token_vocab`` ids, the last one a delimiter id ``token_vocab``.
    """
    check_choice(entropy, ENTROPY_PROFILES, "entropy")
    check_choice(reward, REWARD_KINDS, "reward")
    if not (2 <= n_actions and 1 <= depth and n_actions ** depth <= 2 ** 16):
        fail("depth", f"V^D = {n_actions}^{depth} is outside [2, 65536]", "use a smaller vocabulary or depth")
    if not 0.0 < success_rate < 1.0:
        fail("success_rate", f"is {success_rate}, must lie in (0, 1)", "pass e.g. 0.3")
    if step_len < 1 or (step_len > 1 and token_vocab ** (step_len - 1) < n_actions):
        fail("step_len", f"{step_len} tokens from {token_vocab} ids cannot give {n_actions} distinct steps",
             "raise token_vocab or step_len")
    rng = np.random.default_rng(seed)
    decisive_at = decisive_depths(depth, n_decisive, decisive)
    correct = rng.integers(0, n_actions, size=depth)
    q = success_rate ** (1.0 / decisive_at.size)
    ramp = np.linspace(0.0, 1.0, depth) if depth > 1 else np.zeros(1)
    scales = {"flat": np.ones(depth), "peaked_early": 3.0 * (0.1 ** ramp), "peaked_late": 0.3 * (10.0 ** ramp)}[entropy]
    logits = []
    for d in range(depth):
        z = scales[d] * rng.standard_normal((n_actions ** d, n_actions))
        if d in decisive_at:
            others = np.delete(np.arange(n_actions), correct[d])
            rest = softmax(z[:, others]) * (1.0 - q)
            p = np.empty_like(z)
            p[:, others] = rest
            p[:, correct[d]] = q
            z = np.log(p)
        logits.append(z)
    hits = _leaf_actions(n_actions, depth)[:, decisive_at] == correct[decisive_at][None, :]
    if reward == "binary":
        leaf_reward = hits.all(axis=1).astype(np.float64)
    else:
        leaf_reward = hits.mean(axis=1)
        if reward == "noisy":
            leaf_reward = leaf_reward + noise * rng.standard_normal(leaf_reward.shape)
    if step_len == 1:
        tokens = np.arange(n_actions)[:, None]
    else:
        tokens = _distinct_steps(rng, n_actions, step_len, token_vocab)
    label = (f"{'token' if step_len == 1 else 'step'} MDP V={n_actions} D={depth} {entropy} decisive={decisive}"
             f" reward={reward} p={success_rate:g}")
    meta = dict(n_actions=n_actions, depth=depth, entropy=entropy, decisive=decisive, n_decisive=int(decisive_at.size),
                reward=reward, success_rate=success_rate, step_len=step_len, seed=seed,
                decisive_at=[int(d) for d in decisive_at], correct=[int(c) for c in correct])
    return TabularMDP(tuple(logits), leaf_reward, tokens.astype(np.int64), label, meta)


def _distinct_steps(rng: np.random.Generator, n_actions: int, step_len: int, token_vocab: int) -> np.ndarray:
    """``(V, L)`` distinct token sequences; the last token of each is the delimiter ``token_vocab``."""
    seen: set = set()
    rows = []
    while len(rows) < n_actions:
        body = tuple(int(x) for x in rng.integers(0, token_vocab, size=step_len - 1))
        if body not in seen:
            seen.add(body)
            rows.append(body + (token_vocab,))
    return np.array(rows, dtype=np.int64)
