"""A comparison stopped before its first run finished has its runs' folders (CMP/runs/ARM-seedN, with their
config.json and checkpoints) but no report yet. ``compare --config CMP/runs/ARM-seedN/config.json --resume`` (or
``--overwrite``) without ``--out`` is refused as for a comparison holding its report: it would resume (replace) the
comparison in runs/compare and leave CMP as it is. Until 2026-12-04 only a folder with report.md or results.json
counted as a comparison, so the command went on with runs/compare (``--overwrite`` replaced its runs)."""

import json

import pytest

from treecredit.cli import main
from treecredit.training.config import TrainConfig
from treecredit.training.train_notes import holds_comparison


def _run(folder, seed=0, estimator="grpo", **changes):
    folder.mkdir(parents=True)
    values = dict(out=str(folder), estimator=estimator, seed=seed, steps=0, token_budget=100, n_layer=1, n_head=2,
                  n_embd=16, warm_start_steps=0, eval_problems=4, tensorboard=False, progress=False)
    config = TrainConfig(**{**values, **changes})
    (folder / "config.json").write_text(json.dumps(config.to_dict()))
    (folder / "metrics.jsonl").write_text('{"kind": "train", "step": 1}\n')


def snapshot(root):
    return sorted((str(p.relative_to(root)), p.read_bytes() if p.is_file() else b"") for p in root.rglob("*"))


@pytest.fixture
def partial(tmp_path, monkeypatch):
    """cmpB: a comparison stopped before any run finished (no report), and a finished one in runs/compare."""
    monkeypatch.chdir(tmp_path)
    _run(tmp_path / "cmpB" / "runs" / "grpo-seed0")
    _run(tmp_path / "cmpB" / "runs" / "tempo-seed0", estimator="tempo")
    _run(tmp_path / "runs" / "compare" / "runs" / "grpo-seed0")
    (tmp_path / "runs" / "compare" / "report.md").write_text("# report\n")
    return tmp_path


@pytest.mark.parametrize("flag, verb", [("--resume", "resume"), ("--overwrite", "replace")])
def test_a_partly_run_comparisons_run_settings_without_out_are_refused(partial, capsys, flag, verb):
    before = snapshot(partial)
    config = "cmpB/runs/grpo-seed0/config.json"
    assert main(["compare", "--config", config, flag, "--estimators", "grpo,tempo", "--seeds", "1", "--budget",
                 "100", "--cache-dir", str(partial / "cache")]) == 2
    err = capsys.readouterr().err
    assert f"error: config: {config} is the settings of a run of the comparison in {partial / 'cmpB'}" in err, err
    assert (f"Fix: add --out cmpB to {verb} the comparison in {partial / 'cmpB'}, or add --out runs/compare to {verb} "
            "the comparison there.") in err, err
    assert snapshot(partial) == before  # no run of either comparison lost or touched


def test_a_partly_run_comparison_is_told_from_train_runs_under_a_runs_folder(tmp_path):
    _run(tmp_path / "a" / "runs" / "grpo-seed0")  # as compare writes a run: its arm, its seed, steps 0, a budget
    assert holds_comparison(tmp_path / "a")
    _run(tmp_path / "b" / "runs" / "mine-seed0")  # train --out runs/mine-seed0: no arm of its estimator
    _run(tmp_path / "c" / "runs" / "grpo-seed1")  # its config's seed is 0
    _run(tmp_path / "d" / "runs" / "grpo-seed0", steps=50, token_budget=0)  # train's steps, no budget
    (tmp_path / "e" / "runs").mkdir(parents=True)  # an empty runs folder
    for name in "bcde":
        assert not holds_comparison(tmp_path / name), name
    _run(tmp_path / "f" / "runs" / "tempo_scale_none_-seed2", estimator="tempo", seed=2)  # tempo[scale=none]
    assert holds_comparison(tmp_path / "f")


def test_its_run_settings_without_resume_or_out_are_noted(partial, capsys):
    """Without --resume, --overwrite or --out the command starts a comparison in runs/compare (here refused: that
    holds one); a note says so and how to continue cmpB, as train notes a copied run folder's config.json."""
    config = "cmpB/runs/grpo-seed0/config.json"
    assert main(["compare", "--config", config, "--estimators", "grpo,tempo", "--seeds", "1", "--budget", "100",
                 "--cache-dir", str(partial / "cache")]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0] == (f"treecredit compare: note: --config {config} is the settings of a run of the comparison in "
                      f"{partial / 'cmpB'}; this command starts a comparison with them in runs/compare (compare's "
                      f"default --out) and leaves {partial / 'cmpB'} as it is. To continue that comparison instead, "
                      "add --out cmpB --resume"), err
    assert main(["compare", "--config", config, "--out", "cmpB", "--seeds", "0"]) == 2
    assert "note:" not in capsys.readouterr().err  # the comparison named
