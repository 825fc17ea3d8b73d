"""Stdout's reader closes the pipe while a command runs (``treecredit train ... | head -1``): a command that writes
files goes on to its end with its output dropped and says so in one line; ``demo`` ends quietly (test_cli.py)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

SRC = str(Path(__file__).parents[1] / "src")

# `treecredit {command}` whose work prints one line, then many (more than a pipe holds, so that one of them meets
# the closed pipe whatever the timing), then writes a file: what is left once the reader closed the pipe.
PRINTS = """
import sys
import treecredit.cli as cli
import {module} as command

DONE = sys.argv[1] + ".done"

def run(args):
    print("first line", flush=True)
    for i in range(20000):
        print(f"line {{i}} of the command's output")
    {raw}
    open(DONE, "w").write("reached its end")
    return 0

command.run = run
sys.argv = ["treecredit", "{command}", {words}]
cli.entry()
"""
MODULES = {"train": "treecredit.training.train_cli", "compare": "treecredit.training.compare_cli",
           "demo": "treecredit.demo"}


def _head_1(tmp_path, command, raw="", words='"--out", sys.argv[1]'):
    """Run PRINTS as `... | head -1` (unbuffered, as the trial's shell): status, first line, stderr, done file."""
    script = PRINTS.format(module=MODULES[command], command=command, raw=raw, words=words)
    env = {**os.environ, "PYTHONPATH": SRC, "PYTHONUNBUFFERED": "1"}
    out = tmp_path / "out"
    process = subprocess.Popen([sys.executable, "-c", script, str(out)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=env)
    try:
        first = process.stdout.readline()
        process.stdout.close()  # head -1 exits
        stderr = process.stderr.read()
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return process.returncode, first, stderr, Path(str(out) + ".done")


def _small_run(tmp_path) -> list[str]:
    """`treecredit train`'s flags for a 2-step run of a tiny GPT (a few seconds), its cache in ``tmp_path``."""
    return ["--task-option", "min_operators=1", "--task-option", "max_operators=1", "--steps", "2",
            "--prompts-per-step", "2", "--group-size", "2", "--max-new-tokens", "4", "--n-layer", "1",
            "--n-head", "2", "--n-embd", "16", "--warm-start-steps", "2", "--warm-start-batch", "4",
            "--eval-problems", "2", "--no-progress", "--no-tensorboard", "--cache-dir", str(tmp_path / "c")]


def test_train_goes_on_to_its_end_after_the_pipe_closed(tmp_path):
    """Trial 35 (F4): `train ... | head -1` stopped the run at its next line (log.txt: BrokenPipeError, no
    checkpoint) and exited 0 with nothing on stderr."""
    status, first, stderr, done = _head_1(tmp_path, "train")
    assert first == "first line\n"
    assert status == 0, stderr
    assert done.read_text() == "reached its end"  # was missing: the command stopped at the closed pipe
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "stdout's reader closed the pipe" in lines[0] and "goes on" in lines[0], stderr
    assert str(tmp_path / "out" / "log.txt") in lines[0]


def test_compare_goes_on_and_names_its_report(tmp_path):
    status, _, stderr, done = _head_1(tmp_path, "compare")
    assert status == 0 and done.exists(), stderr
    assert str(tmp_path / "out" / "report.md") in stderr and stderr.count("\n") == 1, stderr


def test_demo_still_ends_quietly_at_the_closed_pipe(tmp_path):
    status, _, stderr, done = _head_1(tmp_path, "demo", words='"--estimators", "grpo"')
    assert status == 0 and stderr == "", stderr
    assert not done.exists()  # a command that only prints ends there


def test_after_the_closed_pipe_a_write_past_the_guard_goes_to_devnull(tmp_path):
    """The guard puts os.devnull on file descriptor 1: a later write straight to ``sys.__stdout__`` (or a process
    started later) does not meet the closed pipe again."""
    raw = "sys.__stdout__.write('x' * 100000); sys.__stdout__.flush()"
    status, _, stderr, done = _head_1(tmp_path, "train", raw=raw)
    assert status == 0 and done.exists(), stderr


def test_a_closed_pipe_before_any_guarded_write_stops_loudly(tmp_path):
    """The fallback: a BrokenPipeError the guard never saw (the command raised it) is one line and status 1."""
    script = PRINTS.replace('    print("first line", flush=True)\n', "    raise BrokenPipeError(32, 'Broken pipe')\n")
    script = script.format(module=MODULES["train"], command="train", raw="", words='"--out", sys.argv[1]')
    env = {**os.environ, "PYTHONPATH": SRC}
    done = subprocess.run([sys.executable, "-c", script, str(tmp_path / "out")], capture_output=True, text=True,
                          env=env, timeout=60)
    assert done.returncode == 1, done.stderr  # was 0 without a word
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "stopped: stdout's reader closed the pipe" in lines[0], done.stderr
    assert "nothing of a run was written" in lines[0]


def test_a_real_train_piped_into_head_saves_its_checkpoint(tmp_path):
    """The trial's case end to end: a small `treecredit train | head -1` (unbuffered): the run trains to its end."""
    settings = _small_run(tmp_path)
    env = {**os.environ, "PYTHONPATH": SRC, "PYTHONUNBUFFERED": "1"}
    out = tmp_path / "run"
    command = [sys.executable, "-m", "treecredit", "train", *settings, "--out", str(out)]
    done = subprocess.run(f"{subprocess.list2cmdline(command)} | head -1; exit ${{PIPESTATUS[0]}}", shell=True,
                          executable="/bin/bash", capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "stdout's reader closed the pipe" in done.stderr, done.stderr
    assert (out / "checkpoint.pt").is_file() and (out / "metrics.jsonl").is_file()  # both were missing
    assert "run ended at step 2" in (out / "log.txt").read_text()
    assert "BrokenPipeError" not in (out / "log.txt").read_text()


@pytest.mark.slow  # two small runs (20 s)
def test_a_full_stdout_stops_an_unbuffered_run_at_once_and_a_buffered_small_run_at_its_exit(tmp_path):
    """Trial 35 (F17), what docs/runs.md says of `train > /dev/full`: with PYTHONUNBUFFERED=1 the first line fails
    and the run stops before its first step; with the default buffering a small run trains to its end and saves,
    and its output fails at the exit. Both exit 120 with one line on stderr."""
    settings = _small_run(tmp_path)
    for unbuffered in (True, False):
        env = {**{k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}, "PYTHONPATH": SRC}
        if unbuffered:
            env["PYTHONUNBUFFERED"] = "1"
        out = tmp_path / f"run-{unbuffered}"
        with open("/dev/full", "w") as full:
            done = subprocess.run([sys.executable, "-m", "treecredit", "train", *settings, "--out", str(out)],
                                  stdout=full, stderr=subprocess.PIPE, text=True, env=env, timeout=300)
        assert done.returncode == 120, done.stderr
        assert len(done.stderr.strip().splitlines()) == 1 and "stdout" in done.stderr, done.stderr
        assert (out / "checkpoint.pt").exists() is not unbuffered, done.stderr
        assert ("run ended at step 2" in (out / "log.txt").read_text()) is not unbuffered
