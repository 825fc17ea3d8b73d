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
cli.entry()
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


# A command of a few words whose process is the command's (`cli.entry`, as the `treecredit` script): {body} is
# the train command's work.
OWN = """
import sys, threading, time
import treecredit.cli as cli
import treecredit.training.train_cli as command

def run(args):
{body}

command.run = run
sys.argv = ["treecredit", "train", "--out", sys.argv[1]]
{call}
"""


def _own(tmp_path, body, call="cli.entry()", **popen):
    script = OWN.format(body="\n".join("    " + line for line in body.splitlines()), call=call)
    env = {**{k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}, "PYTHONPATH": SRC}
    options = {"stdout": subprocess.PIPE, "stderr": subprocess.PIPE, "text": True, "env": env, **popen}
    return subprocess.Popen([sys.executable, "-c", script, str(tmp_path / "out")], **options)


def _finish(process, timeout=30):
    try:
        return process.communicate(timeout=timeout)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()


def test_a_failed_flush_of_stdout_at_the_end_is_said_and_exits_120(tmp_path):
    """Review 2026-12-03 (1a): `> /dev/full` lost the command's last output and the status stayed 0."""
    with open("/dev/full", "w") as full:
        process = _own(tmp_path, "print('the summary')\nreturn 0", stdout=full)
        _, stderr = _finish(process)
    assert process.returncode == 120, stderr
    assert stderr.count("could not write the end of stdout") == 1 and "No space left" in stderr, stderr


def test_main_without_words_returns_to_its_caller(tmp_path):
    """Review 2026-12-03 (1b): main() without argv ended the caller's process; its finally blocks never ran."""
    call = "try:\n    print('returned', cli.main(), flush=True)\nfinally:\n    print('finally ran', flush=True)"
    process = _own(tmp_path, "return 3", call=call)
    stdout, stderr = _finish(process)
    assert stdout.split("\n")[:2] == ["returned 3", "finally ran"], (stdout, stderr)
    assert process.returncode == 0, stderr


def _stopped(tmp_path, body, signals, wait=0.0):
    """The process of a command that printed 'done' and left a thread running for a minute, after ``signals``
    SIGTERMs (``wait`` seconds after 'done'): its status, None if it was still running 15 s later."""
    import time

    process = _own(tmp_path, "threading.Thread(target=time.sleep, args=(60,)).start()\n" + body)
    try:
        assert process.stdout.readline().strip() == "done", process.communicate(timeout=30)
        time.sleep(wait)
        for _ in range(signals):
            process.send_signal(signal.SIGTERM)
            time.sleep(0.2)
        process.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        return None
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
    return process.returncode


def test_a_second_signal_ends_a_process_whose_exit_hangs_with_the_commands_status(tmp_path):
    """Review 2026-12-03 (1c): once the command was over both signals were ignored, so a process whose exit
    waited on a thread (or an atexit function) could only be killed."""
    # 0.3 s after 'done': a signal that lands before the command has returned is the command's (143), not the
    # exit's; whether both signals fall within the first second or not, the status is the command's
    assert _stopped(tmp_path, "print('done', flush=True)\nreturn 3", signals=2, wait=0.3) == 3
    assert _stopped(tmp_path, "print('done', flush=True)\nreturn 3", signals=1, wait=1.5) == 3  # a late one


def test_after_a_command_that_raised_a_signal_is_not_ignored(tmp_path):
    """The signal is sent once the error line is on stderr (the exception has left the command and its signal
    handlers): sent on 'done' alone, under load it could land before the raise, stop the command as its own
    (143) and leave the exit waiting on the thread with no second signal (the test failed, the process did as
    designed)."""
    process = _own(tmp_path, "threading.Thread(target=time.sleep, args=(60,)).start()\n"
                   "print('done', flush=True)\nraise ValueError('bad input')")
    try:
        assert process.stdout.readline().strip() == "done", _finish(process)
        lines = []
        while not lines or not lines[-1].strip().endswith("error: bad input"):
            lines.append(process.stderr.readline())
            assert lines[-1], "".join(lines)
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=15)
    finally:
        _finish(process)
    assert process.returncode not in (None, 0)


def test_a_failed_flush_when_a_signal_ends_a_hung_exit_exits_120(tmp_path):
    """Review 34 (6): a stop signal that ended an exit waiting on a thread discarded the failed flush of stdout
    (said on stderr) and exited with the command's 0; without the signal the same process exits 120."""
    import time

    body = ("threading.Thread(target=time.sleep, args=(60,)).start()\nprint('the summary')\n"
            "print('done', file=sys.stderr, flush=True)\nreturn 0")
    with open("/dev/full", "w") as full:
        process = _own(tmp_path, body, stdout=full)
        try:
            assert process.stderr.readline().strip() == "done", _finish(process)
            time.sleep(1.5)  # past SECOND_SIGNAL_AFTER: one signal ends the exit that waits on the thread
            process.send_signal(signal.SIGTERM)
            _, stderr = process.communicate(timeout=30)
        finally:
            _finish(process)
    assert process.returncode == 120, stderr
    assert stderr.count("could not write the end of stdout") == 1, stderr


def _full(words, unbuffered, tmp_path):
    """`python -m treecredit WORDS > /dev/full` (with PYTHONUNBUFFERED=1 or without): its status and stderr."""
    env = {**{k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}, "PYTHONPATH": SRC}
    if unbuffered:
        env["PYTHONUNBUFFERED"] = "1"
    with open("/dev/full", "w") as full:
        done = subprocess.run([sys.executable, "-m", "treecredit", *words], stdout=full, stderr=subprocess.PIPE,
                              text=True, env=env, cwd=tmp_path, timeout=120)
    return done.returncode, done.stderr


@pytest.mark.parametrize(("words", "unbuffered"), [
    (["demo", "--estimators", "grpo"], True), (["train", "--help"], False), (["--version"], False)])
def test_a_full_stdout_is_one_line_on_stderr_and_exit_120(tmp_path, words, unbuffered):
    """Trial 34 (f8): `demo > /dev/full` unbuffered ended in a traceback (status 1), `train --help` buffered
    exited 0 without a word (argparse passes over the failed write), `--version` buffered printed Python's two
    lines "Exception ignored ..."."""
    status, stderr = _full(words, unbuffered, tmp_path)
    assert status == 120, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and "could not write" in lines[0] and "stdout" in lines[0], stderr


def test_a_full_stdout_during_a_run_is_not_said_to_be_the_run_folders_disk(tmp_path):
    """Trial 34 (f8): a run whose stdout was full (unbuffered) stopped with "writing into <run folder> failed ...
    free space on its disk": the run folder's write_errors took any ENOSPC for its own."""
    body = ("from treecredit.training.out_folder import write_errors\n"
            "with write_errors(args.out):\n    print('step 1')\nreturn 0")
    env = {**os.environ, "PYTHONPATH": SRC, "PYTHONUNBUFFERED": "1"}
    with open("/dev/full", "w") as full:
        process = _own(tmp_path, body, stdout=full, env=env)
        _, stderr = _finish(process)
    assert process.returncode == 120, stderr
    assert "could not write to stdout" in stderr and "run folder" not in stderr, stderr
    assert len(stderr.strip().splitlines()) == 1, stderr
