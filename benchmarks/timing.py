"""Timing helpers shared by the benchmark scripts: the clock option and the best of repeated calls.

``--clock cpu`` times with this process's CPU time (``time.process_time``), which other jobs on a shared
machine disturb less than wall time; ``--clock wall`` (the default) with ``time.perf_counter``.
"""

from __future__ import annotations

import time

CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def add_clock_option(parser) -> None:
    """Add ``--clock wall|cpu`` to an ``argparse`` parser; ``CLOCKS[args.clock]`` is the chosen clock."""
    parser.add_argument("--clock", choices=tuple(CLOCKS), default="wall",
                        help="wall time, or this process's CPU time (less disturbed by other jobs on a shared machine)")


def best_time(fn, repeats: int, clock=time.perf_counter) -> float:
    """The fastest of ``repeats`` calls of ``fn``, in seconds on ``clock``."""
    best = float("inf")
    for _ in range(repeats):
        start = clock()
        fn()
        best = min(best, clock() - start)
    return best
