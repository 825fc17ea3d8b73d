"""``train --config COPY/config.json --resume`` (or ``--overwrite``) without ``--out``, where COPY is a run folder
copied from ORIG (its config.json still names ORIG as ``out``), is refused before any work naming both folders and
the fix (trial38 6; before: a note, then ORIG was resumed and extended and COPY left as it was). The run's own
folder, reached from another working folder, through a symbolic link or by a relative path, still resumes."""

import argparse
import json
import shutil

import pytest

from treecredit.cli import main
from treecredit.training.config import TrainConfig
from treecredit.training.train_notes import check_config_folder


@pytest.fixture
def runs(tmp_path):
    orig = tmp_path / "runs" / "orig"
    orig.mkdir(parents=True)
    config = TrainConfig(out=str(orig), steps=1, n_layer=1, n_head=2, n_embd=16, warm_start_steps=0, eval_problems=4,
                         cache_dir=str(tmp_path / "cache"), tensorboard=False, progress=False)
    (orig / "config.json").write_text(json.dumps(config.to_dict()))
    (orig / "metrics.jsonl").write_text('{"kind": "train", "step": 1}\n')
    (orig / "checkpoint.pt").write_bytes(b"not read")
    shutil.copytree(orig, tmp_path / "runs" / "copy")
    return orig, tmp_path / "runs" / "copy"


def snapshot(folder):
    return {p.name: p.read_bytes() for p in folder.iterdir()}


@pytest.mark.parametrize("flag, verb", [("--resume", "resume"), ("--overwrite", "replace")])
def test_a_copied_run_folder_is_refused_naming_both_folders(runs, capsys, flag, verb):
    orig, copy = runs
    before = snapshot(orig), snapshot(copy)
    assert main(["train", "--config", str(copy / "config.json"), flag, "--steps", "2"]) == 2
    err = capsys.readouterr().err
    assert f"error: config: {copy / 'config.json'} names out {str(orig)!r}, not the folder the file is in ({copy}), " \
           f"which holds a run of its own" in err, err
    assert f"Fix: add --out {copy} to {verb} the run in {copy}, or {verb} the run in {orig} with --config " \
           f"{orig / 'config.json'} {flag}." in err, err
    assert (snapshot(orig), snapshot(copy)) == before  # nothing written in either folder


def test_a_relative_config_path_names_the_folder_as_typed_and_a_moved_run_says_so(runs, capsys, monkeypatch):
    orig, copy = runs
    monkeypatch.chdir(copy.parent)
    shutil.rmtree(orig)  # moved rather than copied: the folder the file names holds no run now
    assert main(["train", "--config", "copy/config.json", "--resume"]) == 2
    err = capsys.readouterr().err
    assert f"Fix: add --out copy to resume the run in {copy} ({orig} holds no run now)." in err, err
    monkeypatch.chdir(copy)
    assert main(["train", "--config", "config.json", "--resume"]) == 2
    assert "Fix: add --out . to resume the run in" in capsys.readouterr().err


def args(config, **given):
    return argparse.Namespace(config=str(config), resume=True, overwrite=False, **given)


def test_the_runs_own_folder_resumes_from_anywhere(runs, tmp_path, monkeypatch):
    orig, copy = runs
    check_config_folder(args(copy / "config.json", out=str(copy)))  # --out given: the folder is named
    check_config_folder(args(orig / "config.json"))
    (tmp_path / "link").symlink_to(orig)  # a link to the run's folder is that folder
    check_config_folder(args(tmp_path / "link" / "config.json"))
    monkeypatch.chdir(orig)
    check_config_folder(args("config.json"))
    monkeypatch.chdir(tmp_path)
    check_config_folder(args("runs/orig/../orig/config.json"))
    mine = tmp_path / "settings"  # a settings file of one's own, in a folder without a run: it names the run meant
    mine.mkdir()
    (mine / "my.json").write_text(json.dumps({"out": str(orig)}))
    check_config_folder(args(mine / "my.json"))
    check_config_folder(argparse.Namespace(config=str(copy / "config.json"), resume=False, overwrite=False))
