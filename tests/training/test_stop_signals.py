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


def test_the_stop_message_lists_what_resume_may_change_from_the_one_list():
    # was: "only --steps, --token-budget, --cache-dir and the display may change", while docs/runs.md and the
    # resume check also let --sample-every change
    from treecredit.training.loop import resume_may_change
    from treecredit.training.preflight import RESUME_MAY_CHANGE_FLAGS

    text = resume_may_change()
    assert [f.lstrip("-") for f in text.replace(" and ", ", ").split(", ")] == \
        [name.replace("_", "-") for name in RESUME_MAY_CHANGE_FLAGS]
    docs = (Path(__file__).parents[2] / "docs" / "runs.md").read_text()
    assert f"(the saved settings; only {text} may change)." in docs


def test_the_training_time_of_a_finished_run_is_the_one_its_checkpoint_holds(tiny_config, monkeypatch):
    # was: "5.7 s of training" at the end, "5.5 s" on a --resume of the finished run (the checkpoint's time)
    import re
    import time

    import torch

    from treecredit.training import metrics
    from treecredit.training.loop import train

    real = metrics.flag_earlier_closings

    def slow(*args, **kwargs):  # work after the last checkpoint: its time must not count
        time.sleep(0.3)
        return real(*args, **kwargs)

    monkeypatch.setattr(metrics, "flag_earlier_closings", slow)
    config = tiny_config(steps=2, eval_every=2, warm_start_steps=20)
    train(config, log=lambda *a: None)
    said = re.findall(r"run ended at step 2 \(\d+ generated tokens, ([\d.]+) s of training\)",
                      (Path(config.out) / "log.txt").read_text())
    saved = torch.load(Path(config.out) / "checkpoint.pt", weights_only=False)
    assert said == [f"{saved['elapsed_s']:.1f}"]
