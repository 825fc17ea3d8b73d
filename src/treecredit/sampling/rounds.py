"""The tree sampler's engine on the segment interface: grow a :class:`SampledForest` in rounds.

A round is one :meth:`GenerationBackend.generate` call across all groups of the batch. Every open piece
of work is a request:

- *open* k new chains at a fork point (a node's end, or the prompt): n = k continuations of the point's
  prefix, each with its own chain key (:meth:`SampledForest.open_chains`);
- *continue* a chain that stopped at a step end only so that the sampler could look at it (early cutoff,
  or a fixed tree that forks at step ends): n = 1, the chain's own key.

Each request continues the KV state the backend kept for the node it starts from (``cache_key``; a fork
in the middle of a kept segment truncates it), so nothing is prefilled twice; only a group's first chains
prefill the prompt. Segments stop at step ends (the task's delimiter and end marker, as stop strings)
only where the sampler must act there; elsewhere step ends are found in the returned tokens.

After a segment, in the order the in-loop decoder used: a stop id ends the chain; a step end may be
pruned by cutoff; the length cap ends it; the fork rule (fixed branching) may open children; otherwise
it continues. A chain of a fork rule that ends (stop id or cap) above the rule's fork levels opens, at
once, the siblings the rule's ``refill`` asks for (the fixed tree's first top-up round), so they grow
while the rest of the phase does instead of after it. Because draws are counter-based, the forest is the
one the in-loop forking decoder (kept in the tests as the reference) grows from the same seed.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from treecredit.sampling.backend import SamplingSettings, SegmentRequest
from treecredit.sampling.cutoff import last_step_wrong
from treecredit.sampling.draws import prompt_key
from treecredit.sampling.stops import policy_pieces, stop_positions
from treecredit.sampling.tree_table import SampledForest


class ForkRule(Protocol):
    """Forks decided while a chain grows (fixed branching)."""

    def fork_children(self, forest: SampledForest, node: int, at_step_end: bool) -> int:
        """New children to open after the last token of ``node`` (0 = keep going)."""

    def max_tokens(self, forest: SampledForest, node: int) -> int | None:
        """Most tokens ``node`` may still grow before the rule looks again (None: no limit)."""

    def stops_at_step_ends(self, forest: SampledForest, node: int) -> bool:
        """Whether the rule must look at ``node`` at its next step end."""

    # Optional: ``refill(forest, node) -> int``, siblings to open at once beside ``node``, a chain grown under
    # the rule that has just ended (not pruned) above its fork level; they grow without a rule (fixed top-up).


@dataclass
class GrowContext:
    """What growing needs besides the backend.

    Attributes:
        policy, task: the model adapter (for decoding text) and the task.
        problems: the problem of each group (index = group id of the forest).
        temperature, top_p, max_new_tokens: as in :class:`IIDSampler`.
        stop_ids: ids that end a chain; marks: texts that close a step (delimiter, end marker).
        cutoff: prune at a wrong step (already resolved for the task, see :mod:`cutoff`).
        seed: the call's seed; chain keys derive from it (:mod:`treecredit.sampling.draws`).
        with_entropy: ask the backend for entropies (the entropy and adaptive strategies need them).
        terminal: texts that end a response (the task's stop strings, e.g. the end of a HumanEval
            function): a chain that completes one stops there, as on a stop id.
        step_ends: find the step ends inside segments that did not stop at one (``forest.step_end_offsets``;
            the entropy and adaptive strategies read them). False for a strategy that does not (fixed
            branching): each such token then costs no decoding of text (two decodes a token, microseconds of
            Python each through ``transformers``). The rollout's ``step_ends`` come from the leaves' text in
            either case (:func:`treecredit.sampling.rollout.step_end_mask`).
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
    seed: int = 0
    with_entropy: bool = True
    terminal: tuple = ()
    step_ends: bool = True

    def settings(self) -> SamplingSettings:
        return SamplingSettings(self.temperature, self.top_p, self.with_entropy)

    @functools.cached_property
    def pieces(self):
        """The token texts of the policy's decode (:func:`~treecredit.sampling.stops.policy_pieces`; None: every
        window decoded), found once: the step-end search inside segments joins them instead of decoding."""
        return policy_pieces(self.policy)


@dataclass
class _Work:
    group: int
    start: int  # node whose path is the prefix (-1: the prompt)
    nodes: list  # nodes that the request's continuations fill, in order
    keys: tuple  # their chain keys
    rule: ForkRule | None = None  # forks decided while they grow


_GROWERS = itertools.count()


class SegmentGrower:
    """Grows a forest through a backend, one ``generate`` call per round (see the module docstring).

    Attributes:
        rounds: ``generate`` calls made.
    """

    def __init__(self, ctx: GrowContext, backend, prompts: list[list[int]]) -> None:
        self.ctx, self.backend, self.prompts = ctx, backend, prompts
        self.rounds = 0
        self.name = next(_GROWERS)  # keeps kept-state keys of different growers apart on one backend

    def grow_roots(self, forest: SampledForest, width: int, rule: ForkRule | None = None) -> None:
        """``width`` root chains per group, grown to the end."""
        self.grow_points(forest, [(g, -1, width) for g in range(len(self.prompts))], rule)

    def grow_points(self, forest: SampledForest, points, rule: ForkRule | None = None) -> None:
        """Open k chains at each point ``(group, node, k)`` (node -1: after the prompt) and grow them."""
        self.run(forest, self.open_work(forest, points, rule))

    def open_work(self, forest: SampledForest, points, rule: ForkRule | None) -> list[_Work]:
        """The work of opening k chains at each point ``(group, node, k)`` (points with k ≤ 0 are skipped)."""
        work = []
        for group, node, k in points:
            if k <= 0:
                continue
            parent = forest.chain[node] if node >= 0 else prompt_key(self.ctx.seed, group)
            keys = forest.open_chains(parent, forest.end(node), k)
            if node >= 0:
                forest.status[node] = "inner"
            work.append(_Work(group, node, [forest.add_node(group, node, key) for key in keys], tuple(keys), rule))
        return work

    def run(self, forest: SampledForest, work: list[_Work]) -> None:
        while work:
            requests = [self.request(forest, item, ("tree", self.name, self.rounds, i)) for i, item in enumerate(work)]
            segments = self.backend.generate(requests, self.ctx.settings())
            self.rounds += 1
            following: list[_Work] = []
            for item, request, segs in zip(work, requests, segments):
                for seq, segment in enumerate(segs):
                    following += self.absorb(forest, item, request, seq, segment)
            work = following

    def request(self, forest: SampledForest, item: _Work, keep_key) -> SegmentRequest:
        """The segment request of ``item``; its continuations' states are kept under ``(keep_key, seq)``."""
        prompt = self.prompts[item.group]
        node, rule = item.nodes[0], item.rule
        path = forest.path_tokens(item.start) if item.start >= 0 else []
        limit = self.ctx.max_new_tokens - len(path)
        if rule is not None:
            own = rule.max_tokens(forest, node)
            limit = min(limit, own) if own is not None else limit
        stops = self.ctx.cutoff or (rule is not None and rule.stops_at_step_ends(forest, node))
        return SegmentRequest(
            prefix=tuple(prompt + path), response_start=len(prompt), n=len(item.nodes), max_tokens=max(1, limit),
            stop_ids=tuple(self.ctx.stop_ids),
            stop_strings=tuple(self.ctx.terminal) + (tuple(self.ctx.marks) if stops else ()),
            keep_key=keep_key, cache_key=self._cache_key(forest, item), chain_keys=item.keys)

    def absorb(self, forest: SampledForest, item: _Work, request: SegmentRequest, seq: int, segment) -> list[_Work]:
        """Take continuation ``seq`` of ``item`` (asked for with ``request``): its node, kept state and what follows."""
        node = item.nodes[seq]
        self._set_kept(forest, node, (request.keep_key, seq))
        at_marks = len(request.stop_strings) > len(self.ctx.terminal)
        return self._absorb(forest, node, segment, item.rule, at_marks)

    def _cache_key(self, forest: SampledForest, item: _Work):
        if item.start >= 0:
            return forest.kept[item.start]
        for node in forest.nodes_of(item.group):  # any root of the group: its context begins with the prompt
            if forest.parent_node[node] < 0 and forest.kept[node] is not None:
                return forest.kept[node]
        return None

    def _set_kept(self, forest: SampledForest, node: int, key) -> None:
        old = forest.kept[node]
        forest.kept[node] = key
        if old is not None and old not in forest.kept:
            self.backend.release([old])

    def _refill(self, forest: SampledForest, node: int, rule) -> list[_Work]:
        """The siblings ``rule.refill`` opens beside the ended ``node`` (none without a rule or a ``refill``);
        the node and its new siblings are recorded in ``forest.topped_up``."""
        refill = getattr(rule, "refill", None)
        k = refill(forest, node) if refill is not None else 0
        if k <= 0:
            return []
        work = self.open_work(forest, [(forest.group[node], forest.parent_node[node], k)], None)
        forest.topped_up.update([node, *work[0].nodes])
        return work

    def _step_ends(self, forest: SampledForest, node: int, segment, before: list) -> list[int]:
        """Offsets in ``segment`` (continuing ``node``, whose response ids so far are ``before``) of the tokens that
        complete a step end (a subclass may know them already: the speculative schedule's growing rows)."""
        ctx = self.ctx
        return stop_positions(ctx.policy.decode, ctx.marks, segment.tokens, before, ctx.pieces)

    def _absorb(self, forest: SampledForest, node: int, segment, rule, stopped_at_marks: bool) -> list[_Work]:
        """Append ``segment`` to ``node`` and decide what follows (see the module docstring)."""
        ctx = self.ctx
        before = forest.path_tokens(node)
        offset = len(forest.tokens[node])
        n = len(segment.tokens)
        forest.tokens[node] += segment.tokens
        forest.logprobs[node] += segment.base_logprobs if segment.base_logprobs is not None else segment.logprobs
        forest.entropy[node] += segment.entropies if segment.entropies is not None else [math.nan] * n
        forest.uniforms[node] += segment.uniforms if segment.uniforms is not None else [math.nan] * n
        terminal = segment.finish_reason == "stop_string" and bool(ctx.terminal) and bool(
            stop_positions(ctx.policy.decode, ctx.terminal, segment.tokens[-1:], before + segment.tokens[:-1],
                           ctx.pieces))
        stopped = segment.finish_reason == "stop_id" or terminal
        if stopped_at_marks:
            ends = [n - 1] if segment.finish_reason == "stop_string" and not terminal else []
        elif not ctx.step_ends:  # nothing reads them (see GrowContext.step_ends)
            ends = []
        else:
            ends = [t for t in self._step_ends(forest, node, segment, before) if not (stopped and t == n - 1)]
        forest.step_end_offsets[node] += [offset + t for t in ends]
        if stopped:
            forest.status[node] = "stop"
            return self._refill(forest, node, rule)
        at_step_end = bool(ends) and ends[-1] == n - 1
        path = before + segment.tokens
        if at_step_end and ctx.cutoff and last_step_wrong(ctx.task, ctx.problems[forest.group[node]],
                                                          ctx.policy.decode(path)):
            forest.status[node] = "cut"
            return []
        if len(path) >= ctx.max_new_tokens:
            forest.status[node] = "cap"
            return self._refill(forest, node, rule)
        k = rule.fork_children(forest, node, at_step_end) if rule is not None else 0
        if k > 0:
            forest.status[node] = "inner"
            keys = forest.open_chains(forest.chain[node], forest.end(node), k)
            return [_Work(forest.group[node], node, [forest.add_node(forest.group[node], node, key) for key in keys],
                          tuple(keys), rule)]
        return [_Work(forest.group[node], node, [node], (forest.chain[node],), rule)]
