"""Random batches with realistic shared prefixes, for tests and the benchmark (NumPy only, seeded).

Two kinds of group:
- ``"iid"``: independent responses whose first tokens come from a small vocabulary, so they share a
  few early tokens and branch early, as i.i.d. samples from one prompt do;
- ``"tree"``: a sampled tree whose nodes are steps of ``step`` tokens; each new response forks from a
  random unfinished node of the group's tree (often deep) and continues with fresh steps, as a tree
  sampler does (a finished response is never extended); ``tree_nodes`` records it.
"""

from __future__ import annotations

import numpy as np

from treecredit.trees.explicit import tree_nodes_from_parents


def synthetic_batch(rng: np.random.Generator, *, n_groups: int, group_size: int, n_tokens: int,
                    tree_fraction: float = 0.5, step: int = 64, vocab: int = 32000, early_vocab: int = 4,
                    early_tokens: int = 6, tool_fraction: float = 0.0) -> dict:
    """A dict with ``response_ids, response_mask, rewards (0/1), group_ids, tree_nodes, mc_values`` and
    ``tree_groups`` (n_groups,) bool: which groups are tree-sampled.

    ``tree_nodes`` is −1 everywhere in i.i.d. groups' rows except that each such row is one node of its
    own (so the explicit tree of an i.i.d. group has no sharing). ``tool_fraction`` of tokens are masked
    inside responses (tool output: part of the prefix, no advantage).
    """
    B, T = n_groups * group_size, n_tokens
    ids = np.zeros((B, T), dtype=np.int64)
    lengths = np.zeros(B, dtype=np.int64)
    parent: list[int] = []
    start: list[int] = []
    end: list[int] = []
    leaves = np.zeros(B, dtype=np.int64)
    node_tokens: list[np.ndarray] = []
    is_tree = rng.random(n_groups) < tree_fraction
    for g in range(n_groups):
        rows = range(g * group_size, (g + 1) * group_size)
        if not is_tree[g]:
            for i in rows:
                n = int(rng.integers(max(1, T // 4), T + 1))
                toks = rng.integers(0, vocab, n)
                toks[:early_tokens] = rng.integers(0, early_vocab, min(early_tokens, n))
                leaves[i] = _add_node(parent, start, end, node_tokens, -1, 0, toks)
            continue
        group_nodes: list[int] = []  # unfinished segments: a finished response is never extended
        for j, i in enumerate(rows):
            fork = int(rng.choice(group_nodes)) if group_nodes and j > 0 else -1
            at = 0 if fork < 0 else end[fork]
            total = int(rng.integers(min(at + 1, T), T + 1))
            node = fork
            while at < total:
                stop = min(at + step, total)
                node = _add_node(parent, start, end, node_tokens, node, at, rng.integers(0, vocab, stop - at))
                group_nodes.append(node)
                at = stop
            leaves[i] = node
            if node in group_nodes:
                group_nodes.remove(node)
    tree_nodes = tree_nodes_from_parents(np.array(parent), np.array(start), np.array(end), leaves, T)
    valid = tree_nodes >= 0
    flat_tokens = np.concatenate(node_tokens) if node_tokens else np.zeros(0, dtype=np.int64)
    offsets = np.concatenate([[0], np.cumsum([len(t) for t in node_tokens])])[:-1]
    node = np.maximum(tree_nodes, 0)
    ids[valid] = flat_tokens[(offsets[node] + np.arange(T)[None, :] - np.array(start)[node])[valid]]
    lengths = valid.sum(axis=1)
    mask = valid.copy()
    if tool_fraction > 0:
        mask &= ~(rng.random((B, T)) < tool_fraction)
        mask[np.arange(B), np.maximum(lengths - 1, 0)] = valid[np.arange(B), np.maximum(lengths - 1, 0)]
    rewards = (rng.random(B) < 0.5).astype(np.float64)
    mc_values = np.clip(rewards[:, None] * 0.5 + rng.random((B, T)) * 0.5, 0, 1).astype(np.float32)
    return dict(response_ids=ids, response_mask=mask.astype(np.int8), rewards=rewards,
                group_ids=np.repeat(np.arange(n_groups), group_size), tree_nodes=tree_nodes,
                mc_values=mc_values, tree_groups=is_tree)


def _add_node(parent, start, end, node_tokens, up, at, toks) -> int:
    parent.append(up)
    start.append(at)
    end.append(at + len(toks))
    node_tokens.append(np.asarray(toks, dtype=np.int64))
    return len(parent) - 1
