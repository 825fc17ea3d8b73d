"""One writer per run folder: a second train (or --resume) of a folder that a live process is writing is refused,
naming that process; a killed run's lock goes with it."""

import os
import re
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
    proc.stdout.close()  # else its garbage collection is a ResourceWarning in a later test's log (test_run_log)


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


COMPARE = ["--estimators", "grpo", "--seeds", "1", "--n-layer", "1", "--n-head", "2", "--n-embd", "16",
           "--warm-start-steps", "0", "--prompts-per-step", "2", "--group-size", "2", "--minibatches", "1",
           "--eval-problems", "4", "--max-new-tokens", "8", "--no-tensorboard", "--jobs", "1", "--budget", "40"]


def test_a_second_compare_into_a_report_folder_another_compare_writes_is_refused(tmp_path, monkeypatch, capsys):
    from treecredit.cli import main
    from treecredit.training import compare

    out = tmp_path / "cmp"
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "src")}
    hold = HOLD.replace("run_lock(sys.argv[1])", "run_lock(sys.argv[1], kind='comparison')")
    proc = subprocess.Popen([sys.executable, "-c", hold, str(out)], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stdout.readline().strip() == "held"
        assert (out / LOCK_NAME).read_text() == f"{proc.pid} comparison\n"
        monkeypatch.setattr(compare, "run_comparison", lambda *a, **k: pytest.fail("the comparison ran"))
        for again in ([], ["--resume"], ["--overwrite"]):  # was: both wrote runs/ and report.md at once
            assert main(["compare", *COMPARE, "--out", str(out), *again]) == 2
            error = capsys.readouterr().err
            assert re.search(rf"error: out: '{re.escape(str(out))}' is in use: process {proc.pid} is writing a "
                             rf"comparison \(its report and its runs\) there now .* Fix: wait for that comparison to "
                             rf"end \(or `kill {proc.pid}`\), then run this command again; or pass another --out",
                             error), error
        assert sorted(p.name for p in out.iterdir()) == [LOCK_NAME]
    finally:
        proc.kill()
        proc.wait()
        proc.stdout.close()


def test_a_compare_holds_its_report_folder_until_its_report_is_written(tmp_path, monkeypatch):
    from treecredit.cli import main
    from treecredit.training import compare

    out = tmp_path / "cmp"
    seen = []

    def from_another_process(*args, **kwargs):  # what a second writer sees while the comparison runs
        probe = "import sys; from treecredit.training.out_folder import refuse_if_held; refuse_if_held(sys.argv[1])"
        env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "src")}
        seen.append(subprocess.run([sys.executable, "-c", probe, str(out)], capture_output=True, text=True,
                                   env=env).stderr)
        return {}, {}

    monkeypatch.setattr(compare, "run_comparison", from_another_process)
    main(["compare", *COMPARE, "--out", str(out)])
    assert f"process {os.getpid()} is writing a comparison" in seen[0]
    assert not (out / LOCK_NAME).exists()  # released at the end
