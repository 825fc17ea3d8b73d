"""The speculations of :class:`~treecredit.sampling.speculate.SpeculativeGrower`: a group's forecast picks as
segment requests, and their lives (start, keep, adopt, cancel).

:class:`Speculations` is the grower's base: :meth:`~Speculations._speculate` keeps the speculations the group's
forecast still picks, cancels the rest (:meth:`~Speculations._drop`: their rows leave the batch, their tokens are
wasted) and starts the new ones once likely enough to stand (:meth:`~Speculations._chances`); a phase's request that
a speculation asked for exactly takes it over (:meth:`~Speculations._match`, :meth:`~Speculations._adopt`). When to
forecast, and which tokens feed the forecasts, is :mod:`treecredit.sampling.speculate`'s job (its docstring tells the
whole scheme).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

from treecredit.sampling.backend import SegmentRequest
from treecredit.sampling.draws import child_keys, prompt_key
from treecredit.sampling.forecast import standing_chances
from treecredit.sampling.kv_stream import LiveRow
from treecredit.sampling.rounds import _Work
from treecredit.sampling.schedule import StreamGrower
from treecredit.sampling.tree_table import SampledForest

SPEC_NODES = 1 << 40
"""Stand-in node ids of speculative children (above every node of the forest: a real child is created
after every node its group has)."""


@dataclass
class _Spec:
    group: int
    signature: tuple  # (chain key, response position, k[, first key number])
    request: SegmentRequest
    base: int  # stand-in node id of its continuation 0 (seq s: base + s)
    rid: int | None = None  # its request id in the stream (None until sent)
    rows: dict = field(default_factory=dict)  # seq -> the backend's row, once it has drawn
    ended: dict = field(default_factory=dict)  # seq -> segment that ended before the phase
    reserve: bool = False  # a new chain from the prompt started beside the group's first chains (PROMPT_RESERVE)


class Speculations(StreamGrower):
    """Start, keep, adopt and cancel a group's speculative children (module docstring); the state it reads is
    made by :meth:`~treecredit.sampling.speculate.SpeculativeGrower.grow`."""

    _tail: list | None  # tokens drawn so far with entropy in a bin or above it (None: not counted this step)

    def _where(self, forest: SampledForest, node: int):
        """``(chain key, response position of its first token, response tokens through its last token drawn,
        cache key of its context)`` of a forest node or a speculative child's stand-in id."""
        if node < SPEC_NODES:
            row = self._running.get(node)
            response = forest.path_tokens(node) + (row.segment.tokens if row is not None else [])
            cache = LiveRow(row.request, row.seq) if row is not None else forest.kept[node]
            return forest.chain[node], forest.start[node], response, cache
        spec, seq = self._stand_in[node]
        request = spec.request
        segment = spec.rows[seq].segment
        cache = (request.keep_key, seq) if seq in spec.ended else LiveRow(spec.rid, seq)
        start = len(request.prefix) - request.response_start
        return request.chain_keys[seq], start, list(request.prefix[request.response_start:]) + segment.tokens, cache

    def _speculate(self, forest: SampledForest, group: int) -> None:
        """Keep the group's speculations that its forecast still picks, cancel the rest, start the new ones."""
        ctx, prompt = self.ctx, self.prompts[group]

        def sign(node, offset, k):  # node -1: new chains from the prompt (offset -1)
            if node < 0:
                return prompt_key(ctx.seed, group), 0, k
            chain, start = (forest.chain[node], forest.start[node]) if node < SPEC_NODES else self._chain_start(node)
            return chain, start + offset + 1, k

        picks = self._forecasts[group].picks(sign)
        wanted = {pick[0]: pick for pick in picks}
        specs = self._specs.get(group, [])
        keep = [s for s in specs if s.signature in wanted or self._reserved(forest, s)]
        self._drop(group, [s for s in specs if s not in keep])
        have = {s.signature for s in keep}
        chance = self._chances(forest, group, picks) if self._confidence > 0 and len(have) < len(wanted) and \
            getattr(self._forecasts[group], "uses_chances", True) else {}
        for signature, (_, node, *_) in wanted.items():
            if signature in have:
                continue
            if chance and chance[signature] < self._confidence:
                self._due.add(group)
                continue
            if node < 0:  # from the prompt: the state kept for any root of the group, or its row still decoding
                chain, response, cache = signature[0], [], self._cache_key(forest, _Work(group, -1, [], ())) or next(
                    (LiveRow(r.request, r.seq) for n, r in self._running.items() if forest.parent_node[n] < 0 and
                     forest.group[n] == group), None)
            else:
                chain, _, response, cache = self._where(forest, node)
            position, k = signature[1], signature[2]  # a 4th entry numbers the keys on (a forecast's later rounds)
            first = signature[3] if len(signature) > 3 else forest.forks.get((chain, position), 0)
            keys = tuple(child_keys(chain, position, first, k))
            self._serial += 1
            request = SegmentRequest(
                prefix=tuple(prompt + response[:position]), response_start=len(prompt), n=k,
                max_tokens=max(1, ctx.max_new_tokens - position), stop_ids=tuple(ctx.stop_ids),
                stop_strings=tuple(ctx.terminal) + (tuple(ctx.marks) if ctx.cutoff else ()),
                keep_key=("tree", self.name, "speculative", self._serial), cache_key=cache, chain_keys=keys)
            spec = _Spec(group, signature, request, SPEC_NODES + self._serial * 1024)
            for seq in range(k):
                self._stand_in[spec.base + seq] = (spec, seq)
            keep.append(spec)
            self._outbox.append(spec)
        self._specs[group] = keep

    def _reserve(self, group: int, cache, chains: int) -> None:
        """Start ``chains`` new chains from the group's prompt (its context: ``cache``), one speculation each, the
        chain keys that the group's next new chains from the prompt will have, one at a time (a round that opens one
        there adopts the first, a later round that opens one more the second)."""
        ctx, prompt = self.ctx, self.prompts[group]
        chain = prompt_key(ctx.seed, group)
        first = self._forest.forks.get((chain, 0), 0)
        for j in range(chains):
            self._serial += 1
            request = SegmentRequest(
                prefix=tuple(prompt), response_start=len(prompt), n=1, max_tokens=max(1, ctx.max_new_tokens),
                stop_ids=tuple(ctx.stop_ids),
                stop_strings=tuple(ctx.terminal) + (tuple(ctx.marks) if ctx.cutoff else ()),
                keep_key=("tree", self.name, "speculative", self._serial), cache_key=cache,
                chain_keys=tuple(child_keys(chain, 0, first + j, 1)))
            spec = _Spec(group, (chain, 0, 1, first + j), request, SPEC_NODES + self._serial * 1024, reserve=True)
            self._stand_in[spec.base] = (spec, 0)
            self._specs.setdefault(group, []).append(spec)
            self._outbox.append(spec)

    def _reserved(self, forest: SampledForest, spec: _Spec) -> bool:
        """Whether ``spec`` is a reserve (:meth:`_reserve`) that a round still to come may adopt: the group opened no
        chain from the prompt past its key yet, and has a round left."""
        return spec.reserve and forest.forks.get(spec.signature[:2], 0) <= spec.signature[3] and \
            self._yielded[spec.group] <= getattr(self._strategy, "rounds", 0)

    def _chances(self, forest: SampledForest, group: int, picks: list) -> dict:
        """signature -> estimated chance that the pick and those of earlier rounds stand (see :attr:`confidence`)."""
        ended_sum, ended = self._ended
        mean = ended_sum / ended if ended else self.ctx.max_new_tokens / 2
        left = 0.0
        for node in forest.nodes_of(group):
            row = self._running.get(node)
            if row is not None:
                left += max(1.0, mean - forest.start[node] - len(forest.tokens[node]) - len(row.segment.tokens))
        for spec in self._specs.get(group, []):
            start = len(spec.request.prefix) - spec.request.response_start
            for seq, row in spec.rows.items():
                if seq not in spec.ended:
                    left += max(1.0, mean - start - len(row.segment.tokens))
        if self._tail is None:  # tokens drawn so far with entropy in a bin or above it (once a step)
            self._tail = list(itertools.accumulate(reversed(self._hist)))[::-1] + [0]
        return standing_chances(picks, left, self._hist, self._tail)

    def _chain_start(self, node: int) -> tuple[int, int]:
        spec, seq = self._stand_in[node]
        return spec.request.chain_keys[seq], len(spec.request.prefix) - spec.request.response_start

    def _match(self, forest: SampledForest, item: _Work, specs: list) -> _Spec | None:
        """The sent speculation whose request is exactly ``item``'s (None if none)."""
        if not specs:
            return None
        real = self.request(forest, item, None)
        want = (real.prefix, real.chain_keys, real.max_tokens, real.stop_ids, real.stop_strings, real.response_start)
        for spec in specs:
            r = spec.request
            if spec.rid is not None and (r.prefix, r.chain_keys, r.max_tokens, r.stop_ids, r.stop_strings,
                                         r.response_start) == want:
                return spec
        return None

    def _adopt(self, forest: SampledForest, item: _Work, spec: _Spec) -> list[_Work]:
        """``item`` takes over ``spec``'s rows: absorb the segments that already ended, follow the rest."""
        request, rid = spec.request, spec.rid
        del self._spec_of[rid]
        for seq in range(request.n):
            del self._stand_in[spec.base + seq]
        self.adopted += 1
        if len(spec.ended) < request.n:
            self._pending[rid] = [item, request, request.n - len(spec.ended)]
        follow: list[_Work] = []
        for seq in sorted(spec.ended):
            follow += self.absorb(forest, item, request, seq, spec.ended[seq])
        for seq, row in spec.rows.items():
            if seq not in spec.ended:
                self._running[item.nodes[seq]] = row
        self._open[item.group] += len(item.nodes) - len(spec.ended) + sum(len(w.nodes) for w in follow)
        return follow

    def _drop(self, group: int, specs: list) -> None:
        """Cancel ``specs``: rows still decoding leave the batch, kept states are released, tokens are wasted."""
        for spec in specs:
            for seq in range(spec.request.n):
                self._stand_in.pop(spec.base + seq, None)
            if spec.rid is None:
                self._outbox.remove(spec)
                continue
            self._spec_of.pop(spec.rid, None)
            if len(spec.ended) < spec.request.n:
                self._cancelled.add(spec.rid)
            if spec.ended:
                self.backend.release([spec.request.keep_key])
            self._wasted.append(spec)
        forecast = self._forecasts.get(group)
        if forecast is not None:
            forecast.purge({spec.signature for spec in specs})
