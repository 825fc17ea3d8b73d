"""The decoding engine of the tree sampler: grow open nodes of a :class:`SampledForest` token by token.

All open chains of all groups decode together in one batch with the policy's KV cache. After each token
a chain may stop (a stop token), hit the length cap, be pruned by early cutoff at a step end, or fork:
its node closes and k child nodes open. A fork never recomputes the prefix: the chain's cache row is
stepped once with the fork token and then copied to the k children with ``Policy.select``, and its next
logits are shared; each child then draws its own next token.

Every token is drawn by inversion, token = min{v : F(v) > u} with F the cumulative distribution of
π^(1/τ) restricted to the top-p nucleus and u ~ U[0, 1) from the seeded generator, and u is recorded, so
any path can be replayed from scratch with the same draws (the tests do this).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, Sequence

from treecredit.sampling.cutoff import last_step_wrong
from treecredit.sampling.tree_table import SampledForest


def draw_tokens(logits, uniforms, temperature: float, top_p: float):
    """Token ids ``(R,)`` picked by inversion of ``uniforms (R,)`` in π^(1/τ) within the top-p nucleus."""
    import torch

    if temperature == 0:
        return logits.argmax(-1)
    probs = torch.softmax(logits.to(torch.promote_types(logits.dtype, torch.float32)) / temperature, dim=-1)
    if top_p < 1.0:
        sorted_probs, order = probs.sort(dim=-1, descending=True)
        before = sorted_probs.cumsum(-1) - sorted_probs
        sorted_probs = sorted_probs.masked_fill(before >= top_p, 0.0)  # the top token always stays
        probs = torch.zeros_like(probs).scatter(-1, order, sorted_probs)
    cdf = probs.cumsum(-1)  # (R,V)
    target = (uniforms.to(cdf.dtype) * cdf[:, -1]).unsqueeze(-1)  # (R,1)
    return torch.searchsorted(cdf, target, right=True).squeeze(-1).clamp(max=probs.shape[-1] - 1)


def token_stats(logits, tokens):
    """``(log π(token), entropy of π)`` at temperature 1, each ``(R,)``."""
    import torch

    logp = torch.log_softmax(logits.to(torch.promote_types(logits.dtype, torch.float32)), dim=-1)  # (R,V)
    return logp.gather(-1, tokens[:, None]).squeeze(-1), -(logp.exp() * logp).sum(-1)


class ForkRule(Protocol):
    def children(self, forest: SampledForest, node: int, at_step_end: bool) -> int:
        """New children to open after the token just appended to ``node`` (0 = keep going)."""


@dataclass
class GrowContext:
    """What decoding needs besides the model state.

    Attributes:
        policy, task: the model adapter and the task.
        problems: the problem of each group (index = group id of the forest).
        temperature, top_p, max_new_tokens: as in :class:`IIDSampler`.
        stop_ids: ids that end a chain; marks: texts that close a step (delimiter, end marker).
        cutoff: prune at a wrong step (already resolved for the task, see :mod:`cutoff`).
    """

    policy: object
    task: object
    problems: Sequence
    temperature: float
    top_p: float
    max_new_tokens: int
    stop_ids: list
    marks: tuple
    cutoff: bool = False

    def count_marks(self, ids: list[int]) -> int:
        text = self.policy.decode(ids)
        return sum(text.count(mark) for mark in self.marks)


def grow(ctx: GrowContext, forest: SampledForest, logits, state, nodes: list[int], generator,
         fork_rule: ForkRule | None = None) -> None:
    """Decode the open ``nodes`` (row r of ``state``/``logits (R, V)`` continues ``nodes[r]``) until every
    chain below them has stopped, been capped or cut; forks follow ``fork_rule`` (None: never)."""
    import torch

    rows = list(nodes)
    paths = [forest.path_tokens(n) for n in rows]
    seen = [ctx.count_marks(p) for p in paths]
    stop = set(ctx.stop_ids)
    while rows:
        uniforms = torch.rand(len(rows), generator=generator, dtype=torch.float64)
        tokens = draw_tokens(logits, uniforms, ctx.temperature, ctx.top_p)
        logp, entropy = token_stats(logits, tokens)
        keep: list[tuple[int, int]] = []  # (row, children to open)
        drawn = zip(tokens.tolist(), logp.tolist(), entropy.tolist(), uniforms.tolist())
        for r, (node, (token, token_logp, token_entropy, u)) in enumerate(zip(rows, drawn)):
            forest.tokens[node].append(token)
            forest.logprobs[node].append(token_logp)
            forest.entropy[node].append(token_entropy)
            forest.uniforms[node].append(u)
            paths[r].append(token)
            if token in stop:
                forest.status[node] = "stop"
                continue
            count = ctx.count_marks(paths[r])
            at_step_end = count > seen[r]
            seen[r] = count
            if at_step_end:
                forest.step_end_offsets[node].append(len(forest.tokens[node]) - 1)
                group = forest.group[node]
                if ctx.cutoff and last_step_wrong(ctx.task, ctx.problems[group], ctx.policy.decode(paths[r])):
                    forest.status[node] = "cut"
                    continue
            if len(paths[r]) >= ctx.max_new_tokens:
                forest.status[node] = "cap"
                continue
            keep.append((r, fork_rule.children(forest, node, at_step_end) if fork_rule else 0))
        if not keep:
            break
        index = torch.tensor([r for r, _ in keep], dtype=torch.long)
        if len(keep) < len(rows):
            state = ctx.policy.select(state, index)
        logits, state = ctx.policy.step(state, tokens.index_select(0, index))
        new_rows, new_paths, new_seen, repeat = [], [], [], []
        for j, (r, k) in enumerate(keep):
            node = rows[r]
            targets = [node]
            if k > 0:
                forest.status[node] = "inner"
                targets = [forest.add_node(forest.group[node], node) for _ in range(k)]
            for target in targets:
                new_rows.append(target)
                new_paths.append(list(paths[r]))
                new_seen.append(seen[r])
                repeat.append(j)
        if len(repeat) > len(keep):
            repeat_index = torch.tensor(repeat, dtype=torch.long)
            state = ctx.policy.select(state, repeat_index)
            logits = logits.index_select(0, repeat_index)
        rows, paths, seen = new_rows, new_paths, new_seen


def grow_from_prefixes(ctx: GrowContext, forest: SampledForest, prompts: list[list[int]],
                       points: list[tuple[int, int, int]], generator, fork_rule: ForkRule | None = None) -> int:
    """Open children at fork ``points`` and grow them; returns the prefill tokens spent.

    A point is ``(group, node, k)``: k new children after the end of ``node`` (-1: after the prompt of
    ``group``). Each point's prefix (prompt + path) is prefilled once and its cache copied to its k
    children. ``prompts[group]`` are the prompt ids of each group.
    """
    import torch

    points = [p for p in points if p[2] > 0]
    if not points:
        return 0
    prefixes = [prompts[g] + (forest.path_tokens(n) if n >= 0 else []) for g, n, _ in points]
    logits, state = ctx.policy.prefill(prefixes)
    repeat = torch.tensor([i for i, (_, _, k) in enumerate(points) for _ in range(k)], dtype=torch.long)
    state = ctx.policy.select(state, repeat)
    logits = logits.index_select(0, repeat)
    nodes = []
    for g, n, k in points:
        if n >= 0:
            forest.status[n] = "inner"
        nodes += [forest.add_node(g, n) for _ in range(k)]
    grow(ctx, forest, logits, state, nodes, generator, fork_rule)
    return sum(len(p) for p in prefixes)
