"""Cost of a safe checkpoint: ``save_checkpoint`` (sha256 beside it, fsync, rotation of the previous one)
and ``read_checkpoint`` (length and sha256 checked) against a plain ``torch.save`` / ``torch.load`` of the
same model and optimizer, side by side in one run (medians of alternating repeats).

Run: ``python benchmarks/bench_checkpoint.py [--n-layer 4 --n-embd 144] [--repeats 7]``.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path


def main() -> None:
    import numpy as np
    import torch

    from treecredit.models import GPTPolicy
    from treecredit.training.checkpoint import read_checkpoint, save_checkpoint

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n-layer", type=int, default=4)
    parser.add_argument("--n-embd", type=int, default=144)
    parser.add_argument("--repeats", type=int, default=7)
    args = parser.parse_args()
    torch.set_num_threads(1)
    policy = GPTPolicy.build(seed=0, n_layer=args.n_layer, n_head=4, n_embd=args.n_embd)
    optimizer = torch.optim.AdamW(policy.module.parameters())
    for p in policy.module.parameters():
        p.grad = torch.zeros_like(p)
    optimizer.step()  # the optimizer's moments exist, as in a real checkpoint
    folder = Path(tempfile.mkdtemp())

    def plain_save():
        torch.save({"model": policy.module.state_dict(), "optimizer": optimizer.state_dict()}, folder / "plain.pt")

    def safe_save():
        save_checkpoint(folder, model=policy.module, optimizer=optimizer, generator=torch.Generator(),
                        problem_rng=np.random.default_rng(0), counters={"step": 1})

    timings: dict[str, list[float]] = {"plain_save": [], "safe_save": [], "plain_load": [], "safe_load": []}
    steps = {"plain_save": plain_save, "safe_save": safe_save,
             "plain_load": lambda: torch.load(folder / "plain.pt", weights_only=False),
             "safe_load": lambda: read_checkpoint(folder / "checkpoint.pt")}
    plain_save(), safe_save()
    for _ in range(args.repeats):
        for name, fn in steps.items():
            start = time.perf_counter()
            fn()
            timings[name].append(time.perf_counter() - start)
    ms = {name: 1000 * statistics.median(values) for name, values in timings.items()}
    size = (folder / "checkpoint.pt").stat().st_size / 1e6
    print(f"checkpoint of {size:.1f} MB (small GPT, {args.n_layer} layers × {args.n_embd}, with AdamW moments)")
    print(f"save: torch.save {ms['plain_save']:.0f} ms, save_checkpoint {ms['safe_save']:.0f} ms "
          f"(ratio {ms['safe_save'] / ms['plain_save']:.2f})")
    print(f"load: torch.load {ms['plain_load']:.0f} ms, read_checkpoint {ms['safe_load']:.0f} ms "
          f"(ratio {ms['safe_load'] / ms['plain_load']:.2f})")


if __name__ == "__main__":
    main()
