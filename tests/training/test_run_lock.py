"""One writer per run folder: a second train (or --resume) of a folder that a live process is writing is refused,
naming that process; a killed run's lock goes with it."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from treecredit.training.out_folder import LOCK_NAME, lock_holder, refuse_if_held, run_lock

HOLD = ("import sys, time; from treecredit.training.out_folder import run_lock\n"
        "with run_lock(sys.argv[1]):\n    print('held', flush=True); time.sleep(60)\n")


@pytest.fixture
def held(tmp_path):
    out = tmp_path / "run"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "src")}
    proc = subprocess.Popen([sys.executable, "-c", HOLD, str(out)], stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout.readline().strip() == "held"
    yield out, proc
    proc.kill()
    proc.wait()


def test_a_folder_another_process_writes_is_refused_naming_it(held):
    out, proc = held
    assert lock_holder(out) == proc.pid
    with pytest.raises(ValueError, match=rf"^out: .* is in use: process {proc.pid} is writing a run there now.*"
                                         rf"Fix: wait for that run to end \(or `kill {proc.pid}`\)"):
        refuse_if_held(out)
    with pytest.raises(ValueError, match=f"process {proc.pid}"):
        with run_lock(out):
            pass


def test_train_into_a_held_folder_is_refused_before_any_message_about_resume(held, tiny_config):
    from treecredit.training.loop import train

    out, proc = held
    (out / "config.json").write_text("{}")  # a live run's folder: 'already holds a run' would suggest --overwrite
    for resume in (False, True):
        with pytest.raises(ValueError, match=f"^out: .*process {proc.pid}") as error:
            train(tiny_config(steps=1, out=str(out)), resume=resume, log=lambda *a: None)
        assert "--overwrite" not in str(error.value) and "--resume" not in str(error.value)
    assert sorted(p.name for p in out.iterdir()) == [LOCK_NAME, "config.json"]


def test_a_killed_holder_leaves_no_lock(held):
    out, proc = held
    proc.kill()
    proc.wait()
    assert (out / LOCK_NAME).exists() and lock_holder(out) is None  # a stale file: the OS released its lock
    with run_lock(out):
        assert lock_holder(out) is None  # this process holds it
    assert not (out / LOCK_NAME).exists()


def test_a_lock_on_a_new_folder_leaves_nothing_behind(tmp_path):
    with run_lock(tmp_path / "new"):
        assert (tmp_path / "new" / LOCK_NAME).read_text() == f"{os.getpid()}\n"
    assert not (tmp_path / "new").exists()
