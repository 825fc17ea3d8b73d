"""Monte Carlo prefix values for ``vine``: K extra rollouts from every step end (never trained on).

For each distinct prefix that ends at a step end of some row (the last step end of a row excluded:
``vine`` reads the row's reward there), K continuations are sampled with the same temperature, top-p,
length cap and cutoff as the tree, and

    mc_values[i, t] = (1/K) Σ_k R(prefix_i,≤t ⊕ continuation_k)

for every row i through that prefix; 0 elsewhere. Prefixes shared by several rows (a tree's shared
segments) are rolled out once. Each prefix is prefilled once and its cache copied to its K rows; the
rollouts of up to ``PREFIX_CHUNK`` prefixes go through the backend together, one ``generate`` call per
round. Rollout k from a prefix draws with the chain key of continuation k at that prefix (a key made of
the call's seed, the group and the prefix ids), so the values do not depend on chunking.
"""

from __future__ import annotations

from treecredit.sampling.draws import combine
from treecredit.sampling.leaf_scores import leaf_rewards
from treecredit.sampling.rounds import SegmentGrower
from treecredit.sampling.tree_table import SampledForest

PREFIX_CHUNK = 128


def monte_carlo_values(ctx, backend, rollout, prompts_by_group, k: int):
    """``(mc_values (B, T) float32, rollout tokens generated)`` for ``rollout`` (see the module docstring)."""
    import torch

    B, T = rollout.shape
    ids, ends, mask = rollout.response_ids, rollout.step_ends, rollout.response_mask
    lengths = mask.sum(1).tolist()
    where: dict = {}  # (group, prefix ids) -> [(row, t)]
    for row in range(B):
        group = int(rollout.group_ids[row])
        for t in torch.nonzero(ends[row]).flatten().tolist():
            if t < lengths[row] - 1:
                where.setdefault((group, tuple(ids[row, : t + 1].tolist())), []).append((row, t))
    values = torch.zeros((B, T), dtype=torch.float32)
    spent = 0
    keys = list(where)
    for start in range(0, len(keys), PREFIX_CHUNK):
        chunk = keys[start:start + PREFIX_CHUNK]
        means, tokens = _rollout_prefixes(ctx, backend, chunk, prompts_by_group, k)
        spent += tokens
        for key, mean in zip(chunk, means):
            for row, t in where[key]:
                values[row, t] = mean
    return values, spent


def _rollout_prefixes(ctx, backend, keys, prompts_by_group, k: int):
    scratch = SampledForest()
    heads = []
    for group, prefix in keys:
        head = scratch.add_node(group, -1, combine(ctx.seed, 0x6D6376616C, group, *prefix))
        scratch.tokens[head] = list(prefix)
        heads.append(head)
    grower = SegmentGrower(ctx, backend, prompts_by_group)
    grower.grow_points(scratch, [(scratch.group[h], h, k) for h in heads])
    backend.release([key for key in dict.fromkeys(scratch.kept) if key is not None])
    rewards = leaf_rewards(ctx, scratch)
    means = [sum(rewards[leaf] for leaf in scratch.leaves_below(h)) / k for h in heads]
    return means, sum(len(scratch.tokens[n]) for n in range(len(scratch)) if n not in set(heads))
