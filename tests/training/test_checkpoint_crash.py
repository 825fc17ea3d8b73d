"""A save killed between any two of its file operations leaves a checkpoint that --resume uses (no run is lost to
a rename order), and the next save after it keeps every checkpoint paired with its checksum."""

import os

import numpy as np
import pytest
import torch

from treecredit.training.checkpoint import load_latest_checkpoint, save_checkpoint

torch.set_num_threads(1)


def _save(folder, step):
    model = torch.nn.Linear(3, 2)
    return save_checkpoint(folder, model=model, optimizer=torch.optim.AdamW(model.parameters()),
                           generator=torch.Generator(), problem_rng=np.random.default_rng(0), counters={"step": step})


def _step(folder, log=None):
    logged = [] if log is None else log
    state = load_latest_checkpoint(folder, log=logged.append)
    return None if state is None else state["counters"]["step"]


def _two_saves(folder):
    _save(folder, 1)
    _save(folder, 2)
    return {p.name: p.read_bytes() for p in folder.iterdir()}


@pytest.mark.parametrize("state, newest", [
    # the old save order's kill between checkpoint.pt -> prev and its checksum's rename (trial30 repro_rotation)
    ({"checkpoint.prev.pt": "pt", "checkpoint.pt.sha256": "pt.sha", "checkpoint.prev.pt.sha256": "prev.sha"}, 2),
    # new order: new file and checksum written as .tmp, nothing renamed yet
    ({"checkpoint.pt": "pt", "checkpoint.pt.sha256": "pt.sha", "checkpoint.prev.pt": "prev",
      "checkpoint.prev.pt.sha256": "prev.sha", "checkpoint.pt.tmp": "pt", "checkpoint.pt.sha256.tmp": "pt.sha"}, 2),
    # new order: the old checkpoint renamed to prev, its checksum not yet
    ({"checkpoint.prev.pt": "pt", "checkpoint.pt.sha256": "pt.sha", "checkpoint.prev.pt.sha256": "prev.sha",
      "checkpoint.pt.tmp": "pt", "checkpoint.pt.sha256.tmp": "pt.sha"}, 2),
    # new order: the new checkpoint renamed into place, its checksum still under its temporary name
    ({"checkpoint.pt": "pt", "checkpoint.prev.pt": "prev", "checkpoint.prev.pt.sha256": "prev.sha",
      "checkpoint.pt.sha256.tmp": "pt.sha"}, 2),
])
def test_a_save_killed_between_renames_resumes_from_an_intact_checkpoint(tmp_path, state, newest):
    (tmp_path / "ref").mkdir()
    files = _two_saves(tmp_path / "ref")
    source = {"pt": files["checkpoint.pt"], "pt.sha": files["checkpoint.pt.sha256"],
              "prev": files["checkpoint.prev.pt"], "prev.sha": files["checkpoint.prev.pt.sha256"]}
    run = tmp_path / "run"
    run.mkdir()
    for name, what in state.items():
        (run / name).write_bytes(source[what])
    assert _step(run) == newest
    _save(run, 3)  # the next save after the resume keeps both checkpoints verified
    assert sorted(p.name for p in run.iterdir()) == ["checkpoint.prev.pt", "checkpoint.prev.pt.sha256",
                                                      "checkpoint.pt", "checkpoint.pt.sha256"]
    (run / "checkpoint.pt").unlink()
    assert _step(run) == newest


def test_the_first_checkpoint_killed_before_its_checksum_is_resumed_with_a_warning(tmp_path):
    _save(tmp_path, 1)
    (tmp_path / "checkpoint.pt.sha256").unlink()  # the old order: renamed into place, checksum not yet written
    log = []
    assert _step(tmp_path, log) == 1
    assert len(log) == 1 and "no checksum file" in log[0] and "loads completely" in log[0]
    assert (tmp_path / "checkpoint.pt.sha256").exists()  # verified from now on
    assert _step(tmp_path) == 1


def test_a_damaged_checkpoint_without_checksum_is_still_refused(tmp_path):
    path = _save(tmp_path, 1)
    (tmp_path / "checkpoint.pt.sha256").unlink()
    path.write_bytes(path.read_bytes()[:-200])
    with pytest.raises(ValueError, match="no valid checkpoint.*no checksum file"):
        _step(tmp_path)


def test_a_save_syncs_the_folder(tmp_path, monkeypatch):
    synced = []
    real = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(os.path.isdir(f"/proc/self/fd/{fd}")), real(fd)))
    _save(tmp_path, 1)
    assert True in synced  # the folder, after the renames


@pytest.mark.parametrize("drop_sidecar", [False, True], ids=["verified", "no-checksum-file"])
def test_a_resume_hashes_each_checkpoint_once(tmp_path, monkeypatch, drop_sidecar):
    # was: _tidy read and hashed the loaded checkpoint again right after read_checkpoint had (seconds for a
    # model with its optimizer state)
    import hashlib

    _save(tmp_path, 1)
    _save(tmp_path, 2)
    if drop_sidecar:  # the old order's kill before the checksum: loaded unverified, then given its checksum file
        (tmp_path / "checkpoint.pt.sha256").unlink()
        (tmp_path / "checkpoint.prev.pt").unlink()
    contents = {p.read_bytes(): p.name for p in tmp_path.glob("*.pt")}
    hashed = []
    real = hashlib.sha256
    monkeypatch.setattr(hashlib, "sha256", lambda data=b"", **kw: (hashed.append(contents.get(bytes(data))),
                                                                   real(data, **kw))[1])
    assert _step(tmp_path) == 2
    assert sorted(hashed) == sorted(contents.values())  # each checkpoint once, the loaded one included
    assert (tmp_path / "checkpoint.pt.sha256").exists()
    monkeypatch.undo()
    assert _step(tmp_path) == 2
