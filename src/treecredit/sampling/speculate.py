"""Speculative forks: start a group's next forking rounds before its running chains end; the same forest.

In one stream (:class:`~treecredit.sampling.schedule.StreamGrower`) a group's next phase starts only when all
chains of its current phase have ended: entropy branching picks the tokens of highest entropy in the whole
group tree, known only then. So each round waits for the longest chain of the round before it, and at small
batches (where a step costs about the same whatever its rows) the tree takes 2–3× i.i.d.'s steps.

:class:`SpeculativeGrower` (``TreeSampler(schedule="speculative")``) keeps per group a *forecast* of its
remaining rounds (``strategy.forecast``; :class:`~treecredit.sampling.forecast.EntropyForecast`): what the
strategy would pick if the running rows ended now, fed token by token from the stream's ``on_step``, each
round from the tree the rounds before it would leave, their speculative children's tokens included. A forecast
pick's children start once the pick is likely enough to stand (``SpeculativeGrower.confidence``), forking the
running row in the batch (:class:`~treecredit.sampling.kv_stream.LiveRow`) or an ended node's kept state. A
token that displaces a pick cancels its children and every speculation below them (their rows leave the batch;
their tokens are wasted). When the group's chains have all ended, the strategy picks the phase as always; a
request that a speculation asked for exactly (same prefix, chain keys and limits) adopts its rows and the
segments they ended with; other speculations go on only where the new forecast still picks them. The forecast
only guesses: a child started early draws the tokens it would draw after the phase (draws are counter-based
per chain key and position, :mod:`treecredit.sampling.draws`), so the forest is the one the stream and the
rounds grow, token for token (``tests/sampling/test_speculative.py``).

``rollout.wasted_tokens`` counts the tokens of cancelled and unused children (also in ``generated_tokens``:
they were decoded), ``extras["speculative_adopted"]`` the requests adopted.

This module says when a group's forecast is made and which tokens feed it (the stream's hooks);
:mod:`treecredit.sampling.speculations` turns its picks into requests and starts, adopts and cancels them.
"""

from __future__ import annotations

from treecredit.sampling.forecast import BINS, BINS_PER_NAT, GrowingRows, HedgedForecast
from treecredit.sampling.kv_stream import LiveRow
from treecredit.sampling.rounds import _Work
from treecredit.sampling.schedule import group_sizes
from treecredit.sampling.speculations import Speculations
from treecredit.sampling.tree_table import SampledForest


class SpeculativeGrower(Speculations):
    """A :class:`~treecredit.sampling.schedule.StreamGrower` that starts each group's next phases speculatively
    (module docstring; its speculations' requests: :class:`~treecredit.sampling.speculations.Speculations`).

    Attributes:
        wasted_tokens: tokens of cancelled or unused speculative children (after :meth:`grow`).
        adopted: speculative requests that the phases took over.
    """

    confidence: float | None = None
    """A forecast pick's children start once the chance that no token still to come displaces it (or a pick
    of an earlier round) is at least this (0: at once). The chance is estimated as (1 − q(H))^m per round,
    q(H) the share of the tokens drawn so far with entropy above the pick's, m the tokens the group's running
    rows are still expected to draw (each up to the mean length of the rows that have ended). None: G / (G +
    :attr:`GROUPS_SCALE`) for G groups, times (G / :attr:`FEW_GROUPS`)² below that many: a wasted row costs the
    batch a row of each step it runs, a step saved pays only where its group is the last to end, so the more
    groups, the surer a pick must be; with few groups a step costs about the same whatever its rows."""
    GROUPS_SCALE = 12
    """Groups at which G / (G + GROUPS_SCALE) is 1/2 (the small GPT on one CPU thread, docs/sampling.md)."""
    FEW_GROUPS = 16
    """Groups below which the default confidence falls faster (8 groups: 0.1 rather than 0.4, six seeds of the
    small GPT's 8 prompts × 8 leaves: 152 decoding steps against 186, 296 wasted tokens against 254;
    docs/performance.md [2p])."""
    THIN_ROWS = 48
    """A strategy whose forecast is made again as segments end (``forecast_at_ends``: adaptive branching, whose
    forecast has no chances) forecasts, and so speculates, only while the batch has at most this many rows: on the
    small GPT on one CPU thread a step costs about the same at 1 and at 16 rows (a wasted row is cheap, a step saved
    is not), while at 128 rows a row costs its share, and a step saved pays only where its group is the last to
    end."""
    FORECAST_GROWING = True
    """A ``forecast_at_ends`` strategy's forecast also reads the group's rows still decoding, as if they had ended
    where they are, once each has drawn ``GrowingRows.MIN_POINTS`` candidate points, and is made again whenever one
    draws another (:class:`~treecredit.sampling.forecast.GrowingRows`; while the batch is thin, :attr:`THIN_ROWS`);
    False: it reads the ended segments only, so a group's first forecast waits for its first chain to end. The
    same forest either way (docs/performance.md [2p])."""
    HEDGE = True
    """With :attr:`FORECAST_GROWING`: while some running row of a ``forecast_at_ends`` group has fewer than
    ``GrowingRows.MIN_POINTS`` candidate points but every one has at least one, the group's forecast from its ended
    segments is hedged with a second one that reads the growing rows already (``GrowingRows.ready(..., points=1)``),
    and the picks of both are speculated on (:class:`~treecredit.sampling.forecast.HedgedForecast`): a row still
    decoding whose first point the next round will pick (a new chain's, typically) gets its children about a point
    earlier, while an early point that a later one displaces costs only its rows, and forecasts run only while the
    batch is thin (:attr:`THIN_ROWS`), where rows are cheap. The small GPT's benchmark problems, four seeds, decoding
    steps without → with: 8 prompts 97 → 93, 16 prompts 158 → 141, 32: 165 → 161, 64: 206 → 204 (tokens wasted 240 →
    286, 678 → 800, 745 → 758, 107 → 114; docs/performance.md [2r]). False: the forecast from the ended segments
    alone. The same forest either way."""
    PROMPT_RESERVE = 2
    """Adaptive branching: new chains from the prompt started, one speculation each, beside a group's first chains
    (the keys its next new chains from the prompt will have), for a later round to adopt (:attr:`RESERVE_ENTROPY`,
    :attr:`RESERVE_ROWS`). A round's new chain from the prompt otherwise starts when its round does (or when the
    batch is thin enough to forecast it) and ends a whole response later: traced at 16 prompts × 8 leaves, the groups
    that ended last were those. 0: none. The same forest either way (docs/performance.md [2u])."""
    RESERVE_ENTROPY = 1.0
    """Nats: a group reserves only where its prompt's entropy (its first chains' first token) is at least this. The
    small GPT's benchmark problems, 32 prompts, four seeds: 25 of 128 groups opened chains from the prompt after their
    first, 19 of them among the 47 whose prompt entropy was about 2 nats, 6 among the 81 at 0.2–0.6."""
    RESERVE_ROWS = (24, 64)
    """Reserve only where the first chains of all groups are more than the first and at most the second this many rows.
    Below, the batch is thin from the start and forecasts pick the prompt early anyway (8 prompts × 8: the same decoding
    steps, 1 % slower); above, the reserves' rows cost more than the steps they save (64 prompts: 4 % slower)."""
    ROWS_PER_LEAF = 2
    """Batch rows the stream's buffers make room for, per leaf (speculative and cancelled rows come on top)."""

    def grow(self, strategy, forest: SampledForest, group_size) -> None:
        self._strategy = strategy
        self._forest = forest
        self._sizes = group_sizes(group_size, len(self.prompts))
        groups = len(self.prompts)
        self._confidence = self.confidence if self.confidence is not None else (
            groups / (groups + self.GROUPS_SCALE) * min(1.0, groups / self.FEW_GROUPS) ** 2)
        self._yielded = [0] * len(self.prompts)
        self._forecasts: dict = {}  # group -> forecast of its remaining rounds
        self._specs: dict = {}  # group -> its speculations not adopted (_Spec)
        self._spec_of: dict = {}  # request id -> _Spec not adopted
        self._stand_in: dict = {}  # stand-in node id -> (_Spec, seq)
        self._outbox: list = []  # speculations to send
        self._running: dict = {}  # node -> the backend row decoding it (groups with a forecast)
        self._cancelled: set = set()
        self._wasted: list = []
        self._serial = 0
        self._hist = [0] * (BINS + 1)  # entropies drawn so far, in bins of 1/BINS_PER_NAT nats
        self._tail: list | None = None
        self._ended = [0, 0]  # response positions at which rows ended: sum, count
        self._due: set = set()  # groups with forecast picks not started yet
        self._live = 0  # rows drawn at the last step
        self._at_ends = bool(getattr(strategy, "forecast_at_ends", False))
        self._stale: set = set()  # groups to forecast once the batch is thin (forecast_at_ends strategies)
        self._advanced: set = set()
        self._growing = GrowingRows(self.ctx, forest) if self._at_ends and self.FORECAST_GROWING else None
        self._unreserved = set(range(groups)) if self._at_ends and self.PROMPT_RESERVE and getattr(
            strategy, "rounds", 0) and not getattr(strategy, "token_budget", 0) else set()  # (first chains not drawn)
        self.adopted = 0
        super().grow(strategy, forest, group_size)
        for group in list(self._specs):
            self._drop(group, self._specs.pop(group))
        self.wasted_tokens = sum(len(row.segment.tokens) for spec in self._wasted for row in spec.rows.values())

    def _stream_options(self, forest: SampledForest, hint: dict) -> dict:
        options = {"on_step": lambda live: self._on_step(forest, live), "cancelled": self._cancelled}
        if hint:  # room for the speculative children beside the leaves (spare rows are allocated memory on a GPU;
            # a transformers cache bounds the hint: kv_stream.run_stream's max_rows)
            options["max_rows"] = self.ROWS_PER_LEAF * hint["max_rows"]
        return options

    def _requests(self, forest: SampledForest, work: list[_Work]) -> list:
        out = super()._requests(forest, work)
        for spec in self._outbox:
            spec.rid = self._count
            self._count += 1
            self._spec_of[spec.rid] = spec
            out.append(spec.request)
        self._outbox = []
        return out

    def _advance(self, forest: SampledForest, phases, group: int) -> list[_Work]:
        """The group's next phase with work: requests a speculation asked for exactly adopt it; the others
        are sent; a phase whose adopted children have all ended already gives way to the next one."""
        out: list[_Work] = []
        for points, rule in phases[group]:
            self._yielded[group] += 1
            specs = self._specs.setdefault(group, [])
            for item in self.open_work(forest, points, rule):
                spec = self._match(forest, item, specs)
                if spec is None:
                    self._open[group] += len(item.nodes)
                    out.append(item)
                else:
                    specs.remove(spec)
                    out += self._adopt(forest, item, spec)
            if self._open[group]:
                self._forecast(forest, group)
                self._advanced.add(group)
                return out
        self._forecasts.pop(group, None)
        self._drop(group, self._specs.pop(group, []))
        return out

    def _on_end(self, forest: SampledForest, phases, ended) -> list:
        mine, touched = [], set()
        for rid, seq, segment in ended:
            spec = self._spec_of.get(rid)
            if spec is not None:  # a speculation's row: kept for the phase that may adopt it
                spec.ended[seq] = segment
                continue
            node = self._pending[rid][0].nodes[seq]
            self._running.pop(node, None)
            self._ended[0] += forest.start[node] + len(forest.tokens[node]) + len(segment.tokens)
            self._ended[1] += 1
            mine.append((rid, seq, segment))
            touched.add(self._pending[rid][0].group)
        self._advanced = set()  # groups whose next phase started (and was forecast) in this call
        out = super()._on_end(forest, phases, mine)
        if self._at_ends:  # its forecast reads ended segments only: made again as they end (not twice)
            for group in sorted(touched - self._advanced):
                if self._open[group] and self._yielded[group]:
                    self._forecast(forest, group)
            if self._outbox:
                out += self._requests(forest, [])
        return out

    def _on_step(self, forest: SampledForest, live) -> list:
        """Feed the tokens just drawn to their groups' forecasts; re-speculate where a forecast may change."""
        self._live = len(live)
        pending, forecasts, spec_of, running = self._pending, self._forecasts, self._spec_of, self._running
        if self._at_ends:  # record the speculations' rows (and the growing ones), refresh stale forecasts
            growing = self._growing if self._live <= self.THIN_ROWS else None  # (it catches up once thin)
            if self._unreserved:
                self._reserve_prompts(live)
            for row in live:
                spec = spec_of.get(row.request)
                if spec is not None:
                    spec.rows[row.seq] = row
                elif growing is not None and row.request in pending:
                    item = pending[row.request][0]
                    running[item.nodes[row.seq]] = row
                    if growing.update(item.nodes[row.seq], row) and self._yielded[item.group]:
                        self._stale.add(item.group)
            if self._stale and self._live <= self.THIN_ROWS:
                stale, self._stale = self._stale, set()
                for group in sorted(stale):
                    if self._open[group]:
                        self._forecast(forest, group)
            return self._requests(forest, []) if self._outbox else []
        changed = list(self._due)
        self._due.clear()
        self._tail = None
        hist = self._hist
        for row in live:
            segment = row.segment
            entry = pending.get(row.request)
            if entry is None:
                spec = spec_of.get(row.request)
                if spec is None:
                    continue
                spec.rows[row.seq] = row
                hist[min(int(segment.entropies[-1] * BINS_PER_NAT), BINS)] += 1
                forecast = forecasts.get(spec.group)
                if forecast is not None and forecast.add(spec.base + row.seq, len(segment.tokens) - 1,
                                                         segment.entropies[-1], spec.signature):
                    changed.append(spec.group)
                continue
            item = entry[0]
            forecast = forecasts.get(item.group)
            if forecast is None:
                continue
            node = item.nodes[row.seq]
            running[node] = row
            hist[min(int(segment.entropies[-1] * BINS_PER_NAT), BINS)] += 1
            if forecast.add(node, len(forest.tokens[node]) + len(segment.tokens) - 1, segment.entropies[-1]):
                changed.append(item.group)
        for group in dict.fromkeys(changed):
            if group in forecasts:
                self._speculate(forest, group)
        return self._requests(forest, [])

    HAND_ENDS = True
    """A segment that ends on a row :class:`~treecredit.sampling.forecast.GrowingRows` followed takes the step ends
    found as its tokens were drawn (:meth:`GrowingRows.ends`) instead of searching its tokens again; False: searched
    again (the same offsets)."""

    def _step_ends(self, forest: SampledForest, node: int, segment, before: list) -> list[int]:
        growing = getattr(self, "_growing", None)
        if self.HAND_ENDS and growing is not None:
            ends = growing.ends(node, segment)
            if ends is not None:
                return ends
        return super()._step_ends(forest, node, segment, before)

    def _reserve_prompts(self, live) -> None:
        """Reserve chains from the prompt (:attr:`PROMPT_RESERVE`) for the groups whose first chains drew their first
        token at this step, where that token's entropy is at least :attr:`RESERVE_ENTROPY`."""
        pending, unreserved = self._pending, self._unreserved
        low, high = self.RESERVE_ROWS
        thin = low < self._live <= high
        for row in live:
            entry = pending.get(row.request)
            if entry is None or entry[0].group not in unreserved or entry[0].start >= 0 or len(row.segment.tokens) != 1:
                continue
            group = entry[0].group
            unreserved.discard(group)
            if thin and row.segment.entropies[0] >= self.RESERVE_ENTROPY:
                self._reserve(group, LiveRow(row.request, row.seq), self.PROMPT_RESERVE)

    def _forecast(self, forest: SampledForest, group: int) -> None:
        """Forecast the group's remaining rounds (with the tokens its running rows and its speculations have
        drawn so far) and speculate on them."""
        if self._at_ends and self._live > self.THIN_ROWS:  # forecast once the batch is thin (its specs stay)
            self._forecasts.pop(group, None)
            self._stale.add(group)
            return
        growing = self._growing is not None and self._growing.ready(group, self._running)
        view = self._growing.view(group, self._running) if growing else forest
        forecast = self._strategy.forecast(view, group, self._sizes[group], self._yielded[group])
        if forecast is not None and not growing and self.HEDGE and self._growing is not None and \
                self._growing.ready(group, self._running, points=1):
            hedge = self._strategy.forecast(self._growing.view(group, self._running), group, self._sizes[group],
                                            self._yielded[group])
            if hedge is not None:
                forecast = HedgedForecast([forecast, hedge])
        if forecast is None:
            self._forecasts.pop(group, None)
            specs = self._specs.pop(group, [])
            keep = [s for s in specs if self._reserved(forest, s)]
            self._drop(group, [s for s in specs if s not in keep])
            if keep:
                self._specs[group] = keep
            return
        self._forecasts[group] = forecast
        if self._at_ends:  # its forecast reads no token of a growing row (NextRoundForecast.add does nothing)
            self._speculate(forest, group)
            return
        for node in forest.nodes_of(group):
            row = self._running.get(node)
            if row is not None:
                base = len(forest.tokens[node])
                for i, entropy in enumerate(row.segment.entropies):
                    forecast.add(node, base + i, entropy)
        for spec in self._specs.get(group, []):
            for seq, row in spec.rows.items():
                for i, entropy in enumerate(row.segment.entropies):
                    forecast.add(spec.base + seq, i, entropy, spec.signature)
        self._speculate(forest, group)
