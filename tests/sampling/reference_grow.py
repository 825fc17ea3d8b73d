"""The tree sampler's first decoding engine, kept as the tests' reference: one loop that forks as it goes.

All open chains of all groups decode together in one batch with the policy's KV cache. After each token
a chain may stop (a stop token), hit the length cap, be pruned by early cutoff at a step end, or fork:
its node closes and k child nodes open; the chain's cache row is stepped once with the fork token and
copied to the k children (``Policy.select``), which share its next logits. Fork points opened between
rounds prefill their prefix once and copy it to their children.

It draws exactly as the sampler does (counter-based uniforms of each chain, :mod:`treecredit.sampling.draws`),
so the round-based :class:`SegmentGrower` must grow the very same forest from the same seed: that is
what the tests check. It speaks to a policy directly, never to a generation backend.
"""

from __future__ import annotations

import torch

from treecredit.sampling.cutoff import last_step_wrong
from treecredit.sampling.draws import draw_tokens, prompt_key, token_stats
from treecredit.sampling.draws import uniforms as draw_uniforms
from treecredit.sampling.tree_table import SampledForest


class InLoopGrower:
    """Same ``grow_roots`` / ``grow_points`` calls as :class:`SegmentGrower`, decoded in one forking loop."""

    def __init__(self, ctx, prompts):
        self.ctx, self.prompts = ctx, prompts
        self.prefill_tokens = 0

    def grow_roots(self, forest: SampledForest, width: int, rule=None) -> None:
        self.grow_points(forest, [(g, -1, width) for g in range(len(self.prompts))], rule)

    def grow_points(self, forest: SampledForest, points, rule=None) -> None:
        points = [p for p in points if p[2] > 0]
        if not points:
            return
        prefixes = [self.prompts[g] + (forest.path_tokens(n) if n >= 0 else []) for g, n, _ in points]
        self.prefill_tokens += sum(len(p) for p in prefixes)
        with torch.no_grad():
            logits, state = self.ctx.policy.prefill(prefixes)
            repeat = torch.tensor([i for i, (_, _, k) in enumerate(points) for _ in range(k)], dtype=torch.long)
            state = self.ctx.policy.select(state, repeat)
            nodes = []
            for g, n, k in points:
                parent = forest.chain[n] if n >= 0 else prompt_key(self.ctx.seed, g)
                if n >= 0:
                    forest.status[n] = "inner"
                nodes += [forest.add_node(g, n, key) for key in forest.open_chains(parent, forest.end(n), k)]
            self._grow(forest, logits.index_select(0, repeat), state, nodes, rule)

    def _count_marks(self, ids) -> int:
        text = self.ctx.policy.decode(ids)
        return sum(text.count(mark) for mark in self.ctx.marks)

    def _grow(self, forest, logits, state, nodes, rule) -> None:
        ctx = self.ctx
        rows = list(nodes)
        paths = [forest.path_tokens(n) for n in rows]
        seen = [self._count_marks(p) for p in paths]
        stop = set(ctx.stop_ids)
        while rows:
            u = draw_uniforms([forest.chain[n] for n in rows], [forest.end(n) for n in rows])
            tokens = draw_tokens(logits, u, ctx.temperature, ctx.top_p)
            _, logp, entropy = token_stats(logits, tokens)
            keep = []  # (row, children to open)
            drawn = zip(tokens.tolist(), logp.tolist(), entropy.tolist(), u.tolist())
            for r, (node, (token, token_logp, token_entropy, draw)) in enumerate(zip(rows, drawn)):
                forest.tokens[node].append(token)
                forest.logprobs[node].append(token_logp)
                forest.entropy[node].append(token_entropy)
                forest.uniforms[node].append(draw)
                paths[r].append(token)
                if token in stop:
                    forest.status[node] = "stop"
                    continue
                count = self._count_marks(paths[r])
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
                keep.append((r, rule.fork_children(forest, node, at_step_end) if rule else 0))
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
                    keys = forest.open_chains(forest.chain[node], forest.end(node), k)
                    targets = [forest.add_node(forest.group[node], node, key) for key in keys]
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


def reference_tree(sampler, policy, task, problems, group_size, seed):
    """The rollout the reference engine grows for ``sampler``'s strategy (no replay, no Monte Carlo)."""
    from treecredit.sampling.tree_pack import pack_forest

    prompt_texts = [task.format_prompt(p) for p in problems]
    prompts = [policy.encode_prompt(t) for t in prompt_texts]
    ctx = sampler.context(policy, task, problems, seed)
    ctx.with_entropy = True
    forest = SampledForest()
    grower = InLoopGrower(ctx, prompts)
    policy.module.eval()
    sampler.strategy.grow_trees(grower, forest, group_size)
    return pack_forest(ctx, forest, prompts, prompt_texts, grower.prefill_tokens)
