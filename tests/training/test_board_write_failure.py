"""A TensorBoard write that fails in the writer's background thread (a full disk) prints no raw thread traceback;
the run's writer raises it in the main thread, where it becomes the one-line ``out:`` error."""

from __future__ import annotations

import errno
import os
import threading
import time

import pytest

pytest.importorskip("tensorboard")


def _failing_record_writes(monkeypatch):
    from tensorboard.summary.writer import record_writer

    def write(self, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(record_writer.RecordWriter, "write", write)


def test_a_full_disk_under_tensorboard_is_quiet_and_stops_with_the_out_error(tmp_path, monkeypatch):
    # was: "Exception in thread Thread-1: Traceback ... gfile.py ... OSError: [Errno 28]" printed mid-run
    # (threading.excepthook) before the run's own "out: writing into ... failed ... Fix:" line
    from treecredit.training.metrics import MetricsWriter
    from treecredit.training.out_folder import write_errors

    printed = []
    monkeypatch.setattr(threading, "excepthook", printed.append)  # what Python would print
    writer = MetricsWriter(tmp_path, tensorboard=True)
    _failing_record_writes(monkeypatch)
    with pytest.raises(ValueError, match=r"^out: writing .* failed: No space left on device \(ENOSPC\)"):
        with write_errors(tmp_path):
            for step in range(200):  # the background thread fails at its first write; a later call raises it
                writer.write({"kind": "train", "step": step, "reward": 0.5})
                time.sleep(0.01)
    assert printed == []
    assert (tmp_path / "metrics.jsonl").read_text().count("\n") >= 1


def test_a_failure_the_writer_meets_only_when_closing_is_raised_there(tmp_path, monkeypatch):
    from treecredit.training.metrics import MetricsWriter

    printed = []
    monkeypatch.setattr(threading, "excepthook", printed.append)
    writer = MetricsWriter(tmp_path, tensorboard=True)
    _failing_record_writes(monkeypatch)
    writer.board.add_scalar("train/reward", 0.5, 1)  # queued; the thread fails on it
    thread = writer._board_thread
    thread.join(5)
    assert not thread.is_alive() and printed == []
    with pytest.raises(OSError, match="No space left"):
        writer.close()
    writer.close()  # closed: nothing more


def test_other_threads_still_print_their_exceptions(tmp_path, monkeypatch):
    from treecredit.training.metrics import MetricsWriter

    printed = []
    monkeypatch.setattr(threading, "excepthook", printed.append)
    MetricsWriter(tmp_path, tensorboard=True).close()

    def fail():
        raise RuntimeError("boom")

    other = threading.Thread(target=fail)
    other.start()
    other.join()
    assert [str(args.exc_value) for args in printed] == ["boom"]


def test_a_run_whose_disk_fills_under_tensorboard_ends_with_one_line(tmp_path, capfd, monkeypatch):
    from tensorboard.summary.writer import record_writer

    from treecredit.cli import main
    from treecredit.training.checkpoint import load_latest_checkpoint

    written = []
    real = record_writer.RecordWriter.write

    def write(self, data):  # the disk fills after a few steps' events
        written.append(1)
        if len(written) > 60:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real(self, data)

    monkeypatch.setattr(record_writer.RecordWriter, "write", write)
    monkeypatch.setattr(threading, "excepthook", threading.__excepthook__)  # Python's own: prints (not pytest's)
    out = tmp_path / "run"
    assert main(["train", "--n-layer", "1", "--n-head", "2", "--n-embd", "16", "--warm-start-steps", "2",
                 "--prompts-per-step", "2", "--group-size", "2", "--max-new-tokens", "4", "--eval-every", "0",
                 "--eval-problems", "2", "--steps", "40", "--checkpoint-every", "1", "--no-progress",
                 "--out", str(out)]) == 2
    err = capfd.readouterr().err
    assert "out: writing" in err and "No space left on device (ENOSPC)" in err
    assert "Exception in thread" not in err and "Traceback" not in err
    step = load_latest_checkpoint(out, log=lambda *a: None)["counters"]["step"]
    assert 0 < step < 40
