"""Continuous batching in the built-in backend: work that follows a finished segment joins the running batch.

:meth:`KVCacheBackend.generate` decodes one round: every continuation it was asked for, to its end, and
returns; a caller with follow-up work (continue a chain, fork children from its end, fork in the middle
of a kept segment) waits for the round's longest segment, then makes a new call. :func:`run_stream` decodes
one batch that never waits: after each model step, the segments that ended at that step are handed to
``on_end``, and the requests it returns join the batch at the next step:

- the first continuation of a request whose ``cache_key`` names the state kept, at this very step, for
  a continuation that just ended, and whose prefix is that continuation's whole context (continue it,
  or fork it at its end), takes that continuation's batch row: the row's last token is stepped with the
  batch, as if nothing had ended; no copy;
- every other continuation with a kept state (further children of a fork, a state kept earlier, a prefix
  cut inside a kept segment) brings its kept row, truncated to the prefix minus the last token
  (:func:`truncate_state`), into the batch, and the prefix's last token is stepped with the batch: a fork
  costs a row of a step, not a call. Where the batch's cache has spare rows (the small GPT's buffers,
  :mod:`treecredit.models.kv_buffer`, and a ``transformers`` cache's, :mod:`treecredit.models.hf_cache`) such
  rows are written into them at once, each copied once from its kept state (:func:`append_kept_rows`),
  nothing of the batch copied; otherwise adding rows copies the whole batch into a new buffer
  (:func:`gather_states`). Where the cache has spare rows but too few (or the batch is being compacted) the
  rows join at once by that copy, which brings new spare rows (max(16, B/2)), so the batch is copied each
  time it outgrows them, a few times per stream; on a cache without spare rows (a policy's own cache, or a
  ``transformers`` cache with ``hf_cache.ROWS_JOIN_IN_PLACE`` off) every join copies, so such rows wait and
  join together: when the batch is compacted anyway, when they are :data:`JOIN_SHARE` of the rows that go
  on, or after :data:`MAX_WAIT` steps;
- a request without a kept state is prefilled, and its rows join after the next step.

Draws are counter-based per chain key and position (:mod:`treecredit.sampling.draws`), so a continuation
draws the same tokens whatever the batch it runs in: a stream returns the segments that rounds of
:meth:`generate` calls return for the same requests.

Rows that ended and were not taken over stay in the batch, stepped with padding and unread (their
position ids frozen at 0), until :data:`DEAD_SHARE` of the batch has ended or rows are copied in; then the batch is
compacted, and leading key columns that no row attends to any more are dropped when they are a quarter
of the columns or more.

Speculation (:mod:`treecredit.sampling.speculate`): ``on_step(live)``, when given, sees the rows drawn at each
step (before ``on_end``; their segments so far) and may return requests that fork from a row that is still
decoding: ``cache_key=LiveRow(request id, seq)`` names that row's context as it is at this step (the
request's prefix must begin it), and the row is copied into the batch like one from a kept state. Request ids
put into ``cancelled`` have their rows dropped from the batch (as if ended, not reported to ``on_end``, their
states not kept); the stream empties the set as it drops them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from treecredit._validation import fail
from treecredit.sampling.backend import SamplingSettings, Segment, SegmentRequest
from treecredit.sampling.kv_states import (
    append_kept_rows,
    append_own_rows,
    concat_states,
    drop_unused_columns,
    gather_states,
    has_spare_rows,
    snapshot,
)
from treecredit.sampling.policy import DecodeState

OnEnd = Callable[[list[tuple[int, int, Segment]]], Sequence[SegmentRequest]]


@dataclass(frozen=True)
class LiveRow:
    """A ``cache_key`` that names the context of a row still decoding in the stream: continuation ``seq`` of
    request ``request`` (ids as ``on_end`` gets them), as it is at the step ``on_step`` was called."""

    request: int
    seq: int


def run_stream(backend, requests: Sequence[SegmentRequest], settings: SamplingSettings, on_end: OnEnd,
               max_rows: int = 0, on_step=None, cancelled: set | None = None) -> None:
    """Decode ``requests`` and every request ``on_end`` adds, in one continuous batch (module docstring).

    ``on_end(ended)`` receives ``[(request id, seq, segment)]`` for the continuations that ended at a step
    (request ids count every request of the stream in the order given: the first ``len(requests)``, then
    those ``on_end`` returned) and returns the requests that join at the next step. States are kept for
    requests with a ``keep_key`` exactly as by :meth:`KVCacheBackend.generate`.

    ``max_rows``: the most rows the caller expects at once (0: no hint). Where the cache has spare rows (the small
    GPT's, a ``transformers`` model's), every buffer the stream makes has room for that many, so that rows joining
    later are written into it (:func:`append_kept_rows`) instead of copying the whole batch into a bigger buffer
    each time it outgrows the spare rows (at 256 prompts × 8 leaves two such copies cost more than a decoding
    step each). A ``transformers`` cache counts the hint only up to twice a buffer's own rows, and takes no spare
    rows off the CPU (:meth:`~treecredit.models.hf_cache.GrowingLayer.stacked`, ``offers_spare_rows``): kept
    states hold earlier buffers, and on a GPU spare rows are allocated memory, written or not. The hint changes
    no token: only where rows live.

    ``on_step(live) -> requests`` and ``cancelled``: speculation (module docstring); ``live`` are the backend's
    rows drawn at the step (``.request``, ``.seq``, ``.segment``), ended ones included.
    """
    import torch

    policy = backend.policy
    everything = list(requests)
    backend._check(everything)
    logits, state, start = backend._start(everything)
    slots = backend._rows(everything, None)
    repeat = torch.tensor([start[row.request] for row in slots], dtype=torch.long)
    logits = logits.index_select(0, repeat)
    # with a hint, one copy into a buffer with the spare rows (else the select, then a copy at the first step)
    state = gather_states(policy, [(state, repeat)], max_rows, START_MAX_ROW_GROWTH) if max_rows > len(
        slots) and has_spare_rows(state, 0) else policy.select(state, repeat)
    waiting: list = []  # [row, kept state, steps waited]: rows to be copied in, batched (see _next_batch)
    while True:
        active, live, tokens, ended = backend._draw_step(logits, slots, settings)
        if len(active) == len(slots):  # no ended row in the batch: the tokens drawn are the step's
            drawn = tokens
        else:
            drawn = torch.full((len(slots),), backend.pad_id, dtype=torch.long)
            drawn[torch.tensor(active, dtype=torch.long)] = tokens
        joining: list = []
        temporary: list = []  # LiveRow keys kept for this step's joins only
        if on_step is not None:
            more = list(on_step(live))
            if more:
                temporary = _keep_live_rows(backend, everything, more, slots, state)
                backend._check(more)
                first = len(everything)
                everything += more
                joining += [(row, None) for row in backend._rows(more, None, first=first)]
        dropped = _drop(cancelled, slots, joining, waiting)
        if dropped:
            ended = [r for r in ended if live[r].request not in dropped]
        if ended:
            rows = [live[r] for r in ended]
            positions = [active[r] for r in ended]
            for b in positions:
                slots[b] = None
            backend._keep(everything, rows, positions, state)
            just_kept = {(everything[row.request].keep_key, row.seq): b for row, b in zip(rows, positions)
                         if everything[row.request].keep_key is not None}
            more = list(on_end([(row.request, row.seq, row.segment) for row in rows]))
            temporary += _keep_live_rows(backend, everything, more, slots, state)
            backend._check(more)
            first = len(everything)
            everything += more
            joining += [(row, just_kept.get(everything[row.request].cache_key))
                        for row in backend._rows(more, None, first=first)]
            _drop(cancelled, slots, joining, waiting)
        if not joining and not waiting and all(row is None for row in slots):
            for key in temporary:
                backend.kept.pop(key, None)
            return
        state, step_tokens, slots, ready, twins = _next_batch(backend, everything, state, drawn, slots, joining,
                                                              waiting, max_rows)
        for key in temporary:
            backend.kept.pop(key, None)
        logits, state = policy.step(state, step_tokens) if slots else (None, None)
        if twins:
            logits, state, slots = _add_twins(policy, logits, state, slots, twins, max_rows)
        if ready is not None:
            ready_logits, ready_state, ready_rows = ready
            logits = ready_logits if logits is None else torch.cat([logits, ready_logits])
            state = ready_state if state is None else concat_states(policy, [state, ready_state])
            slots = slots + ready_rows


def _keep_live_rows(backend, everything, requests, slots, state) -> list:
    """Keep, for this step, the context of each live row a request names with a :class:`LiveRow` key (the
    batch's state covers all of it but the last token drawn, as a kept state does); returns those keys."""
    from treecredit.sampling.kv_backend import _Kept

    keys = list(dict.fromkeys(r.cache_key for r in requests if isinstance(r.cache_key, LiveRow)))
    if not keys:
        return []
    where = {(row.request, row.seq): b for b, row in enumerate(slots) if row is not None}
    held = snapshot(state)
    for key in keys:
        b = where.get((key.request, key.seq))
        if b is None:
            fail("cache_key", f"{key!r} names no row decoding at this step", "fork from a row that is still live")
        row = slots[b]
        backend.kept[key] = _Kept(held, b, tuple(everything[row.request].prefix) + tuple(row.segment.tokens))
    return keys


def _drop(cancelled, slots, joining, waiting) -> set:
    """Drop the rows of the request ids in ``cancelled`` (emptied) from the batch, the joining and the waiting
    rows (all in place); the ids dropped."""
    if not cancelled:
        return set()
    dropped = set(cancelled)
    cancelled.clear()
    for b, row in enumerate(slots):
        if row is not None and row.request in dropped:
            slots[b] = None
    joining[:] = [j for j in joining if j[0].request not in dropped]
    waiting[:] = [w for w in waiting if w[0].request not in dropped]
    return dropped


START_MAX_ROW_GROWTH = 4
"""How far the ``max_rows`` hint may grow the stream's first buffer: its rows at most this many times the rows it
starts with (a ratio, buffer rows per starting row; later buffers: the cache layer's own bound, twice their rows,
``kv_buffer.STACKED_MAX_ROW_GROWTH``). A fixed tree's batch grows from its
first chains to about four times as many rows within its first few steps, as forks join and their siblings are
copied (64 prompts × 8 leaves: 128 rows, then 173, 255, 318, 365, 474), and rows that do not fit copied the whole
batch into a new buffer (50 ms at 64 prompts where the buffer's memory was new; docs/performance.md [2s]). The
rows are the same either way: only where they live."""
TWIN_COPIES = True
"""On a cache with spare rows, a fork's further children at the end of a row that a child took over at the same
step are copied from that row after the step (:func:`_add_twins`) instead of stepping the prefix's last token
each; False: they join from the kept state before the step, as other forks do (for comparison)."""
MAX_WAIT = 8
"""Steps a row that must be copied into the batch may wait for others (copies are batched: each copies
the whole running batch into a new buffer)."""
JOIN_SHARE = 0.5
"""Rows waiting to be copied in join once they are this share of the rows that go on."""
DEAD_SHARE = 0.5
"""The batch is compacted once this share of its rows has ended (and not been taken over). A compaction
copies the rows that go on, which on the small GPT costs about a decoding step of the batch; 0.5 took 5–10 %
off the tree's sampling time against 0.25 at 128 prompts (docs/sampling.md, "Rows joining in place")."""


def _next_batch(backend, everything, state, drawn, slots, joining, waiting, hint: int = 0):
    """``(state, tokens to step, slots, ready)`` for the next step: rows that go on keep their batch rows;
    a joining row takes the row of the continuation it continues, or waits in ``waiting`` (updated in
    place) to be copied in (see the module docstring); ``ready`` is None or ``(logits, state, rows)`` of
    prefilled rows that join after the step. ``hint``: :func:`run_stream`'s ``max_rows``."""
    import torch

    policy = backend.policy
    slots = list(slots)
    fresh, twins = [], []
    taken: dict = {}  # batch row → the joining row that took it over at this step
    offers = has_spare_rows(state, 0)  # asked once a step: it checks every layer's buffer
    copies_after = TWIN_COPIES and offers
    for row, b in joining:
        request = everything[row.request]
        kept = backend.kept.get(request.cache_key) if request.cache_key is not None else None
        if b is not None and slots[b] is None and len(request.prefix) == len(kept.context):
            slots[b] = row  # takes over the row of the continuation it continues
            taken[b] = row
        elif copies_after and b in taken and len(request.prefix) == len(kept.context) and \
                everything[taken[b].request].cache_key == request.cache_key:
            twins.append((row, taken[b]))  # a sibling of the row that took b over: copied from it after the step
        elif kept is not None:  # another child of it, or a fork from an older or longer kept state
            waiting.append([row, kept, 0])
        else:
            fresh.append(row)
    going = [b for b, row in enumerate(slots) if row is not None]
    dead = len(slots) - len(going)
    compact = bool(going) and dead >= DEAD_SHARE * len(slots)
    if waiting and going and not compact and offers and has_spare_rows(state, len(waiting)):
        appended = append_kept_rows(state, [(w[1].state, w[1].row) for w in waiting],
                                    [len(everything[w[0].request].prefix) - 1 for w in waiting])
        if appended is not None:  # each row copied once, from its kept state into the batch's spare rows: no wait
            step_tokens = torch.cat([drawn, torch.tensor([everything[w[0].request].prefix[-1] for w in waiting],
                                                         dtype=torch.long)])
            slots += [w[0] for w in waiting]
            waiting.clear()
            return _frozen(appended, slots), step_tokens, slots, _prefilled(backend, everything, fresh), twins
    # a cache with spare rows (the small GPT's) gets new spare rows from the copy, so rows that could not be
    # written into it join at once (a copy each time the batch outgrows its spare rows, not each join); on a
    # cache without them every join copies the batch, so rows wait to be copied in together
    renews = bool(going) and offers
    join = bool(waiting) and (renews or dead >= DEAD_SHARE * len(slots) or len(waiting) >= JOIN_SHARE * len(going)
                              or max(w[2] for w in waiting) >= MAX_WAIT)
    if join or compact:
        index = torch.tensor(going, dtype=torch.long)
        rows = [slots[b] for b in going]
        parts = [(state, index)] if len(index) else []
        tokens = [drawn[index]] if len(index) else []
        if join:
            parts += _kept_parts(everything, waiting)
            tokens.append(torch.tensor([everything[w[0].request].prefix[-1] for w in waiting], dtype=torch.long))
            rows += [w[0] for w in waiting]
            waiting.clear()
        state = drop_unused_columns(gather_states(policy, parts, hint)) if parts else None
        step_tokens = torch.cat(tokens) if tokens else None
        slots = rows
        for w in waiting:
            w[2] += 1
    else:
        for w in waiting:
            w[2] += 1
        step_tokens = drawn
        if dead and going:
            state = _frozen(state, slots)
        elif not going:
            slots = []
    return state, step_tokens, slots, _prefilled(backend, everything, fresh), twins


def _add_twins(policy, logits, state, slots, twins, hint: int):
    """``(logits, state, slots)`` after a step with the ``twins`` (``(row, taker)`` each) added: each a copy of the
    batch row of its ``taker`` (a sibling that took over their parent's row and has just stepped the prefix's
    last token), with that row's logits, so the siblings of a fork do not step the same token each: the same
    keys, values, positions and logits, one row-step fewer per sibling. Written into the batch's spare rows,
    else with a copy of the batch into a new buffer (:func:`gather_states`)."""
    import torch

    takers = {id(taker) for _, taker in twins}
    where = {id(row): b for b, row in enumerate(slots) if id(row) in takers}
    index = torch.tensor([where[id(taker)] for _, taker in twins], dtype=torch.long)
    appended = append_own_rows(state, index)
    if appended is None:
        gathered = gather_states(policy, [(state, None), (state, index)], hint)
        next_pos = torch.cat([state.next_pos, state.next_pos.index_select(0, index)])
        appended = DecodeState(gathered.cache, gathered.key_valid, next_pos)
    return torch.cat([logits, logits.index_select(0, index)]), appended, slots + [row for row, _ in twins]


def _frozen(state: DecodeState, slots) -> DecodeState:
    """``state`` with the position ids of unread rows (``slots`` None) frozen at 0, so that they never run
    past the model's positions."""
    import torch

    frozen = torch.tensor([row is None for row in slots], dtype=torch.bool)
    return DecodeState(state.cache, state.key_valid, state.next_pos.masked_fill(frozen, 0)) if frozen.any() else state


def _prefilled(backend, everything, fresh):
    """None, or ``(logits, state, rows)`` of the prefilled requests of ``fresh`` rows (they join after the step)."""
    import torch

    if not fresh:
        return None
    ids = list(dict.fromkeys(row.request for row in fresh))
    logits, fresh_state, start = backend._start([everything[i] for i in ids])
    index = torch.tensor([start[ids.index(row.request)] for row in fresh], dtype=torch.long)
    return logits.index_select(0, index), backend.policy.select(fresh_state, index), fresh


def _kept_parts(everything, waiting) -> list:
    """``(kept state, rows, keep)`` parts for :func:`gather_states`, one per run of waiting ``[row, kept, _]``
    from the same kept state, in order: each row from its kept state, cut to its request's prefix minus the
    last token (which the next step appends), copied once, straight into the gathered batch."""
    import torch

    parts: list = []
    for w in waiting:
        kept, keep = w[1], len(everything[w[0].request].prefix) - 1
        if parts and parts[-1][0] is kept.state:
            parts[-1][1].append(kept.row)
            parts[-1][2].append(keep)
        else:
            parts.append((kept.state, [kept.row], [keep]))
    return [(state, torch.tensor(rows, dtype=torch.long), torch.tensor(keeps, dtype=torch.long))
            for state, rows, keeps in parts]
