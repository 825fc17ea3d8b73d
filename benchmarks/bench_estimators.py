"""Speed and memory of every registered token-level estimator on a realistic batch, on one core.

Prints, per estimator: tokens/s for tree construction plus advantages (best of ``--repeats``), the ratio of
its time to ``grpo``'s (the two called alternately, best of each, so load on a shared machine
slows both alike), extra peak memory (tracemalloc) against the size of
``response_ids`` for the whole public call (peak/ids) and for the estimator alone on an already validated
batch (core/ids), and, for estimators with a per-token reference loop, the speed-up over that loop (the
loop is timed on a subset of groups and extrapolated linearly in tokens; the table says so).

Usage::

    python benchmarks/bench_estimators.py            # 256 groups x 16 responses x 2,048 tokens
    python benchmarks/bench_estimators.py --quick    # 32 x 16 x 256, a few seconds
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # one core, as the targets are stated

import argparse  # noqa: E402
import sys  # noqa: E402
import tracemalloc  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

import treecredit  # noqa: E402
from timing import best_time  # noqa: E402  (benchmarks/timing.py; the script's folder is on sys.path)
from treecredit.batch import make_token_batch  # noqa: E402
from treecredit.reference import grpo as ref_grpo  # noqa: E402
from treecredit.reference import ibpo as ref_ibpo  # noqa: E402
from treecredit.reference import tree_estimators as ref_tree  # noqa: E402
from treecredit.steps import resolve_step_ends  # noqa: E402
from treecredit.trees.synthetic import synthetic_batch  # noqa: E402

PUBLIC = ("response_ids", "response_mask", "rewards", "group_ids")
STEP = 64
MAX_TOKEN_LCS = 512  # longest rows on which token-level ibpo is benchmarked


def inputs_for(name: str, data: dict) -> list[tuple[str, dict]]:
    """(label, options) runs for an estimator; add an entry here for an estimator that needs inputs."""
    steps = {"step_tokens": STEP}
    table = {
        "treerpo": [("treerpo[step trie]", steps), ("treerpo[sampled tree]", {"tree_nodes": data["tree_nodes"]})],
        "vine": [("vine", {**steps, "mc_values": data["mc_values"]})],
        # Token-level LCS costs O(pairs x T^2): at T = 2,048 one call takes about half an hour.
        "ibpo": ([("ibpo", {})] if data["response_ids"].shape[1] <= MAX_TOKEN_LCS else []) + [("ibpo[steps]", steps)],
    }
    if name in table:
        return table[name]
    runs = [(name, {})]
    options = treecredit.get_estimator(name).options
    if "step_tokens" in options and name != "vine":
        runs.append((f"{name}[step trie]", steps))
    if "tree_nodes" in options:
        runs.append((f"{name}[sampled tree]", {"tree_nodes": data["tree_nodes"]}))
    return runs


REFERENCES = {"grpo": ref_grpo.grpo_reference, "tempo": ref_tree.tempo_reference, "spo": ref_tree.spo_reference,
              "treerl": ref_tree.treerl_reference, "treerpo": ref_tree.treerpo_reference,
              "treepo": ref_tree.treepo_reference, "vine": ref_tree.vine_reference,
              "ibpo": ref_ibpo.ibpo_reference}


def best_times_interleaved(fn, baseline, repeats: int) -> tuple[float, float]:
    """Best times of ``fn`` and ``baseline``, called alternately, so a busy machine slows both alike."""
    best_fn = best_base = float("inf")
    for _ in range(repeats):
        best_base = min(best_base, best_time(baseline, 1))
        best_fn = min(best_fn, best_time(fn, 1))
    return best_fn, best_base


def peak_extra_bytes(fn) -> int:
    tracemalloc.start()
    tracemalloc.reset_peak()
    base = tracemalloc.get_traced_memory()[0]
    fn()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return peak - base


def reference_groups(data: dict, n_groups: int) -> np.ndarray:
    """Rows of ``n_groups`` groups for timing the reference loop, alternating i.i.d. and tree-sampled groups."""
    kinds = [np.flatnonzero(~data["tree_groups"]), np.flatnonzero(data["tree_groups"])]
    chosen = [int(k[i // 2]) for i, k in ((i, kinds[i % 2]) for i in range(n_groups)) if i // 2 < k.size]
    return np.flatnonzero(np.isin(data["group_ids"], chosen))


def reference_seconds_per_token(name: str, options: dict, data: dict, n_groups: int) -> float:
    rows = reference_groups(data, n_groups)
    sub = {k: data[k][rows] for k in PUBLIC}
    ref_opts = {}
    if "step_tokens" in options:
        batch = make_token_batch(*(sub[k] for k in PUBLIC))
        ref_opts["step_ends"] = resolve_step_ends(batch, step_tokens=options["step_tokens"])
    if "tree_nodes" in options:
        ref_opts["tree_nodes"] = data["tree_nodes"][rows]
    if "mc_values" in options:
        ref_opts["mc_values"] = data["mc_values"][rows]
    ref = REFERENCES[name]
    seconds = best_time(lambda: ref(*(sub[k] for k in PUBLIC), **ref_opts), 2)  # best of 2: load only slows
    return seconds / sub["response_ids"].size


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a small batch (32 x 16 x 256)")
    parser.add_argument("--groups", type=int, default=None)
    parser.add_argument("--group-size", type=int, default=16)
    parser.add_argument("--tokens", type=int, default=None)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--reference-groups", type=int, default=2, help="groups the reference loop is timed on")
    parser.add_argument("--no-reference", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    n_groups = args.groups or (32 if args.quick else 256)
    n_tokens = args.tokens or (256 if args.quick else 2048)
    data = synthetic_batch(np.random.default_rng(args.seed), n_groups=n_groups, group_size=args.group_size,
                           n_tokens=n_tokens, step=STEP if n_tokens > 4 * STEP else 8)
    public = {k: data[k] for k in PUBLIC}
    n_tok = data["response_ids"].size
    id_bytes = data["response_ids"].nbytes
    print(f"batch: {n_groups} groups x {args.group_size} responses x {n_tokens} tokens = {n_tok / 1e6:.2f} M tokens; "
          f"response_ids {data['response_ids'].dtype} {id_bytes / 2**20:.0f} MiB; half the groups tree-sampled "
          f"(steps of {STEP} tokens), half i.i.d.; numpy {np.__version__}, one thread")
    print(f"reference loops timed on {args.reference_groups} groups (i.i.d. and tree-sampled alternately) and "
          "extrapolated linearly per token")
    header = (f"{'estimator':24s} {'tokens/s':>12s} {'time s':>8s} {'x grpo':>7s} {'peak/ids':>9s} "
              f"{'core/ids':>9s} {'x ref loop':>11s}")
    print(header)
    print("-" * len(header))
    if n_tokens > MAX_TOKEN_LCS:
        print(f"(token-level ibpo is O(pairs x T^2) and skipped above {MAX_TOKEN_LCS} tokens; ibpo[steps] is timed)")
    batch = make_token_batch(*(data[k] for k in PUBLIC))
    _ = batch.lengths  # cached, as every estimator reads it
    validation = best_time(lambda: make_token_batch(*(data[k] for k in PUBLIC)), args.repeats)
    print(f"{'(input validation only)':24s} {n_tok / validation:12.3e} {validation:8.3f}")
    grpo_call = lambda: treecredit.compute_advantages("grpo", **public)  # noqa: E731
    notes = []
    for name in ["grpo"] + [n for n in treecredit.estimators("token") if n != "grpo"]:
        for label, options in inputs_for(name, data):
            call = lambda: treecredit.compute_advantages(name, **public, **options)  # noqa: E731
            try:
                call()
            except (ValueError, TypeError) as exc:
                notes.append(f"{label}: not run, the benchmark cannot feed it ({exc})")
                continue
            seconds, grpo_time = best_times_interleaved(call, grpo_call, args.repeats)
            peak = peak_extra_bytes(call)
            core = peak_extra_bytes(lambda: treecredit.get_estimator(name).fn(batch, **options))
            speedup = ""
            if name in REFERENCES and not args.no_reference:
                per_token = reference_seconds_per_token(name, options, data, args.reference_groups)
                speedup = f"{per_token * n_tok / seconds:11.0f}"
            print(f"{label:24s} {n_tok / seconds:12.3e} {seconds:8.3f} {seconds / grpo_time:7.2f} "
                  f"{peak / id_bytes:9.2f} {core / id_bytes:9.2f} {speedup:>11s}")
    for note in notes:
        print("note:", note)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
