"""Monte Carlo prefix values for ``vine``: K extra rollouts from every step end (never trained on).

For each distinct prefix that ends at a step end of some row (the last step end of a row excluded:
``vine`` reads the row's reward there), K continuations are sampled with the same temperature, top-p,
length cap and cutoff as the tree, and

    mc_values[i, t] = (1/K) Σ_k R(prefix_i,≤t ⊕ continuation_k)

for every row i through that prefix; 0 elsewhere. Prefixes shared by several rows (a tree's shared
segments) are rolled out once. Each prefix is prefilled once and its cache copied to its K rows.
"""

from __future__ import annotations

from treecredit.sampling.branching import leaf_rewards
from treecredit.sampling.grow import grow
from treecredit.sampling.tree_table import SampledForest

PREFIX_CHUNK = 128


def monte_carlo_values(ctx, rollout, prompts_by_group, k: int, generator):
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
        means, tokens = _rollout_prefixes(ctx, chunk, prompts_by_group, k, generator)
        spent += tokens
        for key, mean in zip(chunk, means):
            for row, t in where[key]:
                values[row, t] = mean
    return values, spent


def _rollout_prefixes(ctx, keys, prompts_by_group, k: int, generator):
    import torch

    scratch = SampledForest()
    heads = []
    for group, prefix in keys:
        head = scratch.add_node(group, -1)
        scratch.tokens[head] = list(prefix)
        scratch.status[head] = "inner"
        heads.append(head)
    logits, state = ctx.policy.prefill([prompts_by_group[g] + list(p) for g, p in keys])
    repeat = torch.arange(len(keys)).repeat_interleave(k)
    state = ctx.policy.select(state, repeat)
    nodes = [scratch.add_node(scratch.group[heads[i]], heads[i]) for i in repeat.tolist()]
    grow(ctx, scratch, logits.index_select(0, repeat), state, nodes, generator)
    rewards = leaf_rewards(ctx, scratch)
    means = [sum(rewards[leaf] for leaf in scratch.leaves_below(h)) / k for h in heads]
    return means, sum(len(scratch.tokens[n]) for n in nodes)
