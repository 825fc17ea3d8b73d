"""A second SIGINT/SIGTERM stops a run at once, also in a process that inherited the signal as ignored
(started with ``&`` from a script, or under ``nohup``), where putting the previous handler back would
ignore it and let the run finish its step and save."""

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

# A "step" that never ends inside StopRequest: only an at-once stop ends it.
SCRIPT = """
import sys, time
from treecredit.training.stopping import StopRequest
try:
    with StopRequest(log=lambda m: print(m, flush=True)) as stop:
        print("ready", flush=True)
        while True:
            time.sleep(0.01)
except KeyboardInterrupt:
    print("interrupted", flush=True)
    sys.exit(130)
"""


def _two_signals(signum: int, ignored: bool) -> tuple[int, str]:
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "src")}

    def start_ignoring():  # what `cmd &` in a non-interactive shell does for SIGINT, nohup-like for SIGTERM
        if ignored:
            signal.signal(signum, signal.SIG_IGN)

    process = subprocess.Popen([sys.executable, "-c", SCRIPT], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, env=env, preexec_fn=start_ignoring)
    try:
        assert process.stdout.readline().strip() == "ready"
        process.send_signal(signum)
        assert "received: stopping after this step" in process.stdout.readline()
        process.send_signal(signum)
        stdout, stderr = process.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        pytest.fail(f"a second {signal.Signals(signum).name} did not stop the process")
    return process.returncode, stdout


@pytest.mark.parametrize("ignored", [True, False])
def test_a_second_sigint_stops_at_once(ignored):
    code, stdout = _two_signals(signal.SIGINT, ignored)
    assert code == 130 and "interrupted" in stdout


@pytest.mark.parametrize("ignored", [True, False])
def test_a_second_sigterm_stops_at_once(ignored):
    code, _ = _two_signals(signal.SIGTERM, ignored)
    assert code == -signal.SIGTERM  # ended by the signal: exit status 143 in a shell
