"""A Ctrl-C the command did not handle itself (while Python imports, in the pre-flight, a second one) says
``--resume`` only where a checkpoint was saved to resume from; otherwise what was (not) written."""

import json

import pytest

from treecredit.cli import main


def _interrupted_after(monkeypatch, module, write):
    def run(args):
        write()  # what the command had written when the interruption came (nothing: an early one)
        raise KeyboardInterrupt

    monkeypatch.setattr(module, "run", run)


def test_an_interruption_before_anything_was_written_promises_no_resume(tmp_path, monkeypatch, capsys):
    import treecredit.training.train_cli as train_cli

    _interrupted_after(monkeypatch, train_cli, lambda: None)
    out = tmp_path / "run"
    assert main(["train", "--out", str(out)]) == 130
    err = capsys.readouterr().err
    assert f"treecredit train: interrupted; nothing of a run was written to {out}: run the same command again" in err
    assert "--resume" not in err


def test_an_interruption_after_a_checkpoint_says_resume(tmp_path, monkeypatch, capsys):
    import treecredit.training.train_cli as train_cli

    out = tmp_path / "run"

    def write():
        out.mkdir()
        (out / "config.json").write_text("{}")
        (out / "checkpoint.pt").write_bytes(b"")

    _interrupted_after(monkeypatch, train_cli, write)
    assert main(["train", "--out", str(out), "--overwrite"]) == 130
    err = capsys.readouterr().err
    assert (f"the run in {out} saved a checkpoint: to go on from it, run the same command again with --resume in "
            "place of --overwrite") in err


@pytest.mark.parametrize("signal_error", [KeyboardInterrupt, "Terminated"])
def test_an_overwrite_start_stopped_before_its_first_step_says_the_earlier_run_is_back(tmp_path, monkeypatch, capsys,
                                                                                       signal_error):
    import treecredit.cli as cli
    import treecredit.training.train_cli as train_cli

    out = tmp_path / "run"
    out.mkdir()
    (out / "config.json").write_text("{}")
    (out / "checkpoint.pt").write_bytes(b"earlier")  # the earlier run's, kept (or put back) by the stopped start

    def run(args):
        raise cli.Terminated() if signal_error == "Terminated" else KeyboardInterrupt

    monkeypatch.setattr(train_cli, "run", run)
    assert main(["train", "--out", str(out), "--overwrite"]) in (130, 143)
    err = capsys.readouterr().err
    assert (f"the earlier run in {out} is there as it was: this start with --overwrite stopped before its first "
            "training step") in err and "Start this run again with the same command (with --overwrite)" in err
    assert "--resume" not in err


def test_an_overwrite_start_that_saved_its_own_checkpoint_says_resume(tmp_path, monkeypatch, capsys):
    import treecredit.training.train_cli as train_cli

    out = tmp_path / "run"
    out.mkdir()
    (out / "checkpoint.pt").write_bytes(b"earlier")
    _interrupted_after(monkeypatch, train_cli, lambda: (out / "checkpoint.pt").write_bytes(b"the new run's step 1"))
    assert main(["train", "--out", str(out), "--overwrite"]) == 130
    assert "with --resume in place of --overwrite" in capsys.readouterr().err


def test_an_interruption_before_the_first_checkpoint_offers_resume_from_step_0(tmp_path, monkeypatch, capsys):
    import treecredit.training.train_cli as train_cli

    out = tmp_path / "from-config"
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"out": str(out)}))

    def write():
        out.mkdir()
        (out / "metrics.jsonl").write_text("")

    _interrupted_after(monkeypatch, train_cli, write)
    assert main(["train", "--config", str(config)]) == 130
    err = capsys.readouterr().err
    assert f"{out} holds no checkpoint, so the run starts again from step 0: run the same command again with " \
        "--resume" in err  # --resume restarts a run without a checkpoint from step 0 (docs/runs.md)


@pytest.mark.parametrize("saved", [False, True])
def test_a_comparison_says_resume_only_when_a_run_saved_a_checkpoint(tmp_path, monkeypatch, capsys, saved):
    import treecredit.training.compare_cli as compare_cli

    out = tmp_path / "cmp"

    def write():
        if saved:
            (out / "runs" / "grpo-seed0").mkdir(parents=True)
            (out / "runs" / "grpo-seed0" / "checkpoint.pt").write_bytes(b"")

    _interrupted_after(monkeypatch, compare_cli, write)
    assert main(["compare", "--estimators", "grpo", "--budget", "100", "--out", str(out)]) == 130
    err = capsys.readouterr().err
    assert ("--resume" in err) == saved
    assert ("nothing of a run was written" in err) == (not saved)


def test_other_commands_keep_the_plain_note(monkeypatch, capsys):
    import treecredit.demo as demo

    _interrupted_after(monkeypatch, demo, lambda: None)
    assert main(["demo"]) == 130
    assert "interrupted; stopped without saving more than was already written" in capsys.readouterr().err


def test_sigterm_before_the_training_loop_stops_like_ctrl_c_with_a_word_and_code_143(tmp_path, monkeypatch, capsys):
    """A SIGTERM in the warm start ended the process without a word in the console or the run's log (trial 21);
    it is now raised like Ctrl-C there (the loop keeps its own save-and-stop handling), the run's log says it
    stopped, and the handler is put back after the command."""
    import os
    import signal
    import time

    import treecredit.training.train_cli as train_cli
    from treecredit.training.run_log import RunLog

    out = tmp_path / "run"

    def run(args):
        with RunLog(out, resume=False) as log:
            log.begin("start")
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)  # the signal arrives before this ends
        raise AssertionError("SIGTERM did not stop the command")

    monkeypatch.setattr(train_cli, "run", run)
    before = signal.getsignal(signal.SIGTERM)
    assert main(["train", "--out", str(out)]) == 143
    err = capsys.readouterr().err
    assert f"treecredit train: terminated (SIGTERM); nothing of a run was written to {out}" in err, err
    assert "stopped: SIGTERM (terminated)" in (out / "log.txt").read_text()
    assert signal.getsignal(signal.SIGTERM) is before


def test_a_stop_signal_after_the_run_ended_exits_0(tmp_path, monkeypatch, capsys):
    # was: a SIGTERM just after "run ended" (while the files were listed) exited 143 although the run finished
    import os
    import signal
    import time

    import treecredit.training.train_cli as train_cli
    from treecredit.training.stopping import mark_run_ended

    def run(args):
        mark_run_ended()  # what the training loop does once its summary is written
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # the signal arrives before this ends
        raise AssertionError("SIGTERM did not stop the command")

    monkeypatch.setattr(train_cli, "run", run)
    assert main(["train", "--out", str(tmp_path / "run")]) == 0
    assert "terminated (SIGTERM) after the run ended; its checkpoint and summary are written" in capsys.readouterr().err
    monkeypatch.setattr(train_cli, "run", lambda args: (_ for _ in ()).throw(KeyboardInterrupt))
    assert main(["train", "--out", str(tmp_path / "other")]) == 130  # a new command: the mark is cleared


STARTUP = """
import sys, time
import treecredit.cli as cli
import treecredit.training.train_cli as train_cli

def run(args):
    print("starting", flush=True)
    time.sleep(20)
    print("trained to the end", flush=True)
    return 0

train_cli.run = run
sys.exit(cli.main(["train", "--out", sys.argv[1]]))
"""


@pytest.mark.parametrize("name", ["SIGINT", "SIGTERM"])
def test_a_signal_inherited_as_ignored_still_stops_the_start_up(tmp_path, name):
    # was: started with `&` from a script (SIGINT ignored), a SIGINT during start-up was dropped and the run
    # trained to the end, while docs/runs.md says a signal stops it also when inherited as ignored
    import os
    import signal
    import subprocess
    import sys
    from pathlib import Path

    signum = getattr(signal, name)
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src")}
    process = subprocess.Popen([sys.executable, "-c", STARTUP, str(tmp_path / "run")], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True, env=env,
                               preexec_fn=lambda: signal.signal(signum, signal.SIG_IGN))
    try:
        assert process.stdout.readline().strip() == "starting"
        process.send_signal(signum)
        stdout, stderr = process.communicate(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        pytest.fail(f"{name} inherited as ignored was dropped during start-up")
    assert "trained to the end" not in stdout
    assert process.returncode == (130 if name == "SIGINT" else 143), stderr


def test_a_stop_signal_after_a_compare_run_ended_is_not_success(tmp_path, monkeypatch, capsys):
    # was: compare --jobs 1 runs its arms in this process; each marked its run ended, so a SIGTERM while the
    # report was still to be written exited 0 and said the checkpoint and summary were written
    import os
    import signal
    import time

    import treecredit.training.compare_cli as compare_cli
    from treecredit.training.stopping import mark_run_ended

    def run(args):
        mark_run_ended()  # the last arm's training loop ended; the report is not written yet
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)
        raise AssertionError("SIGTERM did not stop the command")

    monkeypatch.setattr(compare_cli, "run", run)
    assert main(["compare", "--out", str(tmp_path / "cmp")]) == 143
    assert "after the run ended" not in capsys.readouterr().err
