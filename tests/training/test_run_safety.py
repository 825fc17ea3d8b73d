"""A run is never lost: checked checkpoints with the previous one kept, exact resume after a damaged checkpoint or a
kill, clean stops on signals (run folders and what a resume accepts: test_run_folders.py)."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from treecredit.training.checkpoint import (
    CheckpointError,
    load_latest_checkpoint,
    read_checkpoint,
    save_checkpoint,
)
from treecredit.training.loop import train
from treecredit.training.metrics import read_metrics

torch.set_num_threads(1)
QUIET = {"log": lambda *a: None}


def _strip(records):
    return [{k: v for k, v in r.items() if k != "elapsed_s"} for r in records]


def _model_and_optimizer():
    model = torch.nn.Linear(3, 2)
    return model, torch.optim.AdamW(model.parameters())


def _save(folder, step):
    import numpy as np

    model, optimizer = _model_and_optimizer()
    return save_checkpoint(folder, model=model, optimizer=optimizer, generator=torch.Generator(),
                           problem_rng=np.random.default_rng(0), counters={"step": step}, elapsed_s=1.5 * step)


def test_checkpoints_are_checked_and_the_previous_one_is_kept(tmp_path):
    _save(tmp_path, 1)
    path = _save(tmp_path, 2)
    assert read_checkpoint(path)["counters"] == {"step": 2}
    assert read_checkpoint(tmp_path / "checkpoint.prev.pt")["counters"] == {"step": 1}
    assert not list(tmp_path.glob("*.tmp"))
    data = path.read_bytes()

    path.write_bytes(data[: len(data) // 2])  # truncated
    with pytest.raises(CheckpointError, match=f"^checkpoint: {path} is truncated"):
        read_checkpoint(path)
    middle = len(data) // 2
    path.write_bytes(data[:middle] + bytes(64) + data[middle + 64:])  # zeroed bytes in the middle
    with pytest.raises(CheckpointError, match=f"^checkpoint: {path} is corrupted.*Fix"):
        read_checkpoint(path)

    warnings = []
    state = load_latest_checkpoint(tmp_path, log=warnings.append)
    assert state["counters"] == {"step": 1} and state["elapsed_s"] == 1.5
    assert len(warnings) == 1 and str(path) in warnings[0] and "falling back" in warnings[0]
    assert (tmp_path / "checkpoint.pt.damaged").exists()


def test_a_checkpoint_without_its_checksum_is_refused_and_loads_with_torch(tmp_path):
    path = _save(tmp_path, 1)
    assert torch.load(path, weights_only=False)["counters"] == {"step": 1}  # an ordinary torch file
    (tmp_path / "checkpoint.pt.sha256").unlink()  # e.g. killed between the two renames
    with pytest.raises(CheckpointError, match=f"^checkpoint: {path} has no checksum file checkpoint.pt.sha256"):
        read_checkpoint(path)


def test_no_valid_checkpoint_is_an_error_naming_the_files(tmp_path):
    path = _save(tmp_path, 1)
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(ValueError, match=f"^resume: no valid checkpoint in {tmp_path}: .*{path} is truncated"):
        load_latest_checkpoint(tmp_path, log=lambda *a: None)


def test_resume_falls_back_to_the_previous_checkpoint_and_stays_exact(cached_config, tmp_path):
    full = train(cached_config(steps=6, checkpoint_every=2, eval_every=2, out=str(tmp_path / "a")), **QUIET)
    config = cached_config(steps=6, checkpoint_every=2, eval_every=2, out=str(tmp_path / "b"))
    train(config, stop_at_step=4, **QUIET)  # checkpoints at steps 2 (kept as previous) and 4
    latest = tmp_path / "b" / "checkpoint.pt"
    data = latest.read_bytes()
    latest.write_bytes(data[:1000] + bytes(100) + data[1100:])
    messages = []
    resumed = train(config, resume=True, log=messages.append)
    assert any("warning:" in m and str(latest) in m and "step 2" in m for m in messages), messages
    assert _strip(resumed) == _strip(full)
    train_records = [r for r in resumed if r["kind"] == "train"]
    assert train_records[2]["elapsed_s"] > train_records[1]["elapsed_s"]  # wall time continues after resume


def test_replay_run_resumed_after_a_kill_equals_the_uninterrupted_run(cached_config, tmp_path):
    settings = {"steps": 6, "checkpoint_every": 3, "eval_every": 3, "sampler": "tree", "group_size": 4,
                "replay_leaves": 2, "branching_options": {"children": 2, "depth": 1}, "prompts_per_step": 4,
                "task_options": {"min_operators": 1, "max_operators": 1, "max_operand": 2, "operators": "+"},
                "eval_problems": 1}
    full = train(cached_config(out=str(tmp_path / "a"), **settings), **QUIET)
    assert any(r.get("tree_replayed_rows", 0) > 0 for r in full if r["kind"] == "train" and r["step"] > 3)
    config = cached_config(out=str(tmp_path / "b"), **settings)
    train(config, stop_at_step=4, **QUIET)  # killed after step 4; the checkpoint holds step 3
    resumed = train(config, resume=True, **QUIET)
    assert _strip(resumed) == _strip(full)


def _wait_for_train_record(path: Path, process, timeout=120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(process.communicate())
        if path.exists() and '"kind": "train"' in path.read_text():
            return
        time.sleep(0.2)
    process.kill()
    raise AssertionError("no training step within the timeout")


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_saves_a_checkpoint_and_stops_cleanly(tmp_path, signum):
    out = tmp_path / "run"
    argv = [sys.executable, "-m", "treecredit.cli", "train", "--out", str(out), "--cache-dir", str(tmp_path / "c"),
            "--steps", "100000", "--checkpoint-every", "0", "--eval-every", "100000", "--no-progress",
            "--n-layer", "1", "--n-head", "2", "--n-embd", "16", "--warm-start-steps", "0", "--prompts-per-step", "2",
            "--group-size", "2", "--max-new-tokens", "6", "--eval-problems", "2", "--no-tensorboard"]
    stop_by_signal(argv, out, signum)


def stop_by_signal(argv: list, out: Path, signum: int) -> None:
    """Run ``argv`` (a ``treecredit train`` writing to ``out`` with a huge ``--steps``), send ``signum`` after
    its first training step, and check the clean stop: exit code, message, checkpoint of the last step."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "src")}
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    _wait_for_train_record(out / "metrics.jsonl", process)
    process.send_signal(signum)
    stdout, stderr = process.communicate(timeout=120)
    assert process.returncode == 128 + signum, (stdout, stderr)
    assert "Traceback" not in stderr and "Traceback" not in stdout
    assert f"stopped by {signal.Signals(signum).name} after step" in stderr
    assert f"`treecredit train --config {out / 'config.json'} --resume`" in stderr  # every saved setting
    last = max(r["step"] for r in read_metrics(out / "metrics.jsonl"))
    assert read_checkpoint(out / "checkpoint.pt")["counters"]["step"] == last
    assert json.loads((out / "config.json").read_text())["steps"] == 100000


def test_export_refuses_a_used_out_folder_and_a_small_gpt_run_before_reading_its_checkpoint(tmp_path, capsys):
    from treecredit.cli import main

    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text("{}")  # a small-GPT run (the default model)
    path = _save(run, 1)
    (tmp_path / "used").mkdir()
    (tmp_path / "used" / "keep.txt").write_text("mine")
    assert main(["export", str(run), "--out", str(tmp_path / "used")]) == 2
    assert "out: " in capsys.readouterr().err and (tmp_path / "used" / "keep.txt").read_text() == "mine"
    path.write_bytes(path.read_bytes()[:-10])  # the checkpoint is not read: config.json refuses the run first
    assert main(["export", str(run), "--out", str(tmp_path / "new")]) == 2
    err = capsys.readouterr().err
    assert "run: the run trained the small GPT, which has no Hugging Face format" in err and "truncated" not in err
