"""A full disk or an unwritable run folder stops a run with a one-line error naming the folder, the reason and the
fix, leaves no temporary checkpoint file and keeps the last good checkpoint."""

import errno
import os

import numpy as np
import pytest
import torch

from treecredit.training.checkpoint import load_latest_checkpoint, save_checkpoint
from treecredit.training.out_folder import write_errors


def _save(folder, step):
    model = torch.nn.Linear(3, 2)
    return save_checkpoint(folder, model=model, optimizer=torch.optim.AdamW(model.parameters()),
                           generator=torch.Generator(), problem_rng=np.random.default_rng(0), counters={"step": step})


def test_a_full_disk_during_a_save_keeps_the_last_checkpoint_and_says_what_to_do(tmp_path, monkeypatch):
    _save(tmp_path, 1)
    (tmp_path / "config.json").write_text("{}")
    monkeypatch.setattr("builtins.open", _open_failing_on_big_writes(open))
    with pytest.raises(ValueError, match=rf"^out: writing .* failed: No space left on device \(ENOSPC\) in the run "
                                         rf"folder {tmp_path}\. Fix: free space on its disk \(then run the same "
                                         r"command again with --resume: the last good checkpoint is kept\), or "
                                         r"pass another --out"):
        with write_errors(tmp_path):
            _save(tmp_path, 2)
    monkeypatch.undo()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint.pt", "checkpoint.pt.sha256", "config.json"]
    assert load_latest_checkpoint(tmp_path, log=lambda *a: None)["counters"]["step"] == 1


def _open_failing_on_big_writes(real_open):
    class Handle:
        def __init__(self, handle):
            self.handle = handle

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.handle.close()

        def write(self, data):
            if len(data) > 1000:
                self.handle.write(data[:100])
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            return self.handle.write(data)

        def __getattr__(self, name):
            return getattr(self.handle, name)

    def fake(file, mode="r", *args, **kwargs):
        handle = real_open(file, mode, *args, **kwargs)
        return Handle(handle) if "w" in mode and "b" in mode else handle

    return fake


def test_other_os_errors_pass_through(tmp_path):
    with pytest.raises(FileNotFoundError):
        with write_errors(tmp_path):
            raise FileNotFoundError(errno.ENOENT, "gone", "x")


def test_a_read_only_run_folder_is_one_line(tmp_path):
    with pytest.raises(ValueError, match=f"^out: writing {tmp_path}/metrics.jsonl failed: Read-only file system "
                                         r"\(EROFS\) .*Fix: make it writable \(then run the same command again\)"):
        with write_errors(tmp_path):
            raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(tmp_path / "metrics.jsonl"))
