"""`python benchmarks/bench_step.py` run directly says how it runs (part 2 of bench_update.py) and exits 2;
until trial 35 it printed nothing and exited 0, with or without --quick and --help."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("words", [[], ["--quick"], ["--help"]])
def test_bench_step_run_directly_names_bench_update(words):
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_step.py"), *words],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert done.returncode == 2, done.stderr
    assert "bench_update.py --parts 2" in done.stderr
