"""A run killed before its first checkpoint and started again from step 0 (--resume) keeps no line of the killed
attempt in samples.jsonl and no point of it in TensorBoard, as metrics.jsonl keeps none."""

import glob

import pytest

from treecredit.training.loop import train
from treecredit.training.metrics import read_metrics


def _board_steps(folder):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    steps = []
    for path in sorted(glob.glob(f"{folder}/tensorboard/*")):
        events = EventAccumulator(path)
        events.Reload()
        steps += [e.step for e in events.Scalars("train/reward")] if "train/reward" in events.Tags()["scalars"] else []
    return steps


def test_a_restart_from_step_0_cuts_samples_and_tensorboard_back(tiny_config):
    pytest.importorskip("tensorboard")
    config = tiny_config(steps=3, eval_every=3, checkpoint_every=0, tensorboard=True, warm_start_steps=20)
    train(config, stop_at_step=2, log=lambda *a: None)  # killed after step 2, before any checkpoint
    assert sorted({r["step"] for r in read_metrics(f"{config.out}/samples.jsonl")}) == [1, 2]
    train(config, resume=True, log=lambda *a: None)
    assert [r["step"] for r in read_metrics(f"{config.out}/metrics.jsonl") if r["kind"] == "train"] == [1, 2, 3]
    samples = [r["step"] for r in read_metrics(f"{config.out}/samples.jsonl")]
    assert samples == sorted(samples) and sorted(set(samples)) == [1, 2, 3]
    assert _board_steps(config.out) == [1, 2, 3]
