"""Sampling from a :class:`TabularMDP` into the batch layout of real rollouts.

Both regimes are one *forest* of independent groups (one group = one prompt's responses):

- an i.i.d. group of G responses is a tree with one level that branches G ways at the root;
- an explicit tree of branching B and L levels branches B ways at each of the action depths
  ``branch_depths`` (the first is usually 0), so it has B^L leaves (responses); between two branch
  depths every node continues along one sampled path (a *segment*, generated once and shared by all
  the leaves below it). Every root-to-leaf path is marginally a sample of the policy.

The result carries exactly the arguments of ``treecredit.compute_advantages`` (``response_ids``,
``response_mask``, ``rewards``, ``group_ids``) plus ``tree_nodes`` (the id of the segment in which each
token was generated, unique across the forest), ``step_ends`` (True on the last token of each action)
and, on request, ``mc_values`` / ``prompt_values`` for VinePPO, exact or from K fresh rollouts.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np

from treecredit.lab.tabular import TabularMDP


@dataclass(frozen=True)
class LabBatch:
    """A sampled forest of ``n_groups`` groups of R/n_groups responses each (rows grouped contiguously).

    Attributes:
        mdp: the environment.
        actions: ``(R, D)`` the actions of every response.
        prefixes: ``(R, D)`` the prefix index p_d before action d.
        group_index: ``(R,)`` dense group numbers.
        tree_nodes: ``(R, T)`` segment ids, T = D · L.
        n_groups: number of groups (independent trees).
    """

    mdp: TabularMDP
    actions: np.ndarray
    prefixes: np.ndarray
    group_index: np.ndarray
    tree_nodes: np.ndarray
    n_groups: int

    @property
    def n_rows(self) -> int:
        return int(self.actions.shape[0])

    @property
    def group_size(self) -> int:
        return self.n_rows // self.n_groups

    @cached_property
    def response_ids(self) -> np.ndarray:
        """``(R, T)`` the tokens emitted by the actions."""
        return self.mdp.action_tokens[self.actions].reshape(self.n_rows, -1)

    @cached_property
    def rewards(self) -> np.ndarray:
        leaf = self.prefixes[:, -1] * self.mdp.n_actions + self.actions[:, -1]
        return self.mdp.rewards[leaf]

    @cached_property
    def step_ends(self) -> np.ndarray:
        """``(R, T)`` True on the last token of every action."""
        L = self.mdp.step_len
        ends = np.zeros((self.mdp.depth, L), dtype=bool)
        ends[:, -1] = True
        return np.broadcast_to(ends.reshape(-1), self.response_ids.shape).copy()

    @cached_property
    def node_keys(self) -> np.ndarray:
        """``(R, D)`` the flat parameter index of each (depth, prefix, action): the state-action node key."""
        offsets = self.mdp.param_offset[:-1][None, :]
        return offsets + self.prefixes * self.mdp.n_actions + self.actions

    @cached_property
    def target_per_action(self) -> np.ndarray:
        """``(R, D)`` A*(p_d, a_d)."""
        return np.stack([self.mdp.advantages[d][self.prefixes[:, d], self.actions[:, d]]
                         for d in range(self.mdp.depth)], axis=1)

    def per_token(self, per_action: np.ndarray) -> np.ndarray:
        """``(R, D)`` → ``(R, T)``: repeat each action's value on its L tokens."""
        return np.repeat(per_action, self.mdp.step_len, axis=1)

    def estimator_inputs(self) -> dict:
        """The four arguments every estimator takes."""
        return dict(response_ids=self.response_ids, response_mask=np.ones(self.response_ids.shape, dtype=bool),
                    rewards=self.rewards, group_ids=self.group_index)

    def exact_mc_values(self) -> tuple[np.ndarray, np.ndarray]:
        """``mc_values (R, T)`` = V*(prefix through the action of each token) and ``prompt_values (R,)`` = V*(root)."""
        V = self.mdp.n_actions
        after = self.prefixes * V + self.actions  # prefix index after action d, at depth d + 1
        per_action = np.stack([self.mdp.values[d + 1][after[:, d]] for d in range(self.mdp.depth)], axis=1)
        return self.per_token(per_action), np.full(self.n_rows, self.mdp.values[0][0])

    def sampled_mc_values(self, k: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """As :meth:`exact_mc_values`, but each value is the mean reward of ``k`` fresh rollouts from the prefix.

        The rollout count is R·D·k (the rollouts after the last action are not needed, but are kept
        simple: the estimator reads the reward there instead). Prompt values use k rollouts per group.
        """
        V, D = self.mdp.n_actions, self.mdp.depth
        after = self.prefixes * V + self.actions
        per_action = np.empty((self.n_rows, D))
        for d in range(D):
            start = np.repeat(after[:, d], k)
            per_action[:, d] = rollout_rewards(self.mdp, start, d + 1, rng).reshape(-1, k).mean(axis=1)
        root = rollout_rewards(self.mdp, np.zeros(self.n_groups * k, dtype=np.int64), 0, rng)
        prompt = root.reshape(-1, k).mean(axis=1)[self.group_index]  # groups may differ in size (adaptive)
        return self.per_token(per_action), prompt


def rollout_rewards(mdp: TabularMDP, prefix: np.ndarray, depth: int, rng: np.random.Generator) -> np.ndarray:
    """Complete every prefix (all at ``depth``) with the policy; return the leaf rewards."""
    p = prefix.astype(np.int64)
    for d in range(depth, mdp.depth):
        p = p * mdp.n_actions + sample_actions(mdp.probs[d][p], rng)
    return mdp.rewards[p]


def sample_actions(probs: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One action per row of ``probs (n, V)`` by inverse-CDF sampling."""
    u = rng.random(probs.shape[0])[:, None]
    return np.minimum((np.cumsum(probs, axis=1) < u).sum(axis=1), probs.shape[1] - 1)


def branch_schedule(depth: int, levels: int) -> np.ndarray:
    """Evenly spaced branch depths 0 = b_0 < b_1 < ... < b_{L−1} < D for an L-level tree."""
    levels = min(max(int(levels), 1), depth)
    return np.unique(np.floor(np.arange(levels) * depth / levels).astype(np.int64))


def sample_forest(mdp: TabularMDP, rng: np.random.Generator, *, n_groups: int, branching: int,
                  branch_depths) -> LabBatch:
    """Sample ``n_groups`` independent trees; each node branches ``branching`` ways at each branch depth.

    ``branch_depths=[0]`` with ``branching=G`` gives i.i.d. groups of G. Rows of one group are its
    leaves in depth-first order, so the leaf i's ancestor at level l is i // B^{L−l}.
    """
    depths = sorted(int(b) for b in branch_depths)
    V, D, L = mdp.n_actions, mdp.depth, mdp.step_len
    n_nodes = n_groups  # live nodes, one per group at the root
    prefix = np.zeros(n_nodes, dtype=np.int64)
    actions_cols, prefix_cols, node_cols = [], [], []
    node_id = np.full(n_nodes, -1, dtype=np.int64)
    next_id = 0
    for d in range(D):
        if d in depths or d == 0:
            rep = branching if d in depths else 1
            prefix = np.repeat(prefix, rep)
            actions_cols = [np.repeat(c, rep) for c in actions_cols]
            prefix_cols = [np.repeat(c, rep) for c in prefix_cols]
            node_cols = [np.repeat(c, rep) for c in node_cols]
            node_id = np.arange(next_id, next_id + prefix.size, dtype=np.int64)
            next_id += prefix.size
        a = sample_actions(mdp.probs[d][prefix], rng)
        actions_cols.append(a)
        prefix_cols.append(prefix.copy())
        node_cols.append(node_id)
        prefix = prefix * V + a
    actions = np.stack(actions_cols, axis=1)
    prefixes = np.stack(prefix_cols, axis=1)
    tree_nodes = np.repeat(np.stack(node_cols, axis=1), L, axis=1)
    group_size = actions.shape[0] // n_groups
    group_index = np.repeat(np.arange(n_groups, dtype=np.int64), group_size)
    return LabBatch(mdp, actions, prefixes, group_index, tree_nodes, n_groups)
