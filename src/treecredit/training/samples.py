"""Seeing the work: a few sampled completions per step with their rewards, in ``samples.jsonl`` of the
run folder and, every ``sample_every`` steps, on the console."""

from __future__ import annotations

import json
from pathlib import Path

from treecredit.training.metrics import json_safe


def sample_records(rollout, step: int, raw_rewards, n: int = 4) -> list[dict]:
    """Up to ``n`` rows of ``rollout``, one per group first (the first row of each of the first groups).

    ``raw_rewards`` ``(B,)``: the rewards before :func:`~treecredit.rewards.failed.neutralise_failed_rewards`
    (NaN where the reward failed); a failed reward is stored as ``"reward": null`` with ``"reward_failed":
    true``, never as the value imputed for the baseline."""
    import math

    seen, rows = set(), []
    for row in range(rollout.shape[0]):
        group = int(rollout.group_ids[row])
        if group not in seen:
            seen.add(group)
            rows.append(row)
        if len(rows) == n:
            break
    records = []
    for r in rows:
        failed = math.isnan(float(raw_rewards[r]))
        records.append({"step": step, "prompt": str(rollout.prompt_texts[r]), "completion": rollout.response_texts[r],
                        "reward": None if failed else _shortest(raw_rewards[r]), "reward_failed": failed})
    return records


def write_samples(folder, records: list[dict], *, echo: bool = False, log=print, width: int = 300) -> None:
    """Append ``records`` to ``<folder>/samples.jsonl``; with ``echo``, also print them (clipped to ``width``)."""
    with (Path(folder) / "samples.jsonl").open("a") as handle:
        for record in records:
            handle.write(json.dumps(json_safe(record), allow_nan=False) + "\n")
    if echo:
        for record in records:
            prompt = record["prompt"][-width:].replace("\n", "⏎")
            completion = record["completion"][:width].replace("\n", "⏎")
            reward = "failed (no advantage)" if record["reward"] is None else f"{record['reward']:.3f}"
            log(f"[step {record['step']}] reward {reward}\n  prompt: {prompt}\n"
                f"  completion: {completion}")


def _shortest(value) -> float:
    """A reward as the shortest decimal that its dtype reads back as the same number: a float32 reward of
    0.7375 is written 0.7375, not 0.737499952316284 (its exact float64 widening)."""
    import numpy as np

    number = value.item() if hasattr(value, "item") else float(value)
    dtype = getattr(value, "dtype", None)
    if dtype is not None and str(dtype).endswith("float32"):
        return float(str(np.float32(number)))  # NumPy prints a float32 in its shortest round-trip form
    return float(number)
