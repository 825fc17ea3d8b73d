"""The checked comparison's fast path (:func:`treecredit.sandbox_compare.make_compare`), side by side: a
membership test ``x in squares`` on a set of ``n`` ints unchecked, checked on plain data of C types (checked by
C code, compared without a copy), and checked where one item (a tuple) sends the operand down the copying path
(every comparison until 2026-12-03). Prints the time per comparison and the ratios.

    python benchmarks/bench_compare.py [--n 20000] [--clock cpu]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from timing import CLOCKS, add_clock_option, best_time  # noqa: E402
from treecredit.sandbox_compare import make_compare  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20000, help="items in the set")
    parser.add_argument("--repeats", type=int, default=5)
    add_clock_option(parser)
    args = parser.parse_args()
    clock = CLOCKS[args.clock]
    compare = make_compare()
    flat = {i * i for i in range(args.n)}
    copied = flat | {(0, 0)}  # one item that is not a scalar: the whole operand is copied
    probe = (args.n // 2) ** 2
    rows = [("unchecked `in`", lambda: probe in flat),
            ("checked, fast path", lambda: compare(("in",), probe, flat)),
            ("checked, copied", lambda: compare(("in",), probe, copied))]
    times = [best_time(fn, args.repeats, clock) for _, fn in rows]
    print(f"x in set of {args.n:,} ints, {args.clock} clock, best of {args.repeats}")
    for (name, _), seconds in zip(rows, times):
        print(f"  {name:22s} {seconds * 1e3:9.3f} ms  {seconds / times[1]:8.2f}x the fast path")
    print(f"copied / fast path: {times[2] / times[1]:.1f}x")


if __name__ == "__main__":
    main()
