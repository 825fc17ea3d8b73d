"""An ``--out`` that cannot be a folder (a file, or a path below a file: ``afile.txt/sub``) is refused by ``train``
(task and agent runs), ``compare`` and ``export`` with the project's message and exit status 2, before any
work and with nothing created (it used to end in a NotADirectoryError or FileExistsError traceback)."""

import pytest

from treecredit.cli import main
from treecredit.training.out_folder import file_in_the_way

TINY = ["--n-layer", "1", "--n-head", "2", "--n-embd", "16", "--warm-start-steps", "0", "--prompts-per-step", "2",
        "--group-size", "2", "--max-new-tokens", "4", "--eval-problems", "2", "--no-tensorboard", "--no-progress"]


@pytest.fixture
def afile(tmp_path):
    path = tmp_path / "afile.txt"
    path.write_text("mine")
    return path


def _refused(capsys, argv, afile, out) -> str:
    before = sorted(p.name for p in afile.parent.iterdir())
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and "NotADirectoryError" not in err, err
    assert afile.read_text() == "mine" and sorted(p.name for p in afile.parent.iterdir()) == before
    if out == afile:
        assert f"out: '{afile}' is a file, not a folder. Fix: pass " in err, err
    else:
        assert f"out: '{afile}' is a file, so '{out}' cannot be created (no folder can be made inside a file). " \
               "Fix: pass " in err, err
    assert "folder path" in err.split("Fix: ")[1], err
    return err


@pytest.mark.parametrize("below", ["sub", "sub/deeper"])
def test_train_refuses_an_out_below_a_file(tmp_path, capsys, afile, below):
    out = afile / below
    _refused(capsys, ["train", "--steps", "1", "--cache-dir", str(tmp_path / "cache"), "--out", str(out), *TINY],
             afile, out)


def test_an_agent_run_refuses_an_out_below_a_file(tmp_path, capsys, afile):
    out = afile / "sub"
    _refused(capsys, ["train", "--env", "gridworld", "--steps", "1", "--out", str(out), *TINY], afile, out)


@pytest.mark.parametrize("below", ["", "sub"])
def test_compare_refuses_a_file_or_a_path_below_one_before_any_run(tmp_path, capsys, afile, below):
    out = afile / below if below else afile
    _refused(capsys, ["compare", "--estimators", "grpo", "--seeds", "1", "--budget", "64", "--jobs", "1",
                      "--cache-dir", str(tmp_path / "cache"), "--out", str(out), *TINY], afile, out)


def test_export_refuses_an_out_below_a_file(tmp_path, capsys, afile):
    run = tmp_path / "run"
    run.mkdir()
    (run / "config.json").write_text("{}")
    (run / "checkpoint.pt").write_bytes(b"")
    out = afile / "sub"
    err = _refused(capsys, ["export", str(run), "--out", str(out)], afile, out)
    assert "run: " not in err  # the --out check comes first


def test_file_in_the_way_finds_the_nearest_existing_path(tmp_path, afile):
    assert file_in_the_way(afile) == afile
    assert file_in_the_way(afile / "a" / "b") == afile
    assert file_in_the_way(tmp_path / "new" / "sub") is None
    assert file_in_the_way(tmp_path) is None
