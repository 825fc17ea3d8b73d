"""Pack a grown :class:`SampledForest` into the :class:`RolloutBatch` every sampler returns.

Rows are the leaves, group by group, each tree in depth-first order; row i holds the full response of
leaf i (all its ancestors' tokens, then its own). ``tree_nodes[i, t]`` is the compact id of the node that
generated token t (-1 on padding; ids in order of first appearance, row by row): equal across rows exactly
where they share a generated segment.
"""

from __future__ import annotations

import numpy as np

from treecredit.sampling.branch_stats import branch_points, leaf_branch_depth
from treecredit.sampling.cutoff import failure_reward
from treecredit.sampling.leaf_scores import response_text
from treecredit.sampling.rollout import RolloutBatch, step_end_mask
from treecredit.sampling.tree_table import SampledForest
from treecredit.tasks.base import batch_rewards


def pack_forest(ctx, forest: SampledForest, prompts, prompt_texts, prefill_tokens: int) -> RolloutBatch:
    """The rollout of ``forest`` (see the module docstring); branch statistics go to ``extras``."""
    import torch

    leaves = forest.leaves()
    paths = [forest.path(leaf) for leaf in leaves]
    lengths = [sum(len(forest.tokens[n]) for n in path) for path in paths]
    B, T = len(leaves), max(lengths)
    compact: dict = {}  # nodes numbered in order of first use (rows in order, each root to leaf), so that
    for path in paths:  # the ids do not depend on the order in which the nodes were created
        for node in path:
            compact.setdefault(node, len(compact))
    rows: dict = {"ids": [], "nodes": [], "logprobs": [], "uniforms": []}  # padded Python rows, one tensor each
    responses = [[t for node in path for t in forest.tokens[node]] for path in paths]  # each leaf's response ids
    for path, response, length in zip(paths, responses, lengths):
        pad = T - length
        rows["ids"].append(response + [ctx.policy.pad_id] * pad)
        rows["nodes"].append([compact[node] for node in path for _ in forest.tokens[node]] + [-1] * pad)
        rows["logprobs"].append([x for node in path for x in forest.logprobs[node]] + [0.0] * pad)
        rows["uniforms"].append([x for node in path for x in forest.uniforms[node]] + [0.0] * pad)
    ids = torch.tensor(rows["ids"], dtype=torch.long).reshape(B, T)
    nodes = torch.tensor(rows["nodes"], dtype=torch.long).reshape(B, T)
    logprobs = torch.tensor(rows["logprobs"], dtype=torch.float64).reshape(B, T)
    uniforms = torch.tensor(rows["uniforms"], dtype=torch.float64).reshape(B, T)
    length_t = torch.tensor(lengths, dtype=torch.long)
    mask = torch.arange(T)[None, :] < length_t[:, None]  # (B,T)
    groups = torch.tensor([forest.group[leaf] for leaf in leaves], dtype=torch.long)
    texts = [response_text(ctx, response) for response in responses]
    cut = [forest.status[leaf] == "cut" for leaf in leaves]
    scored = [row for row, c in enumerate(cut) if not c]  # pruned leaves get the failure reward
    values = [failure_reward(ctx.task)] * len(cut)
    for row, value in zip(scored, batch_rewards(ctx.task, [ctx.problems[int(groups[r])] for r in scored],
                                                [texts[r] for r in scored],
                                                completion_ids=[responses[r] for r in scored])):
        values[row] = value
    rewards = torch.tensor(values, dtype=torch.float32)
    index = groups.tolist()
    parents = np.asarray(forest.parent_node, dtype=np.int64)
    node_groups = np.asarray(forest.group, dtype=np.int64)
    points = branch_points(parents, node_groups, len(prompts))
    depth = leaf_branch_depth(parents, node_groups, leaves)
    extras = {
        "uniforms": uniforms, "logprobs_f64": logprobs, "cut_rows": torch.tensor(cut),
        "prefill_tokens": int(prefill_tokens), "leaf_status": [forest.status[leaf] for leaf in leaves],
        "branch_points_per_group": float(points.mean()), "branch_depth_mean": float(depth.mean()),
        "branch_depth_max": int(depth.max()), "cut_branches": int(sum(cut)),
        "saved_tokens_estimate": saved_tokens_estimate(lengths, cut, index),
    }
    return RolloutBatch(
        response_ids=ids, response_mask=mask, rewards=rewards, group_ids=groups.clone(),
        old_logprobs=logprobs.float() * mask, prompt_ids=[prompts[g] for g in index],
        prompt_texts=[prompt_texts[g] for g in index], response_texts=texts, problem_index=groups.clone(),
        step_ends=step_end_mask(ctx.policy, ids, length_t, ctx.marks), tree_nodes=nodes,
        generated_tokens=forest.generated_tokens(), extras=extras,
    )


def saved_tokens_estimate(lengths: list[int], cut: list[bool], groups: list[int]) -> int:
    """Tokens early cutoff spared, estimated per pruned leaf as (mean length of its group's unpruned
    leaves − its own length)⁺, or (longest leaf of the batch − its length)⁺ when all its group was pruned."""
    lengths_a, cut_a, groups_a = np.asarray(lengths), np.asarray(cut, dtype=bool), np.asarray(groups)
    if not cut_a.any():
        return 0
    saved = 0.0
    for row in np.flatnonzero(cut_a):
        whole = (groups_a == groups_a[row]) & ~cut_a
        typical = lengths_a[whole].mean() if whole.any() else lengths_a.max()
        saved += max(0.0, typical - lengths_a[row])
    return int(round(saved))
