"""Throughput of ``ibpo`` (tokens/s) at token and step level, and against the per-token reference.

    python benchmarks/bench_ibpo.py --quick     # seconds
    python benchmarks/bench_ibpo.py             # 256 groups x 16 responses x 2,048 tokens at step level

Responses are built from steps of 64 tokens drawn from a small per-group pool, so that responses share
many steps (as sampled solutions of one prompt do) without sharing a prefix; rewards are binary.
Token-level alignment costs O(P·T²) for P opposite pairs, so it is measured at a shorter length.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

DELIMITER = 13


def make_batch(n_groups: int, group_size: int, length: int, step: int, seed: int = 0) -> dict:
    rng = np.random.default_rng(seed)
    n_steps = length // step
    pool = rng.integers(14, 32_000, size=(n_groups, 8, step))  # 8 candidate steps per group
    pool[:, :, -1] = DELIMITER  # each step ends with the delimiter token
    choice = rng.integers(0, 8, size=(n_groups, group_size, n_steps))
    ids = pool[np.arange(n_groups)[:, None, None], choice].reshape(n_groups * group_size, n_steps * step)
    lengths = rng.integers(length // 2, length + 1, size=n_groups * group_size)
    mask = (np.arange(length)[None, :] < lengths[:, None]).astype(np.int8)
    ids = ids * mask
    rewards = rng.integers(0, 2, size=n_groups * group_size).astype(np.float64)
    groups = np.repeat(np.arange(n_groups), group_size)
    return dict(response_ids=ids, response_mask=mask, rewards=rewards, group_ids=groups)


def timed(fn, repeats: int) -> float:
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="small sizes, a few seconds")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    import treecredit
    from treecredit.batch import make_token_batch
    from treecredit.reference.ibpo import ibpo_reference
    from treecredit.steps import resolve_step_ends

    step_size = (32, 16, 2048) if not args.quick else (16, 16, 512)
    token_size = (8, 16, 512) if not args.quick else (4, 16, 256)
    cases = [("step level (step_tokens=64)", step_size, dict(step_tokens=64)),
             ("token level", token_size, {})]
    if not args.quick:
        cases[:0] = [("step level (step_tokens=64)", (256, 16, 2048), dict(step_tokens=64)),
                     ("step level (delimiter)", (256, 16, 2048), dict(delimiter=[DELIMITER]))]
    for label, (n_groups, group_size, length), options in cases:
        batch = make_batch(n_groups, group_size, length, 64)
        n_tokens = int(batch["response_mask"].sum())
        seconds = timed(lambda: treecredit.compute_advantages("ibpo", **batch, **options), args.repeats)
        print(f"ibpo {label:<28} {n_groups:>3} groups x {group_size} x {length:>4} tokens: "
              f"{n_tokens / seconds / 1e6:8.2f} M tokens/s ({seconds:.3f} s)")

    # The per-token Python reference against the fast path, side by side on one small batch.
    ref_size = (2, 8, 256) if args.quick else (4, 16, 512)
    small = make_batch(*ref_size, 64, seed=1)
    ends = resolve_step_ends(make_token_batch(**small), step_tokens=64)
    n_tokens = int(small["response_mask"].sum())
    for label, options, ref_ends in [("step", dict(step_tokens=64), ends), ("token", {}, None)]:
        fast = timed(lambda: treecredit.compute_advantages("ibpo", **small, **options), args.repeats)
        slow = timed(lambda: ibpo_reference(small["response_ids"], small["response_mask"], small["rewards"],
                                            small["group_ids"], step_ends=ref_ends), 1)
        print(f"reference vs fast, {label} level, {' x '.join(map(str, ref_size))} tokens: "
              f"reference {n_tokens / slow / 1e6:.3f} "
              f"M tokens/s, fast {n_tokens / fast / 1e6:.2f} M tokens/s, ratio {slow / fast:.0f}x")


if __name__ == "__main__":
    main()
