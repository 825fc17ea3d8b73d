"""Pack a grown :class:`SampledForest` into the :class:`RolloutBatch` every sampler returns.

Rows are the leaves, group by group, each tree in depth-first order; row i holds the full response of
leaf i (all its ancestors' tokens, then its own). ``tree_nodes[i, t]`` is the compact id of the node that
generated token t (-1 on padding; ids in order of first appearance, row by row): equal across rows exactly
where they share a generated segment.
"""

from __future__ import annotations

from itertools import chain

import numpy as np

from treecredit.sampling.branch_stats import branch_points, leaf_branch_depth
from treecredit.sampling.leaf_scores import leaf_texts, score_leaves
from treecredit.sampling.rollout import RolloutBatch, step_end_mask
from treecredit.sampling.tree_table import SampledForest


def pack_forest(ctx, forest: SampledForest, prompts, prompt_texts, prefill_tokens: int) -> RolloutBatch:
    """The rollout of ``forest`` (see the module docstring); branch statistics go to ``extras``."""
    import torch

    leaves = forest.leaves()
    paths = [forest.path(leaf) for leaf in leaves]
    table = _RowTable(forest, paths)
    T = table.width
    ids = torch.from_numpy(table.rows(table.tokens, ctx.policy.pad_id))
    nodes = torch.from_numpy(table.rows(table.compact, -1))
    logprobs = torch.from_numpy(table.rows(table.column(forest.logprobs, np.float64), 0.0))
    uniforms = torch.from_numpy(table.rows(table.column(forest.uniforms, np.float64), 0.0))
    lengths = table.lengths.tolist()
    length_t = torch.from_numpy(table.lengths)
    mask = torch.arange(T)[None, :] < length_t[:, None]  # (B,T)
    responses = [row[:n] for row, n in zip(ids.tolist(), lengths)]  # each leaf's response ids
    groups = torch.tensor([forest.group[leaf] for leaf in leaves], dtype=torch.long)
    texts = leaf_texts(ctx, forest, leaves, responses)  # those scored during adaptive rounds made once
    cut = [forest.status[leaf] == "cut" for leaf in leaves]
    # pruned leaves get the failure reward; leaves adaptive branching scored keep their rewards
    rewards = torch.tensor(score_leaves(ctx, forest, leaves, responses, texts), dtype=torch.float32)
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
        step_ends=step_end_mask(ctx.policy, ids, length_t, ctx.marks, texts), tree_nodes=nodes,
        generated_tokens=forest.generated_tokens(), extras=extras,
    )


class _RowTable:
    """The rows of the leaves' ``paths`` (root-to-leaf node ids) as index arrays into the forest's per-node lists
    laid end to end: row r holds its path's nodes' tokens one after another, then padding.

    Attributes:
        width: T, the longest row; lengths: ``(B,)`` int64 tokens of each row.
        tokens: ``(K,)`` int64 the token of each of the K filled cells, row by row; compact: ``(K,)`` int64 the
            node of each cell numbered in order of first use (rows in order, each root to leaf), so that the
            ids do not depend on the order in which the nodes were created.
    """

    def __init__(self, forest: SampledForest, paths: list[list[int]]) -> None:
        sizes = np.fromiter((len(t) for t in forest.tokens), dtype=np.int64, count=len(forest.tokens))
        self.starts = np.cumsum(sizes) - sizes  # where each node's tokens begin in the lists laid end to end
        self.total = int(sizes.sum())
        path_nodes = np.fromiter(chain.from_iterable(paths), dtype=np.int64)
        compact: dict = {}
        for node in path_nodes.tolist():
            compact.setdefault(node, len(compact))
        per_path = sizes[path_nodes]  # tokens of each (row, node) entry
        entries_per_row = np.fromiter((len(path) for path in paths), dtype=np.int64, count=len(paths))
        row_of_entry = np.repeat(np.arange(len(paths)), entries_per_row)
        self.lengths = np.bincount(row_of_entry, weights=per_path, minlength=len(paths)).astype(np.int64)
        self.width = int(self.lengths.max())
        entry = np.repeat(np.arange(len(path_nodes)), per_path)  # the entry of each filled cell, row by row
        first_cell = np.cumsum(per_path) - per_path
        within = np.arange(len(entry)) - first_cell[entry]  # offset of the cell inside its node's tokens
        self.source = self.starts[path_nodes][entry] + within  # index into the lists laid end to end
        row = row_of_entry[entry]
        row_first = np.cumsum(self.lengths) - self.lengths
        self.cells = (row, np.arange(len(entry)) - row_first[row])  # (row, column) of each filled cell
        self.tokens = self.column(forest.tokens, np.int64)
        codes = np.fromiter((compact[n] for n in path_nodes.tolist()), dtype=np.int64, count=len(path_nodes))
        self.compact = codes[entry]

    def column(self, per_node: list[list], dtype) -> np.ndarray:
        """``(K,)`` the values of ``per_node`` (one list per node, as long as its tokens) at the filled cells."""
        flat = np.fromiter(chain.from_iterable(per_node), dtype=dtype, count=self.total)
        return flat[self.source]

    def rows(self, values: np.ndarray, pad) -> np.ndarray:
        """``(B, T)``: ``values`` at the filled cells, ``pad`` elsewhere."""
        out = np.full((len(self.lengths), self.width), pad, dtype=values.dtype)
        out[self.cells] = values
        return out


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
