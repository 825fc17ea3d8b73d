"""Stopping a comparison by a signal (Ctrl-C sends SIGINT to the whole process group): the running runs stop
after their step with a checkpoint, no further run starts, the command says how to resume and exits 128 + the
signal's number, and ``compare --resume`` then gives what an uninterrupted comparison gives."""

import json
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from treecredit.training.checkpoint import read_checkpoint
from treecredit.training.metrics import read_metrics
from treecredit.training.stopping import RunInterrupted, StoppedAtOnce

SETTINGS = ["--estimators", "grpo,rloo", "--seeds", "2", "--budget", "1500", "--n-layer", "1", "--n-head", "2",
            "--n-embd", "16", "--warm-start-steps", "5", "--warm-start-batch", "8", "--prompts-per-step", "2",
            "--group-size", "2", "--max-new-tokens", "6", "--eval-problems", "4", "--eval-every", "100000",
            "--task-option", "min_operators=1", "--task-option", "max_operators=1", "--no-tensorboard"]
WALL = ("wall_grid", "wall_mean", "wall_half", "wall_s", "elapsed_s")  # wall time differs between any two runs


def test_run_interrupted_survives_pickling():  # a worker process sends it to the parent
    for kind in (RunInterrupted, StoppedAtOnce):
        copy = pickle.loads(pickle.dumps(kind("stopped by SIGTERM after step 5", signal.SIGTERM, 5)))
        assert type(copy) is kind and str(copy) == "stopped by SIGTERM after step 5"
        assert (copy.signum, copy.step, copy.exit_code) == (signal.SIGTERM, 5, 143)


def _train_steps(folder: Path) -> list[int]:
    path = folder / "metrics.jsonl"
    return [r["step"] for r in read_metrics(path) if r["kind"] == "train"] if path.exists() else []


def _stop(argv: list, out: Path, signum: int, whole_group: bool) -> subprocess.CompletedProcess:
    """Start ``treecredit compare`` in a session of its own, send ``signum`` (to its whole process group, as a
    terminal does, or to the parent alone) once both first runs trained a step; return the ended process."""
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "src")}
    process = subprocess.Popen([sys.executable, "-m", "treecredit.cli", *argv], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=env, start_new_session=True)
    deadline = time.monotonic() + 240
    try:
        while not all(_train_steps(out / "runs" / f"{arm}-seed0") for arm in ("grpo", "rloo")):
            assert process.poll() is None, process.communicate()
            assert time.monotonic() < deadline, "no training step within the timeout"
            time.sleep(0.05)
        (os.killpg if whole_group else os.kill)(process.pid, signum)
        stdout, stderr = process.communicate(timeout=120)  # a hang fails here
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate()
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def _without_wall(path: Path):
    data = json.loads(path.read_text()) if path.suffix == ".json" else read_metrics(path)

    def strip(value):
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k not in WALL}
        return [strip(v) for v in value] if isinstance(value, list) else value

    return strip(data)


def _stopped_cleanly(argv: list, out: Path, signum: int, whole_group: bool) -> None:
    done = _stop(argv, out, signum, whole_group)
    assert done.returncode == 128 + signum, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr + done.stdout
    # counted when the signal came: both first runs running, or (a race the test cannot rule out: one worker's run
    # can reach its budget while the other's process still starts torch) one of them finished already
    name = signal.Signals(signum).name
    finished = int(f"{name} received: the running run stops after its current step and saves a checkpoint; the 2 "
                   "runs not started yet do not start" in done.stderr)
    assert finished or (f"{name} received: the 2 running runs stop after their current step and save their "
                        "checkpoints; the 2 runs not started yet do not start") in done.stderr, done.stderr
    in_progress = ("the 2 runs in progress (grpo-seed0, rloo-seed0) keep their last checkpoints and continue from "
                   "them" if not finished else
                   "the run in progress ({}) keeps its last checkpoint and continues from it")
    said = [f"treecredit compare: stopped ({name}; {finished} of 4 runs finished); {in_progress.format(run)} on "
            f"--resume; 2 runs not started yet start then. Continue with the same arguments and --resume (--out {out})"
            for run in ("grpo-seed0", "rloo-seed0")]  # each run in progress named, with what --resume does with it
    assert any(line in done.stderr for line in said), done.stderr
    for arm in ("grpo", "rloo"):  # both first runs saved their last step (stopped or finished); the second seeds
        # never started
        folder = out / "runs" / f"{arm}-seed0"
        assert read_checkpoint(folder / "checkpoint.pt")["counters"]["step"] == max(_train_steps(folder))
        assert not (out / "runs" / f"{arm}-seed1").exists()


@pytest.mark.slow
@pytest.mark.parametrize("signum, whole_group", [(signal.SIGINT, True), (signal.SIGTERM, False)])
def test_a_signal_stops_a_parallel_comparison_which_resumes_exactly(tmp_path, signum, whole_group):
    """The fault this guards against: with --jobs 2, Ctrl-C hung (the workers' stop could not be sent back).
    Slow: three processes start torch (40-60 s on two cores); the SIGINT case is the one the fast suite ran until
    then, checked here up to its resume."""
    from treecredit.cli import main

    out, cache = tmp_path / "cmp", ["--cache-dir", str(tmp_path / "c")]
    argv = ["compare", *SETTINGS, "--jobs", "2", "--out", str(out), *cache]
    _stopped_cleanly(argv, out, signum, whole_group)
    assert main([*argv, "--resume"]) == 0
    assert main(["compare", *SETTINGS, "--jobs", "1", "--out", str(tmp_path / "fresh"), *cache]) == 0
    assert _without_wall(out / "results.json") == _without_wall(tmp_path / "fresh" / "results.json")
    for run in sorted((tmp_path / "fresh" / "runs").iterdir()):
        assert _without_wall(out / "runs" / run.name / "metrics.jsonl") == _without_wall(run / "metrics.jsonl")


def test_compare_accepts_no_progress(tmp_path, capsys):  # as train and lab do; compare shows no bars anyway
    from treecredit.cli import main

    assert main(["compare", "--no-progress", "--seeds", "0", "--out", str(tmp_path / "cmp")]) == 2
    err = capsys.readouterr().err
    assert "seeds: is 0" in err and "spelling" not in err


def test_a_comparison_stopped_before_any_checkpoint_does_not_promise_one(tmp_path):
    # was: "runs keep their last checkpoints" when none had saved one (Ctrl-C before the first step)
    from treecredit.training.compare_cli import stopped_note

    folders = [tmp_path / "runs" / name for name in ("grpo-seed0", "tempo-seed0")]
    for folder in folders:
        folder.mkdir(parents=True)
        (folder / "config.json").write_text("{}")
    assert "no run had saved a checkpoint yet, so every run starts again" in stopped_note(tmp_path, folders, "SIGINT")
    (folders[0] / "checkpoint.pt").write_bytes(b"")
    assert "1 of its 2 runs keeps its last checkpoint, the others" in stopped_note(tmp_path, folders, "SIGINT")


def test_the_stop_line_counts_the_runs_running_and_not_started_when_the_signal_comes():
    # was: "2 runs not started, waiting for 1 to finish their step" with 2 runs running (said once the first of
    # them had stopped, not when the signal came)
    from treecredit.training.stopping import RunCounts, stop_line

    counts = RunCounts(4)
    counts.started = 2
    assert stop_line("SIGINT", counts) == (
        "SIGINT received: the 2 running runs stop after their current step and save their checkpoints; the 2 runs "
        "not started yet do not start (send it again to stop at once without saving)")
    counts.started, counts.finished = 4, 3
    assert stop_line("SIGTERM", counts).startswith(
        "SIGTERM received: the running run stops after its current step and saves a checkpoint (send it again")
    counts.finished = 4
    assert "every run of the comparison has finished, so nothing is stopped" in stop_line("SIGTERM", counts)


def test_a_signal_after_the_last_run_of_a_comparison_finished_says_the_report_is_written(tmp_path, monkeypatch,
                                                                                        capfd):
    # was (--jobs 1): "every running run stops ...; no further run starts", then the whole report and exit 0
    import treecredit.training.report as report
    from treecredit.cli import main

    summarise = report.summarise

    def signalled(*args, **kwargs):  # the report after the last run: the signal comes while it is written
        if kwargs.get("pending") == 0:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.5)  # the handler runs meanwhile
        return summarise(*args, **kwargs)

    monkeypatch.setattr(report, "summarise", signalled)
    settings = [s for s in SETTINGS if s != "grpo,rloo"]
    settings[settings.index("--estimators") + 1:settings.index("--estimators") + 1] = ["grpo"]
    settings[settings.index("--seeds") + 1] = "1"
    settings[settings.index("--budget") + 1] = "40"
    out = tmp_path / "cmp"
    assert main(["compare", *settings, "--jobs", "1", "--out", str(out), "--cache-dir", str(tmp_path / "c")]) == 0
    err = capfd.readouterr().err
    assert ("SIGTERM received: every run of the comparison has finished, so nothing is stopped; its report is "
            "written in full") in err, err
    assert "no further run starts" not in err and "stops after" not in err
    assert "| grpo" in (out / "report.md").read_text() and "Partial report" not in (out / "report.md").read_text()
