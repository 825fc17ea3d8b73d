"""Two schedules for one tree: rounds across all groups, or one continuous stream with a sync per group.

A branching strategy describes each group's tree as *phases* (``strategy.phases(ctx, forest, group,
group_size)``, a generator): each phase yields the group's fork points ``[(group, node, k)]`` and the
fork rule its chains grow under; the strategy resumes, and picks the group's next points, once every
chain of the phase has ended (fixed: the root chains, then top-up rounds; entropy and adaptive: the
first chains, then one phase per forking round). A phase reads only its own group's part of the forest.

- :func:`grow_in_rounds` runs the phases of all groups in lockstep, one round of segment requests after
  another (:class:`SegmentGrower`, one ``generate`` call per round): every group waits for the longest
  segment of the round. Any backend.
- :class:`StreamGrower` runs them in one continuous batch (``backend.stream``, the built-in backend's
  continuous batching, :mod:`treecredit.sampling.kv_stream`): a chain that ends is absorbed at once, its
  follow-up work (continue, or fork its children) joins the running batch at the next step, and a group
  starts its next phase as soon as its own chains have ended, while other groups keep decoding.

Both make the same picks from the same group trees, and draws are counter-based per chain key and
position (:mod:`treecredit.sampling.draws`), so both grow the same forest; only node ids (the order in
which nodes were created across groups) differ, and :func:`treecredit.sampling.tree_pack.pack_forest`
numbers nodes canonically.
"""

from __future__ import annotations

import inspect

from treecredit.sampling.rounds import SegmentGrower, _Work
from treecredit.sampling.tree_table import SampledForest


def group_sizes(group_size, n_groups: int) -> list[int]:
    """Leaves to grow per group: ``group_size`` for each of ``n_groups``, or a list of one count per group (a
    replay call, where revisited problems grow ``G − r`` and new ones ``G``)."""
    return list(group_size) if isinstance(group_size, (list, tuple)) else [group_size] * n_groups


def grow_in_rounds(strategy, grower, forest: SampledForest, group_size) -> None:
    """Grow ``strategy``'s phases of every group in lockstep through ``grower.grow_points`` (one call per
    phase and fork rule; for the built-in strategies one call per phase); ``group_size``: an int, or one count
    per group."""
    sizes = group_sizes(group_size, len(grower.prompts))
    phases = [strategy.phases(grower.ctx, forest, g, sizes[g]) for g in range(len(grower.prompts))]
    active = list(range(len(phases)))
    while active:
        batch, still = [], []
        for g in active:
            try:
                batch.append(next(phases[g]))
            except StopIteration:
                continue
            still.append(g)
        active = still
        rules = list({id(rule): rule for _, rule in batch}.values())
        for rule in rules:
            grower.grow_points(forest, [p for points, r in batch if r is rule for p in points], rule)


class StreamGrower(SegmentGrower):
    """Grows a forest in one ``backend.stream`` call (see the module docstring).

    Attributes:
        rounds: ``stream`` calls made (1 per tree batch).
    """

    def grow(self, strategy, forest: SampledForest, group_size) -> None:
        """Grow ``strategy``'s trees (one per group of ``group_size`` leaves at most: an int, or one count per
        group) into ``forest``."""
        sizes = group_sizes(group_size, len(self.prompts))
        phases = [strategy.phases(self.ctx, forest, g, sizes[g]) for g in range(len(self.prompts))]
        self._open = [0] * len(phases)
        self._pending: dict = {}
        self._count = 0
        work = [item for g in range(len(phases)) for item in self._advance(forest, phases, g)]
        if not work:
            return
        # the most rows at once is about the leaves: a hint for the batch's spare rows, where the backend takes one
        takes_hint = "max_rows" in inspect.signature(self.backend.stream).parameters
        hint = {"max_rows": sum(sizes)} if takes_hint else {}
        self.backend.stream(self._requests(forest, work), self.ctx.settings(),
                            lambda ended: self._on_end(forest, phases, ended),
                            **{**hint, **self._stream_options(forest, hint)})
        self.rounds += 1

    def _stream_options(self, forest: SampledForest, hint: dict) -> dict:
        """More keywords for ``backend.stream`` (a subclass's; ``hint``: the ``max_rows`` hint, if taken)."""
        return {}

    def _requests(self, forest: SampledForest, work: list[_Work]) -> list:
        out = []
        for item in work:
            request = self.request(forest, item, ("tree", self.name, self._count))
            self._pending[self._count] = [item, request, request.n]
            self._count += 1
            out.append(request)
        return out

    def _advance(self, forest: SampledForest, phases, group: int) -> list[_Work]:
        """The work of ``group``'s next phase with any work ([] once its phases are over)."""
        for points, rule in phases[group]:
            work = self.open_work(forest, points, rule)
            if work:
                self._open[group] += sum(len(item.nodes) for item in work)
                return work
        return []

    def _on_end(self, forest: SampledForest, phases, ended) -> list:
        follow: list[_Work] = []
        touched = []
        for rid, seq, segment in ended:
            entry = self._pending[rid]
            item, request = entry[0], entry[1]
            entry[2] -= 1
            if not entry[2]:
                del self._pending[rid]
            more = self.absorb(forest, item, request, seq, segment)
            self._open[item.group] += sum(len(w.nodes) for w in more) - 1
            follow += more
            touched.append(item.group)
        for group in sorted(set(touched)):
            if not self._open[group]:
                follow += self._advance(forest, phases, group)
        return self._requests(forest, follow)
