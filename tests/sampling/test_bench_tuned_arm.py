"""benchmarks/bench_tree_sampler.py's ``--schedules`` arm ``SCHEDULE+NAME=VALUE+...``: the speculation's class
attributes set during that arm's calls only (docs/performance.md [2y])."""

import pathlib
import sys

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[2] / "benchmarks"))

import bench_tree_sampler as bench  # noqa: E402
from treecredit.sampling.speculate import GrowingRows, SpeculativeGrower  # noqa: E402
from treecredit.sampling.tree import TreeSampler  # noqa: E402


def test_tuned_arm_sets_its_attributes_only_during_its_calls(monkeypatch):
    schedule, settings = bench.tuned_settings("auto+THIN_ROWS=96+GrowingRows.MIN_POINTS=1+HEDGE=False")
    assert schedule == "auto"
    assert settings == ((SpeculativeGrower, "THIN_ROWS", 96), (GrowingRows, "MIN_POINTS", 1),
                        (SpeculativeGrower, "HEDGE", False))
    before = SpeculativeGrower.THIN_ROWS, GrowingRows.MIN_POINTS, SpeculativeGrower.HEDGE
    seen = []

    def sample(self, *args, **kwargs):
        seen.append((self.schedule, SpeculativeGrower.THIN_ROWS, GrowingRows.MIN_POINTS, SpeculativeGrower.HEDGE))
        raise RuntimeError("stop")

    monkeypatch.setattr(TreeSampler, "sample", sample)
    sampler = bench.Tuned(max_new_tokens=4, schedule=schedule, branching="adaptive")
    sampler.settings = settings
    with pytest.raises(RuntimeError):
        sampler.sample(None, None, [], 8)
    assert seen == [("auto", 96, 1, False)]
    assert (SpeculativeGrower.THIN_ROWS, GrowingRows.MIN_POINTS, SpeculativeGrower.HEDGE) == before


def test_tuned_arm_refuses_an_unknown_attribute():
    with pytest.raises(SystemExit, match="THIN_ROW"):
        bench.tuned_settings("auto+THIN_ROW=96")
