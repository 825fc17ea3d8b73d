"""``compare --config FILE`` gets the checks ``train --config`` has, from the same code (train_notes): the warning
about option texts whose backslash escapes a shell or a YAML/TOML file kept as typed, and the refusal of
``--resume``/``--overwrite`` without ``--out`` where FILE is a run's settings in another folder than the one the
command would work in (for compare: a run of a comparison other than the default ``--out``, which it would resume
or replace instead). Until 2026-12-03 compare said nothing of the escapes and resumed (or replaced) the comparison
in runs/compare."""

import argparse
import json

import pytest

from treecredit.cli import main
from treecredit.training.config import TrainConfig
from treecredit.training.train_notes import check_config_folder


def test_compare_warns_about_kept_escapes_before_its_checks(tmp_path, capsys):
    config = tmp_path / "c.yaml"
    config.write_text("task_options: {delimiter: \\n}\n")
    assert main(["compare", "--config", str(config), "--seeds", "0", "--out", str(tmp_path / "cmp")]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("treecredit compare: warning: the --config file sets task_options delimiter to the "
                             "text '\\\\n'"), err
    assert "seeds: is 0" in err[-1]
    assert main(["compare", "--task-option", "delimiter=\\n", "--seeds", "0", "--out", str(tmp_path / "cmp")]) == 2
    err = capsys.readouterr().err.splitlines()
    assert err[0].startswith("treecredit compare: warning: --task-option delimiter=\\n gives delimiter the text"), err
    assert not (tmp_path / "cmp").exists()


@pytest.fixture
def comparisons(tmp_path, monkeypatch):
    """``cmpA`` copied to ``cmpB`` (its runs' config.json still name cmpA's runs), the working folder above both."""
    monkeypatch.chdir(tmp_path)
    for name in ("cmpA", "cmpB"):
        run = tmp_path / name / "runs" / "grpo-seed0"
        run.mkdir(parents=True)
        config = TrainConfig(out=str(tmp_path / "cmpA" / "runs" / "grpo-seed0"), steps=0, token_budget=100,
                             n_layer=1, n_head=2, n_embd=16, warm_start_steps=0, eval_problems=4, tensorboard=False,
                             progress=False, cache_dir=str(tmp_path / "cache"))
        (run / "config.json").write_text(json.dumps(config.to_dict()))
        (run / "metrics.jsonl").write_text('{"kind": "train", "step": 1}\n')
        (tmp_path / name / "report.md").write_text("# report\n")
    return tmp_path


def snapshot(root):
    return sorted((str(p.relative_to(root)), p.read_bytes() if p.is_file() else b"") for p in root.rglob("*"))


@pytest.mark.parametrize("flag, verb", [("--resume", "resume"), ("--overwrite", "replace")])
def test_a_comparisons_run_settings_without_out_are_refused_naming_both_folders(comparisons, capsys, flag, verb):
    before = snapshot(comparisons)
    config = "cmpB/runs/grpo-seed0/config.json"
    assert main(["compare", "--config", config, flag, "--seeds", "1", "--budget", "100"]) == 2
    err = capsys.readouterr().err
    action = "continue" if flag == "--resume" else "replace"
    assert (f"error: config: {config} is the settings of a run of the comparison in {comparisons / 'cmpB'}, but "
            f"without --out {flag} would {action} the comparison in {comparisons / 'runs' / 'compare'} (compare's "
            f"default --out) and leave {comparisons / 'cmpB'} as it is") in err, err
    assert (f"Fix: add --out cmpB to {verb} the comparison in {comparisons / 'cmpB'} "
            f"({comparisons / 'runs' / 'compare'} holds no comparison).") in err, err
    assert snapshot(comparisons) == before  # nothing written, runs/compare not made


def test_the_comparison_named_or_at_the_default_out_and_other_files_pass(comparisons):
    def args(config, **given):
        return argparse.Namespace(config=str(config), resume=True, overwrite=False, **given)

    run_settings = comparisons / "cmpB" / "runs" / "grpo-seed0" / "config.json"
    check_config_folder(args(run_settings, out="cmpB"), "compare")  # --out given: the comparison is named
    check_config_folder(argparse.Namespace(config=str(run_settings), resume=False, overwrite=False), "compare")
    (comparisons / "runs").mkdir()
    (comparisons / "cmpB").rename(comparisons / "runs" / "compare")  # the default --out's own run settings
    check_config_folder(args("runs/compare/runs/grpo-seed0/config.json"), "compare")
    train_run = comparisons / "runs" / "a-seed0"  # a train run under ./runs: the folder above is no comparison
    train_run.mkdir()
    (train_run / "config.json").write_text((comparisons / "cmpA" / "runs" / "grpo-seed0" / "config.json").read_text())
    check_config_folder(args(train_run / "config.json"), "compare")
    with pytest.raises(ValueError, match=r"or add --out runs/compare to resume the comparison there"):
        check_config_folder(args(comparisons / "cmpA" / "runs" / "grpo-seed0" / "config.json"), "compare")
