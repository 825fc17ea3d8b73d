"""TEMPO, TreeRPO, TreeRL, SPO, TreePO and VinePPO, one token at a time (test oracle, benchmark baseline).

Each function takes the public arrays plus the tree description (``step_ends``: a resolved (B, T) step-end
mask for the step trie; ``tree_nodes``: sampled node ids) and returns a (B, T) float32 array. Formulas as
in the docstrings of ``treecredit.methods``; every choice documented there is made the same way here.
"""

from __future__ import annotations

import math

import numpy as np

from treecredit.reference.grpo import group_rows, mean_std
from treecredit.reference.trees import ROOT, group_tree, last_node, lengths_of


def _groups(response_ids, response_mask, group_ids, step_ends, tree_nodes):
    lengths = lengths_of(response_mask)
    for rows in group_rows(group_ids).values():
        yield rows, lengths, group_tree(rows, response_ids, lengths, step_ends=step_ends, tree_nodes=tree_nodes)


def _value(members, rewards):
    return {key: sum(float(rewards[j]) for j in rows) / len(rows) for key, rows in members.items()}


def tempo_reference(response_ids, response_mask, rewards, group_ids, *, step_ends=None, tree_nodes=None,
                    norm_by_std=True, epsilon=1e-6):
    out = np.zeros(np.shape(response_ids), dtype=np.float32)
    for rows, lengths, (node_of, members, _) in _groups(response_ids, response_mask, group_ids, step_ends,
                                                        tree_nodes):
        value = _value(members, rewards)
        mu, sd = mean_std([float(rewards[i]) for i in rows])
        for i in rows:
            prev, pending = ROOT, 0.0
            for t in range(lengths[i]):
                here = node_of[i][t]
                if here != prev:  # a new node: its TD term waits for the node's first trained token
                    pending = value[here] - value[prev]
                adv = (float(rewards[i]) - mu) + pending
                if norm_by_std:
                    adv /= sd + epsilon
                if response_mask[i][t]:
                    out[i, t] = adv
                    pending = 0.0
                prev = here
    return out


def spo_reference(response_ids, response_mask, rewards, group_ids, *, step_ends=None, tree_nodes=None,
                  norm_by_std=False, epsilon=1e-6):
    out = np.zeros(np.shape(response_ids), dtype=np.float32)
    for rows, lengths, (node_of, members, parent) in _groups(response_ids, response_mask, group_ids,
                                                             step_ends, tree_nodes):
        value = _value(members, rewards)
        for i in rows:
            for t in range(lengths[i]):
                here = node_of[i][t]
                adv = value[here] - value[parent[here]]
                if norm_by_std:
                    adv /= mean_std([float(rewards[j]) for j in members[parent[here]]])[1] + epsilon
                if response_mask[i][t]:
                    out[i, t] = adv
    return out


def treerl_reference(response_ids, response_mask, rewards, group_ids, *, step_ends=None, tree_nodes=None,
                     leave_one_out=False):
    out = np.zeros(np.shape(response_ids), dtype=np.float32)
    for rows, lengths, (node_of, members, parent) in _groups(response_ids, response_mask, group_ids,
                                                             step_ends, tree_nodes):
        leaf_reward = {i: float(rewards[i]) for i in rows}
        if leave_one_out:
            for i in rows:
                others = [float(rewards[j]) for j in rows if j != i]
                leaf_reward[i] = float(rewards[i]) - sum(others) / len(others) if others else 0.0
        value = _value(members, leaf_reward)
        for i in rows:
            for t in range(lengths[i]):
                here = node_of[i][t]
                ga = value[here] - value[ROOT]
                la = value[here] - value[parent[here]]
                if response_mask[i][t]:
                    out[i, t] = (ga + la) / math.sqrt(len(members[here]))
    return out


def treerpo_reference(response_ids, response_mask, rewards, group_ids, *, step_ends=None, tree_nodes=None,
                      scale="bernoulli", tau=0.1, epsilon=1e-6):
    out = np.zeros(np.shape(response_ids), dtype=np.float32)
    for rows, lengths, (node_of, members, parent) in _groups(response_ids, response_mask, group_ids,
                                                             step_ends, tree_nodes):
        children: dict = {key: [] for key in members}
        for key, up in parent.items():
            children[up].append(key)
        ending: dict = {}
        for i in rows:
            ending.setdefault(last_node(node_of, i), []).append(float(rewards[i]))

        def sibling_values(key):
            vals = [value_of(c) for c in children[key]]
            if key in ending:
                vals.append(sum(ending[key]) / len(ending[key]))
            return vals

        cache: dict = {}

        def value_of(key):
            if key not in cache:
                vals = sibling_values(key)
                cache[key] = sum(vals) / len(vals)
            return cache[key]

        for i in rows:
            for t in range(lengths[i]):
                here = node_of[i][t]
                vals = sibling_values(parent[here])
                mu = sum(vals) / len(vals)
                adv = value_of(here) - mu
                if max(vals) - min(vals) < tau:
                    adv = 0.0
                elif scale == "bernoulli":
                    adv /= mu * (1 - mu) + epsilon
                elif scale == "std":
                    adv /= mean_std(vals)[1] + epsilon
                if response_mask[i][t]:
                    out[i, t] = adv
    return out


def treepo_reference(response_ids, response_mask, rewards, group_ids, *, step_ends=None, tree_nodes=None,
                     weights="size", whiten=True, epsilon=1e-6):
    B, T = np.shape(response_ids)
    per_response = [0.0] * B
    live = []
    for rows, lengths, (node_of, members, _) in _groups(response_ids, response_mask, group_ids, step_ends,
                                                        tree_nodes):
        for i in rows:
            path = [ROOT]
            for key in node_of[i]:
                if key != path[-1]:
                    path.append(key)
            total, total_w = 0.0, 0.0
            for key in path:
                group = [float(rewards[j]) for j in members[key]]
                if len(group) < 2:
                    continue
                w = len(group) if weights == "size" else 1.0
                total += w * (float(rewards[i]) - sum(group) / len(group))
                total_w += w
            per_response[i] = total / total_w if total_w else 0.0
            if lengths[i] > 0:
                live.append(i)
    if whiten and live:
        vals = [per_response[i] for i in live]
        mu, sd = mean_std(vals)
        for i in live:
            per_response[i] = 0.0 if max(vals) == min(vals) else (per_response[i] - mu) / (sd + epsilon)
    out = np.zeros((B, T), dtype=np.float32)
    for i in range(B):
        for t in range(T):
            if response_mask[i][t]:
                out[i, t] = per_response[i]
    return out


def vine_reference(response_ids, response_mask, rewards, group_ids, *, step_ends, mc_values,
                   prompt_values=None):
    B, T = np.shape(response_ids)
    out = np.zeros((B, T), dtype=np.float32)
    lengths = lengths_of(response_mask)
    for rows in group_rows(group_ids).values():
        mu = sum(float(rewards[i]) for i in rows) / len(rows)
        for i in rows:
            before = mu if prompt_values is None else float(prompt_values[i])
            step_tokens = []
            for t in range(lengths[i]):
                step_tokens.append(t)
                if step_ends[i][t]:
                    after = float(rewards[i]) if t == lengths[i] - 1 else float(mc_values[i][t])
                    for s in step_tokens:
                        if response_mask[i][s]:
                            out[i, s] = after - before
                    before, step_tokens = after, []
    return out
