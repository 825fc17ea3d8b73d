"""The ``--schedules`` arms of bench_tree_sampler.py beside the plain ``TreeSampler(schedule=...)``: the stream's
joins as before spare KV rows (``copy-joins``), ``speculative:C`` (the speculation's confidence), and
``SCHEDULE+NAME=VALUE+...`` (the speculative schedule's class attributes set during the arm's calls only)."""

from __future__ import annotations

from treecredit.sampling.tree import TreeSampler


class CopyJoins(TreeSampler):
    """The tree sampler whose stream joins rows as before spare KV rows: every fork copied in with the whole
    batch (batched: up to MAX_WAIT steps), the batch compacted at a quarter of ended rows; for a side-by-side
    comparison with the current stream (the same trees and tokens)."""

    def sample(self, *args, **kwargs):
        import treecredit.sampling.kv_stream as kv_stream

        saved = kv_stream.has_spare_rows, kv_stream.DEAD_SHARE
        kv_stream.has_spare_rows, kv_stream.DEAD_SHARE = (lambda state, k: False), 0.25
        try:
            return super().sample(*args, **kwargs)
        finally:
            kv_stream.has_spare_rows, kv_stream.DEAD_SHARE = saved


class Speculative(TreeSampler):
    """``schedule="speculative"`` with the speculation's ``confidence`` set to ``self.confidence`` (the
    ``--schedules`` arm ``speculative:C``; plain ``speculative`` keeps the default)."""

    confidence: float | None = None

    def sample(self, *args, **kwargs):
        from treecredit.sampling.speculate import SpeculativeGrower

        saved = SpeculativeGrower.confidence
        if self.confidence is not None:
            SpeculativeGrower.confidence = self.confidence
        try:
            return super().sample(*args, **kwargs)
        finally:
            SpeculativeGrower.confidence = saved


class Tuned(TreeSampler):
    """A schedule arm ``SCHEDULE+NAME=VALUE+...`` (e.g. ``auto+THIN_ROWS=96+GrowingRows.MIN_POINTS=1``): the
    sampler with ``schedule=SCHEDULE`` and, during its calls only, class attributes of the speculative schedule set:
    a bare NAME is one of ``speculate.SpeculativeGrower``'s, ``CLASS.NAME`` one of a class in the namespace of
    ``treecredit.sampling.speculate`` (GrowingRows, ...); VALUE a Python literal. For side-by-side trials of the
    speculation's knobs (the same trees: they decide only when speculative children start; docs/performance.md
    [2y])."""

    settings: tuple = ()

    def sample(self, *args, **kwargs):
        saved = [(owner, name, getattr(owner, name)) for owner, name, _ in self.settings]
        for owner, name, value in self.settings:
            setattr(owner, name, value)
        try:
            return super().sample(*args, **kwargs)
        finally:
            for owner, name, value in saved:
                setattr(owner, name, value)


def tuned_settings(arm: str) -> tuple[str, tuple]:
    """``(schedule, ((owner, name, value), ...))`` of a ``--schedules`` arm ``SCHEDULE+NAME=VALUE+...``."""
    import ast

    import treecredit.sampling.speculate as speculate

    schedule, *items = arm.split("+")
    settings = []
    for item in items:
        key, _, value = item.partition("=")
        owner_name, _, name = key.rpartition(".")
        owner = getattr(speculate, owner_name) if owner_name else speculate.SpeculativeGrower
        if not hasattr(owner, name):
            raise SystemExit(f"--schedules {arm!r}: {owner.__name__} has no attribute {name!r}")
        settings.append((owner, name, ast.literal_eval(value)))
    return schedule, tuple(settings)
