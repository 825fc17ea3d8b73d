"""A ``train`` or ``compare`` that finished ends its process itself (``cli.end_process``): a stop signal while the
process exits changes nothing (exit 0, not 130/143: the run and its summary were written), and every file the
command left open for writing is closed first."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

SRC = str(Path(__file__).parents[1] / "src")

# The command's work stands in for a run; the atexit function for Python's exit after it, which took 0.8 s (3 s
# on a busy machine) after a small `treecredit train`: a signal sent then ended the process with 143.
FINISHED = """
import atexit, sys, time
import treecredit.cli as cli
import treecredit.training.{module} as command

LEFT_OPEN = sys.argv[2]

def closing():
    print("closing", flush=True)
    time.sleep(3)  # the test's signal arrives meanwhile

def run(args):
    left_open = open(LEFT_OPEN, "w")  # a writer the command did not close: closed before the process ends
    left_open.write("all of it")
    {done}
    print("summary", flush=True)
    atexit.register(closing)
    return 0

command.run = run
sys.argv = ["treecredit", "{command}", "--out", sys.argv[1]]
sys.exit(cli.main())
"""
DONE = {"train": "from treecredit.training.stopping import mark_run_ended; mark_run_ended()",
        "compare": "from treecredit.training.stopping import mark_command_done; mark_command_done(0)"}


@pytest.mark.parametrize("command", ["train", "compare"])
def test_a_signal_while_a_finished_command_exits_changes_nothing(tmp_path, command):
    module = "train_cli" if command == "train" else "compare_cli"
    script = FINISHED.format(module=module, command=command, done=DONE[command])
    env = {**os.environ, "PYTHONPATH": SRC}
    written = tmp_path / "left-open.txt"
    process = subprocess.Popen([sys.executable, "-c", script, str(tmp_path / "out"), str(written)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert process.stdout.readline().strip() == "summary"
        assert process.stdout.readline().strip() == "closing"
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, stderr  # was -15 (143 in a shell): ended by the signal
    assert written.read_text() == "all of it"


def test_a_sigterm_just_after_a_real_run_printed_its_summary_exits_0(tmp_path):
    """The trial's case end to end: a small `treecredit train`, SIGTERM 0.1 s after its last line (its exit took
    0.8-3 s then). Nothing here is timed: the process may be gone before the signal (then nothing is sent)."""
    import time

    settings = ["--task-option", "min_operators=1", "--task-option", "max_operators=1", "--steps", "2",
                "--prompts-per-step", "2", "--group-size", "2", "--max-new-tokens", "4", "--n-layer", "1",
                "--n-head", "2", "--n-embd", "16", "--warm-start-steps", "2", "--warm-start-batch", "4",
                "--eval-problems", "2", "--no-progress", "--no-tensorboard", "--cache-dir", str(tmp_path / "c")]
    env = {**os.environ, "PYTHONPATH": SRC}
    out = tmp_path / "run"
    process = subprocess.Popen([sys.executable, "-m", "treecredit", "train", *settings, "--out", str(out)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        lines = []
        for line in process.stdout:
            lines.append(line)
            if line.lstrip().startswith("log.txt"):  # the summary's last line: the run folder's files
                break
        assert lines and lines[-1].lstrip().startswith("log.txt"), (lines, process.communicate(timeout=60))
        time.sleep(0.1)
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    assert process.returncode == 0, stderr
    assert "run ended at step 2" in (out / "log.txt").read_text()
