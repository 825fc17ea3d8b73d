"""The built-in generation backend: any :class:`Policy` (small GPT, ``transformers``) with its KV cache.

One :meth:`KVCacheBackend.generate` call decodes every continuation of every request together, in one
batch, token by token:

1. prefixes without a kept state are prefilled once each (identical prefixes once in all); prefixes
   with a ``cache_key`` continue from the kept state, truncated to the prefix when the prefix ends
   inside the kept context (a fork in the middle of a segment), with one step over the prefix's last
   token; the state of a request is copied to its ``n`` rows (``Policy.select``);
2. each row draws its token by inversion with the counter-based uniform of its chain
   (:mod:`treecredit.sampling.draws`), so the draws do not depend on how rows are batched;
3. a row ends on a stop id, on the token that completes a stop string (:class:`StopMatcher`, a window
   of the last tokens, not the whole text; asked only at the tokens that can complete one,
   :mod:`treecredit.sampling.stop_rows`), or at ``max_tokens``; if its request has a ``keep_key`` its
   state is kept under ``(keep_key, seq)`` until :meth:`release`.

Per token a :class:`Segment` carries the log-probability under the distribution sampled from, log π at
temperature 1 (``base_logprobs``), the entropy of π (unless ``settings.with_entropy`` is False) and the
uniform that drew it. :meth:`score` gives the same sampled-distribution log-probabilities for given
continuations by teacher forcing through the same prefill/step code.
"""

from __future__ import annotations

import contextlib
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

from treecredit._validation import fail
from treecredit.sampling.backend import SamplingSettings, Segment, SegmentRequest
from treecredit.sampling.draws import (
    child_keys,
    combine,
    draw_and_score,
    sampled_logprobs,
    seed_from,
)
from treecredit.sampling.draws import uniforms as draw_uniforms
from treecredit.sampling.kv_states import concat_states, snapshot, truncate_state
from treecredit.sampling.stop_rows import RowStops, quiet_tokens, window_is_whole
from treecredit.text_pieces import pieces_of


@dataclass
class _Kept:
    state: object  # DecodeState holding this row (and maybe others)
    row: int
    context: tuple  # prefix + segment tokens; the state covers context[:-1]


class _KeptStates(dict):
    """``{key: _Kept}`` of a backend's kept states, each tuple key ``(k, ...)`` also filed under its first element
    ``k``, so that :meth:`KVCacheBackend.release` drops a key's ``(k, seq)`` states without reading every kept state
    (at 64 prompts × 8 leaves ≈ 500 of them: ≈ 0.35 ms a release, one per cancelled speculation or replaced kept
    state, docs/performance.md [3a])."""

    def __init__(self) -> None:
        super().__init__()
        self.under: dict = {}  # k → {tuple key (k, ...): None}, in insertion order

    def __setitem__(self, key, value) -> None:
        if isinstance(key, tuple) and key and key not in self:
            self.under.setdefault(key[0], {})[key] = None
        super().__setitem__(key, value)

    def __delitem__(self, key) -> None:
        super().__delitem__(key)
        self._unfile(key)

    def pop(self, key, *default):
        if key in self:
            self._unfile(key)
        return super().pop(key, *default)

    def clear(self) -> None:
        super().clear()
        self.under.clear()

    def _unfile(self, key) -> None:
        if isinstance(key, tuple) and key:
            filed = self.under.get(key[0])
            if filed is not None:
                filed.pop(key, None)
                if not filed:
                    del self.under[key[0]]

    def update(self, *args, **kwargs) -> None:
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    def setdefault(self, key, default=None):
        if key not in self:
            self[key] = default
        return self[key]

    def popitem(self):
        key, value = super().popitem()
        self._unfile(key)
        return key, value

    def release(self, keys) -> None:
        """Drop every key of ``keys`` and every tuple key whose first element is one of them."""
        for k in set(keys):
            self.pop(k, None)
            for key in list(self.under.get(k, ())):
                self.pop(key, None)


@dataclass(slots=True)
class _Row:
    request: int
    seq: int
    key: int
    position: int  # response position of the next token
    max_tokens: int
    stop_ids: frozenset
    matcher: RowStops | None
    segment: Segment


class KVCacheBackend:
    """:class:`GenerationBackend` over a :class:`Policy` (see the module docstring).

    Args:
        policy: the model adapter (``prefill``, ``step``, ``select``, ``decode``, ``pad_id``, ``eos_id``).

    Attributes:
        calls: number of ``generate`` and ``stream`` calls so far (tests and benchmarks count rounds with it).
        steps: decoding steps so far (one token drawn for every row of the batch).
        prefill_tokens: prefix tokens prefilled so far (kept states spare them).
    """

    def __init__(self, policy) -> None:
        self.policy = policy
        self.pad_id = int(policy.pad_id)
        self.eos_ids = (int(policy.eos_id),)
        self.kept: dict = _KeptStates()
        self._quiet: dict = {}  # stop strings → their QuietTokens (sampling.stop_rows)
        self.calls = 0
        self.steps = 0
        self.prefill_tokens = 0

    def decode(self, ids: Sequence[int]) -> str:
        return self.policy.decode(list(ids))

    def release(self, keys: Sequence[Hashable] = ()) -> None:
        """Forget kept states (all when ``keys`` is empty; a key ``k`` also drops every ``(k, seq)``)."""
        if not keys:
            self.kept.clear()
            return
        if isinstance(self.kept, _KeptStates):
            self.kept.release(keys)
            return
        drop = set(keys)  # a plain dict put there by a caller: read every entry
        self.kept = {k: v for k, v in self.kept.items() if k not in drop and not (isinstance(k, tuple) and k
                                                                                  and k[0] in drop)}

    def _check(self, requests: Sequence[SegmentRequest]) -> None:
        for i, r in enumerate(requests):
            if len(r.prefix) < 1:
                fail("requests", f"request {i} has an empty prefix", "give at least one prompt token")
            if r.n < 1 or r.max_tokens < 1:
                fail("requests", f"request {i} asks n={r.n}, max_tokens={r.max_tokens}", "ask n ≥ 1 and max_tokens ≥ 1")
            if not 0 <= r.response_start <= len(r.prefix):
                fail("requests", f"request {i} has response_start={r.response_start} outside its prefix",
                     "pass the prompt length")
            if r.chain_keys is not None and len(r.chain_keys) != r.n:
                fail("requests", f"request {i} has {len(r.chain_keys)} chain_keys for n={r.n}",
                     "give one key per continuation")
            if r.cache_key is not None:
                kept = self.kept.get(r.cache_key)
                if kept is None:
                    fail("requests", f"request {i} names cache_key {r.cache_key!r}, which is not kept",
                         "keep it with keep_key in an earlier call, or pass cache_key=None")
                if len(r.prefix) > len(kept.context) or tuple(r.prefix) != kept.context[: len(r.prefix)]:
                    fail("requests", f"request {i}: the prefix does not begin the kept context of {r.cache_key!r}",
                         "pass a prefix that the kept segment's context starts with")

    def generate(self, requests: Sequence[SegmentRequest], settings: SamplingSettings | None = None,
                 generator=None) -> list[list[Segment]]:
        """For each request, its ``n`` segments, in request order (one batched decode for all).

        ``settings``: temperature, top-p, entropies (default :class:`SamplingSettings()`)."""

        settings = settings or SamplingSettings()
        self._check(requests)
        self.calls += 1
        if not requests:
            return []
        with self._decoding():
            return self._generate(requests, settings, generator)

    def stream(self, requests: Sequence[SegmentRequest], settings: SamplingSettings, on_end, max_rows: int = 0,
               on_step=None, cancelled: set | None = None) -> None:
        """Continuous batching: decode ``requests``; after each step hand the continuations that ended to
        ``on_end(ended) -> new requests``, which join the batch at the next step (see
        :mod:`treecredit.sampling.kv_stream`). The segments are those :meth:`generate` rounds return.
        ``max_rows``: how many rows the caller expects the batch to hold at most (a hint for its spare rows);
        ``on_step``, ``cancelled``: forks from live rows and dropped rows (speculation, see :func:`run_stream`)."""
        from treecredit.sampling.kv_stream import run_stream

        self.calls += 1
        if requests:
            with self._decoding():
                run_stream(self, requests, settings, on_end, max_rows, on_step, cancelled)

    @contextlib.contextmanager
    def _decoding(self):
        """No gradients, the module in eval mode (its mode restored after)."""
        import torch

        module = getattr(self.policy, "module", None)
        was_training = bool(module.training) if module is not None else False
        if module is not None:
            module.eval()
        try:
            with torch.no_grad():
                yield
        finally:
            if module is not None:
                module.train(was_training)

    def _start(self, requests):
        """``(logits (M, V), state, row)``: M rows, each after a whole prefix; ``row[i]`` is request i's row
        (identical prefixes without a kept state share one)."""
        import torch

        fresh = [i for i, r in enumerate(requests) if r.cache_key is None]
        cached = [i for i, r in enumerate(requests) if r.cache_key is not None]
        parts, row = [], [0] * len(requests)
        if fresh:
            unique: dict = {}
            for i in fresh:
                row[i] = unique.setdefault(tuple(requests[i].prefix), len(unique))
            prompts = [list(p) for p in unique]
            self.prefill_tokens += sum(len(p) for p in prompts)
            parts.append(self.policy.prefill(prompts))
        if cached:
            offset = int(parts[0][1].key_valid.shape[0]) if parts else 0
            kept = {i: self.kept[requests[i].cache_key] for i in cached}
            states, order = [], []  # order: the request of each merged row
            for source in dict.fromkeys(id(k.state) for k in kept.values()):
                mine = [i for i in cached if id(kept[i].state) == source]
                states.append(self.policy.select(kept[mine[0]].state, torch.tensor([kept[i].row for i in mine])))
                order += mine
            merged = concat_states(self.policy, states)
            merged = truncate_state(merged, torch.tensor([len(requests[i].prefix) - 1 for i in order]))
            last = torch.tensor([requests[i].prefix[-1] for i in order], dtype=torch.long)
            parts.append(self.policy.step(merged, last))
            for m, i in enumerate(order):
                row[i] = offset + m
        logits = torch.cat([p[0] for p in parts]) if len(parts) > 1 else parts[0][0]
        return logits, concat_states(self.policy, [p[1] for p in parts]), row

    def _rows(self, requests, generator, first: int = 0) -> list[_Row]:
        """A row per continuation; request ids count from ``first``."""
        rows = []
        pieces = self._pieces() if any(r.stop_strings for r in requests) else None
        for i, r in enumerate(requests, start=first):
            keys = r.chain_keys
            if keys is None:
                base = r.seed if r.seed is not None else (seed_from(generator) if generator is not None else i)
                keys = child_keys(combine(base), len(r.prefix) - r.response_start, 0, r.n)
            response = r.prefix[r.response_start:]
            stop_ids = frozenset(r.stop_ids)
            quiet = quiet_tokens(self._quiet, self.decode, r.stop_strings, pieces) if r.stop_strings else None
            tail, whole = window_is_whole(quiet, response)
            for j in range(r.n):
                stops = RowStops(self.decode, r.stop_strings, response, quiet, tail, whole) if r.stop_strings else None
                rows.append(_Row(i, j, int(keys[j]), len(response), r.max_tokens, stop_ids, stops,
                                 Segment([], [], [], "length", [], base_logprobs=[])))
        return rows

    def _pieces(self):
        """The pieces of :meth:`decode` (:func:`treecredit.text_pieces.pieces_of`), or the policy's own
        (``text_pieces()``, e.g. the small GPT's character tokenizer), or None (stop strings then decode
        windows)."""
        pieces = pieces_of(self.decode)
        if pieces is None and callable(getattr(self.policy, "text_pieces", None)):
            pieces = self.policy.text_pieces()
        return pieces

    def _generate(self, requests, settings: SamplingSettings, generator):
        import torch

        logits, state, start = self._start(requests)
        rows = self._rows(requests, generator)
        repeat = torch.tensor([start[row.request] for row in rows], dtype=torch.long)
        logits, state = logits.index_select(0, repeat), self.policy.select(state, repeat)
        out = [[None] * r.n for r in requests]
        slots: list = list(rows)  # the row of each batch position of `state`; None once it has ended
        while True:
            active, live, tokens, ended = self._draw_step(logits, slots, settings)
            for r in ended:
                row = live[r]
                out[row.request][row.seq] = row.segment
                slots[active[r]] = None
            self._keep(requests, [live[r] for r in ended], [active[r] for r in ended], state)
            if len(ended) == len(live):
                return out
            step_tokens = torch.full((len(slots),), self.pad_id, dtype=torch.long)
            step_tokens[torch.tensor(active)] = tokens
            going = [b for b, row in enumerate(slots) if row is not None]
            if 4 * (len(slots) - len(going)) >= len(slots):  # compact: drop ended rows (an ended row is stepped
                index = torch.tensor(going, dtype=torch.long)  # on, unread, until a quarter of the batch has)
                state, step_tokens = self.policy.select(state, index), step_tokens[index]
                slots = [slots[b] for b in going]
            logits, state = self.policy.step(state, step_tokens)

    def _draw_step(self, logits, slots: list, settings: SamplingSettings):
        """Draw a token for every live row of the batch (``slots``: its rows, None where one has ended) and
        append it: ``(active batch positions, live rows, tokens (len(live),), indices in live of rows that ended)``."""
        import torch

        self.steps += 1
        active = [b for b, row in enumerate(slots) if row is not None]
        live = [slots[b] for b in active]
        here = logits if len(active) == len(slots) else logits.index_select(0, torch.tensor(active))
        u = draw_uniforms([row.key for row in live], [row.position for row in live])
        tokens, sampled, base, entropy = draw_and_score(here, u, settings.temperature, settings.top_p,
                                                        settings.with_entropy)
        return active, live, tokens, self._append(live, tokens, sampled, base, u, entropy)

    @staticmethod
    def _append(live: list, tokens, sampled, base, u, entropy) -> list[int]:
        """Append each live row's token and numbers to its segment; the indices (in ``live``) of rows that ended.

        One pass over the rows in Python (the columns converted once); stop strings are checked only at the
        tokens that can complete one (:class:`~treecredit.sampling.stop_rows.RowStops`)."""
        ent = entropy.tolist() if entropy is not None else None
        ended = []
        for r, (row, token, lp, bl, uu) in enumerate(zip(live, tokens.tolist(), sampled.tolist(), base.tolist(),
                                                        u.tolist())):
            seg = row.segment
            done = seg.tokens
            done.append(token)
            seg.logprobs.append(lp)
            seg.base_logprobs.append(bl)
            seg.uniforms.append(uu)
            if ent is not None:
                seg.entropies.append(ent[r])
            row.position += 1
            if token in row.stop_ids:
                seg.finish_reason = "stop_id"
            elif row.matcher is not None and row.matcher.push(token, done):
                seg.finish_reason = "stop_string"
            elif len(done) >= row.max_tokens:
                seg.finish_reason = "length"
            else:
                continue
            if ent is None:
                seg.entropies = None
            ended.append(r)
        return ended

    def _keep(self, requests, rows: list, positions: list[int], state) -> None:
        """Keep the state of ``rows`` (ended, at batch ``positions`` of ``state``) whose request has a keep_key."""
        keep = [(row, b) for row, b in zip(rows, positions) if requests[row.request].keep_key is not None]
        if not keep:
            return
        held = snapshot(state)  # the whole batch, uncopied: a later request selects the rows it continues
        for row, b in keep:
            request = requests[row.request]
            self.kept[(request.keep_key, row.seq)] = _Kept(held, b, tuple(request.prefix) + tuple(row.segment.tokens))

    def score(self, prefixes: Sequence[Sequence[int]], continuations: Sequence[Sequence[int]],
              settings: SamplingSettings | None = None):
        """``(B, T)`` float64 log-probabilities of each continuation token under the distribution sampled
        from with ``settings`` (0 past a row's end), by teacher forcing through prefill and step."""
        import torch

        settings = settings or SamplingSettings()
        B, T = len(prefixes), max((len(c) for c in continuations), default=0)
        out = torch.zeros((B, T), dtype=torch.float64)
        if T == 0:
            return out
        ids = torch.full((B, T), self.pad_id, dtype=torch.long)
        for i, c in enumerate(continuations):
            ids[i, : len(c)] = torch.as_tensor(list(c), dtype=torch.long)
        with torch.no_grad():
            logits, state = self.policy.prefill([list(p) for p in prefixes])
            for t in range(T):
                out[:, t] = sampled_logprobs(logits, ids[:, t], settings.temperature, settings.top_p).double()
                if t + 1 < T:
                    logits, state = self.policy.step(state, ids[:, t])
        lengths = torch.tensor([len(c) for c in continuations])
        return out.masked_fill(torch.arange(T)[None, :] >= lengths[:, None], 0.0)
