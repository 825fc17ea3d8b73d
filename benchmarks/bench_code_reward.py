"""The ``code`` reward's programs one at a time against ``code:workers=N`` at once: wall time side by side.

Each completion is a distinct program (so the verdict cache does not answer), half of them right, plus a few
infinite loops (each costs the whole ``timeout``). Prints the seconds of each setting and the ratio.

Usage::

    nice -n 10 python benchmarks/bench_code_reward.py --n 32 --loops 2 --timeout 2
"""

from __future__ import annotations

import argparse
import os
import time

from treecredit.rewards.code import _VERDICTS, DEFAULT_WORKERS, code_reward


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=32)
    parser.add_argument("--loops", type=int, default=2)
    parser.add_argument("--timeout", type=float, default=2.0)
    parser.add_argument("--workers", type=int, default=DEFAULT_WORKERS)
    args = parser.parse_args()
    test = "def check(candidate):\n    assert candidate(1, 2) == 3\n"
    completions = [f"    return a + b + {i % 2}\n" for i in range(args.n)]
    completions += [f"    while True: x = {i}\n" for i in range(args.loops)]
    n = len(completions)
    seconds = {}
    for workers in (1, args.workers):
        _VERDICTS.clear()
        start = time.perf_counter()
        out = code_reward(["def add(a, b):\n"] * n, completions, test=[test] * n, entry_point=["add"] * n,
                          timeout=args.timeout, workers=workers)
        seconds[workers] = time.perf_counter() - start
        print(f"workers={workers}: {seconds[workers]:.2f} s for {n} programs ({sum(v == 1.0 for v in out)} passed)")
    print(f"ratio (1 / {args.workers} workers): {seconds[1] / seconds[args.workers]:.2f}x on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
