"""Adaptive branching in the lab: the trainer's own rule, grown over an exact token MDP.

The lab does not re-implement adaptive branching: it calls
:meth:`treecredit.sampling.branching.AdaptiveBranching.grow_trees` (E-TreeRPO's allocation, u(c) = H(c)·σ²(c)
over step-end fork points) with a *lab grower* in place of the trainer's
:class:`~treecredit.sampling.rounds.SegmentGrower`. The grower offers the two calls a branching strategy
makes, ``grow_roots`` and ``grow_points``, and grows every new chain to the end of the MDP by sampling the
tabular policy; a forest token is an action (each action closes a step), its entropy is the exact
entropy of π at that prefix, and the rewards the rule reads are the exact leaf rewards (through a small
duck-typed task, so :func:`~treecredit.sampling.leaf_scores.leaf_rewards` works unchanged).

Each group grows in its own :class:`~treecredit.sampling.tree_table.SampledForest` (the rule scans the
whole forest per group, so one forest per group keeps the cost linear in the groups); the groups are then
laid out as one :class:`~treecredit.lab.sampling.LabBatch` with ``tree_nodes`` = the forest's segment ids.
A group has ``group_size`` leaves (fewer only when ``token_budget`` ends its rounds early), so groups can
differ in size; the lab's gradient divides each group's sum by its own leaf count.

Unlike fixed trees, an adaptive tree's leaves are not marginal samples of the policy (where it branches
depends on the rewards it has seen), so its mean gradient can point away from ∇J: the lab's
``grad_mean_cos`` measures exactly that.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from treecredit._validation import fail
from treecredit.lab.sampling import LabBatch, sample_actions
from treecredit.lab.tabular import TabularMDP
from treecredit.sampling.branching import AdaptiveBranching
from treecredit.sampling.tree_table import SampledForest

ADAPTIVE_DEFAULTS = dict(chains=2, rounds=3, max_children=4)


class _ActionCodec:
    """The 'policy' of the lab grower for :func:`~treecredit.sampling.leaf_scores.response_text`: a response's
    text is its action tuple."""

    eos_id = -1  # no action ends a chain early: every chain runs to depth D

    @staticmethod
    def decode(ids) -> tuple:
        return tuple(int(i) for i in ids)


class _ExactReward:
    """A duck-typed task whose reward is the MDP's exact leaf reward of an action tuple."""

    name = "lab"
    failure_reward = 0.0
    end = ()

    def __init__(self, mdp: TabularMDP) -> None:
        self.mdp = mdp
        self.powers = mdp.n_actions ** np.arange(mdp.depth - 1, -1, -1)

    def score_batch(self, problems: list, responses: list) -> list[float]:
        leaves = np.array([int(np.dot(r, self.powers)) for r in responses], dtype=np.int64)
        return [float(v) for v in self.mdp.rewards[leaves]]


def action_entropies(mdp: TabularMDP) -> tuple:
    """D arrays ``(V^d,)``: the entropy (nats) of π(·|p) at every prefix (0·log 0 = 0)."""
    out = []
    for probs in mdp.probs:
        logs = np.log(np.where(probs > 0, probs, 1.0))
        out.append(-(probs * logs).sum(axis=1))
    return tuple(out)


class LabGrower:
    """Grows chains of a :class:`TabularMDP` into a :class:`SampledForest` for a branching strategy.

    Attributes (what :class:`AdaptiveBranching` reads): ``prompts`` (one per group), ``ctx`` (``task``,
    ``problems``, ``policy`` for :func:`~treecredit.sampling.leaf_scores.leaf_rewards`).
    """

    def __init__(self, mdp: TabularMDP, rng: np.random.Generator, entropies: tuple | None = None) -> None:
        self.mdp, self.rng = mdp, rng
        self.entropies = entropies if entropies is not None else action_entropies(mdp)
        self.prompts = [[]]
        self.ctx = SimpleNamespace(task=_ExactReward(mdp), problems=[None], policy=_ActionCodec())

    def grow_roots(self, forest: SampledForest, width: int, rule=None) -> None:
        self.grow_points(forest, [(g, -1, width) for g in range(len(self.prompts))], rule)

    def grow_points(self, forest: SampledForest, points, rule=None) -> None:
        """Open k chains at each ``(group, node, k)`` (node -1: the root) and sample each to depth D."""
        if rule is not None:
            fail("rule", "the lab grower grows chains to the end and applies no fork rule",
                 "use a strategy that forks through grow_points (adaptive), or the lab's fixed trees")
        mdp, V = self.mdp, self.mdp.n_actions
        for group, node, k in points:
            if k <= 0:
                continue
            path = forest.path_tokens(node) if node >= 0 else []
            if node >= 0:
                forest.status[node] = "inner"
            prefix = np.full(k, int(np.dot(path, V ** np.arange(len(path) - 1, -1, -1))) if path else 0,
                             dtype=np.int64)
            cols_a, cols_lp, cols_h = [], [], []
            for d in range(len(path), mdp.depth):
                probs = mdp.probs[d][prefix]
                a = sample_actions(probs, self.rng)
                cols_a.append(a)
                cols_lp.append(np.log(probs[np.arange(k), a]))
                cols_h.append(self.entropies[d][prefix])
                prefix = prefix * V + a
            for j in range(k):
                child = forest.add_node(group, node)
                forest.tokens[child] = [int(c[j]) for c in cols_a]
                forest.logprobs[child] = [float(c[j]) for c in cols_lp]
                forest.entropy[child] = [float(c[j]) for c in cols_h]
                forest.uniforms[child] = [float("nan")] * len(cols_a)
                forest.step_end_offsets[child] = list(range(len(cols_a)))
                forest.status[child] = "stop"


def grow_adaptive_tree(mdp: TabularMDP, rng: np.random.Generator, group_size: int, *,
                       entropies: tuple | None = None, **options) -> SampledForest:
    """One group's tree grown by :class:`AdaptiveBranching` (``options``: its fields) over ``mdp``."""
    forest = SampledForest()
    AdaptiveBranching(**options).grow_trees(LabGrower(mdp, rng, entropies), forest, group_size)
    return forest


def sample_adaptive(mdp: TabularMDP, rng: np.random.Generator, *, n_groups: int, group_size: int,
                    **options) -> LabBatch:
    """``n_groups`` adaptive trees of at most ``group_size`` leaves each, as one :class:`LabBatch`.

    ``options``: :class:`AdaptiveBranching` fields (default ``ADAPTIVE_DEFAULTS``). Rows are each group's
    leaves in depth-first order; ``tree_nodes`` numbers the forests' segments apart across groups.
    """
    if not isinstance(group_size, int) or group_size < 2:
        fail("group_size", f"is {group_size!r}, must be an integer ≥ 2", "pass the leaf budget, e.g. 16")
    options = {**ADAPTIVE_DEFAULTS, **options}
    entropies = action_entropies(mdp)
    V, D = mdp.n_actions, mdp.depth
    actions, nodes, groups = [], [], []
    offset = 0
    for g in range(n_groups):
        forest = grow_adaptive_tree(mdp, rng, group_size, entropies=entropies, **options)
        for leaf in forest.leaves(0):
            path = forest.path(leaf)
            actions.append(forest.path_tokens(leaf))
            nodes.append([offset + n for n in path for _ in forest.tokens[n]])
            groups.append(g)
        offset += len(forest)
    actions_arr = np.array(actions, dtype=np.int64).reshape(-1, D)
    prefixes = np.zeros_like(actions_arr)
    for d in range(1, D):
        prefixes[:, d] = prefixes[:, d - 1] * V + actions_arr[:, d - 1]
    tree_nodes = np.repeat(np.array(nodes, dtype=np.int64).reshape(-1, D), mdp.step_len, axis=1)
    return LabBatch(mdp, actions_arr, prefixes, np.array(groups, dtype=np.int64), tree_nodes, n_groups)
