"""Tree construction for large groups: one group of G responses against the same tokens in groups of 32.

Before issue 8 the trie builder compared every pair of responses of a group through a (B, G) table,
so its time and memory grew with G²: one group of 8,192 × 64 tokens took 13–20 s and up to 4.5 GB in
``spo``. It now finds the trie's nodes as LCP intervals of the sorted rows (O(B log B) plus the path
segments). This script measures, per group size G (one group, 64 tokens, i.i.d.-like responses whose
first tokens come from a small vocabulary so that they share prefixes), the time and the peak extra
memory (tracemalloc, against the size of ``response_ids``) of ``tempo`` and ``spo`` on the token trie,
beside the same tokens split into groups of 32, and beside the old builder (loaded from git history,
``--old-rev``) on the sizes it can still afford (``--old-max``).

Usage::

    python benchmarks/bench_group_size.py                       # G = 1,024 … 8,192; old builder up to 2,048
    python benchmarks/bench_group_size.py --old-max 8192        # the old builder at 8,192 too (GBs, ~20 s)
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import importlib.util  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "benchmarks"))

import treecredit  # noqa: E402
import treecredit.trees.build as tree_build  # noqa: E402
from bench_estimators import best_time, peak_extra_bytes  # noqa: E402
from treecredit.trees.forest import assemble_forest  # noqa: E402
from treecredit.trees.synthetic import synthetic_batch  # noqa: E402

OLD_REV = "ee854f47c1760202dc3ed49b72cf8a756f3cc0e8"  # the last commit with the pairwise (B, G) builder
PUBLIC = ("response_ids", "response_mask", "rewards", "group_ids")


def old_build_trie(rev: str):
    """``build_trie`` of ``src/treecredit/trees/trie.py`` at git revision ``rev`` (None if unavailable)."""
    try:
        source = subprocess.run(["git", "-C", str(ROOT), "show", f"{rev}:src/treecredit/trees/trie.py"],
                                check=True, capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return None
    path = Path(tempfile.mkdtemp()) / "old_trie.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("old_trie", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    # it called assemble_forest with the entry arrays as separate arguments; give it today's forest
    module.assemble_forest = lambda kind, batch, row, node, start, end, n: assemble_forest(
        kind, batch, [row, node, start, end], n)
    return module.build_trie


def measure(name: str, data: dict, repeats: int, builder=None) -> tuple[float, float]:
    saved = tree_build.build_trie
    if builder is not None:
        tree_build.build_trie = builder
    try:
        call = lambda: treecredit.compute_advantages(name, **{k: data[k] for k in PUBLIC})  # noqa: E731
        seconds = best_time(call, repeats)
        peak = peak_extra_bytes(call) / data["response_ids"].nbytes
    finally:
        tree_build.build_trie = saved
    return seconds, peak


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1024,2048,4096,8192")
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--old-rev", default=OLD_REV)
    parser.add_argument("--old-max", type=int, default=2048, help="largest G the old builder is run on")
    args = parser.parse_args(argv)
    old = old_build_trie(args.old_rev)
    print(f"one group of G responses x {args.tokens} tokens vs the same rows in groups of 32; time best of "
          f"{args.repeats}; peak = extra peak memory / size of response_ids")
    header = f"{'estimator':9s} {'G':>6s} {'one group s':>12s} {'peak':>6s} {'groups of 32 s':>15s} {'peak':>6s}"
    header += f" {'old builder s':>14s} {'peak':>7s}"
    print(header)
    print("-" * len(header))
    for G in [int(v) for v in args.sizes.split(",")]:
        data = synthetic_batch(np.random.default_rng(0), n_groups=1, group_size=G, n_tokens=args.tokens,
                               tree_fraction=0.0)
        split = dict(data, group_ids=np.arange(G) // 32)
        for name in ("tempo", "spo"):
            one_s, one_peak = measure(name, data, args.repeats)
            split_s, split_peak = measure(name, split, args.repeats)
            line = f"{name:9s} {G:6d} {one_s:12.3f} {one_peak:6.2f} {split_s:15.3f} {split_peak:6.2f}"
            if old is not None and G <= args.old_max:
                old_s, old_peak = measure(name, data, 1, builder=old)
                line += f" {old_s:14.3f} {old_peak:7.1f}"
            else:
                line += f" {'-':>14s} {'-':>7s}"
            print(line, flush=True)
    if old is None:
        print(f"(old builder not available: git revision {args.old_rev} not found)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
