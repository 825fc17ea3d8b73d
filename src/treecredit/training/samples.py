"""Seeing the work: a few sampled completions per step with their rewards, in ``samples.jsonl`` of the
run folder and, every ``sample_every`` steps, on the console."""

from __future__ import annotations

import json
from pathlib import Path

from treecredit.training.metrics import json_safe


def sample_records(rollout, step: int, n: int = 4) -> list[dict]:
    """Up to ``n`` rows of ``rollout``, one per group first (the first row of each of the first groups)."""
    seen, rows = set(), []
    for row in range(rollout.shape[0]):
        group = int(rollout.group_ids[row])
        if group not in seen:
            seen.add(group)
            rows.append(row)
        if len(rows) == n:
            break
    weights = rollout.row_weights
    return [{"step": step, "prompt": str(rollout.prompt_texts[r]), "completion": rollout.response_texts[r],
             "reward": float(rollout.rewards[r]),
             "reward_failed": bool(weights is not None and float(weights[r]) == 0.0)} for r in rows]


def write_samples(folder, records: list[dict], *, echo: bool = False, log=print, width: int = 300) -> None:
    """Append ``records`` to ``<folder>/samples.jsonl``; with ``echo``, also print them (clipped to ``width``)."""
    with (Path(folder) / "samples.jsonl").open("a") as handle:
        for record in records:
            handle.write(json.dumps(json_safe(record), allow_nan=False) + "\n")
    if echo:
        for record in records:
            prompt = record["prompt"][-width:].replace("\n", "⏎")
            completion = record["completion"][:width].replace("\n", "⏎")
            failed = " (reward failed: no advantage)" if record["reward_failed"] else ""
            log(f"[step {record['step']}] reward {record['reward']:.3f}{failed}\n  prompt: {prompt}\n"
                f"  completion: {completion}")
