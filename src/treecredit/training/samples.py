"""Seeing the work: a few sampled completions per step with their rewards, in ``samples.jsonl`` of the
run folder and, every ``sample_every`` steps, on the console."""

from __future__ import annotations

import json
from pathlib import Path

from treecredit.training.metrics import as_written, json_safe


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
                        "reward": None if failed else as_written(raw_rewards[r]), "reward_failed": failed})
    return records


def write_samples(folder, records: list[dict], *, echo: bool = False, log=print, width: int = 300) -> None:
    """Append ``records`` to ``<folder>/samples.jsonl`` (UTF-8, text as written: ``"prompt": "Größe"``, not
    ``"Gr\\u00f6\\u00dfe"``); with ``echo``, also print them (clipped to ``width``)."""
    with (Path(folder) / "samples.jsonl").open("a", encoding="utf-8") as handle:
        for record in records:
            handle.write(json.dumps(json_safe(record), allow_nan=False, ensure_ascii=False) + "\n")
    if echo:
        for record in records:
            prompt = record["prompt"][-width:].replace("\n", "⏎")
            completion = record["completion"][:width].replace("\n", "⏎")
            reward = "failed (no advantage)" if record["reward"] is None else f"{record['reward']:.3f}"
            log(f"[step {record['step']}] reward {reward}\n  prompt: {prompt}\n"
                f"  completion: {completion}")



def cut_back_side_files(folder, keep_until_step: int | None, resume: bool) -> None:
    """Cut a run folder's ``samples.jsonl`` and TensorBoard events back to where the run goes on from, as
    :class:`~treecredit.training.metrics.MetricsWriter` cuts ``metrics.jsonl``: ``keep_until_step`` the resumed
    checkpoint's step (later records go; TensorBoard's are purged by the writer's ``purge_step``), or None for a
    start from step 0. Under ``resume`` a start from step 0 is a run killed before its first checkpoint started
    again: its ``samples.jsonl`` is emptied and its ``tensorboard/`` events removed (they hold steps that are run
    again; before, steps 1, 2, 1, 2, 3 stood there). Without ``resume`` the folder holds no run (checked before):
    nothing is touched."""
    import shutil

    from treecredit.training.metrics import keep_records_until

    folder = Path(folder)
    if keep_until_step is not None:
        keep_records_until(folder / "samples.jsonl", keep_until_step)
    elif resume:
        (folder / "samples.jsonl").unlink(missing_ok=True)
        shutil.rmtree(folder / "tensorboard", ignore_errors=True)
