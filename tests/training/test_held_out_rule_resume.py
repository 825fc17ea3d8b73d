"""``TrainConfig.held_out_rule``: a new ``--dataset`` run rounds a held-out fraction by rule 2 (the decimal as written:
0.07 of 100 rows holds out 7), and a run saved before the setting existed (its config.json has no
``held_out_rule``) is resumed by rule 1, the float product it was started with (0.07 × 100 = 7.000000000000001:
8 rows), so that it keeps its held-out rows."""

import argparse
import json

import numpy as np
import pytest

from treecredit.tasks import DatasetTask, task_from_config
from treecredit.training.config import TrainConfig
from treecredit.training.preflight import check_same_settings
from treecredit.training.train_cli import add_arguments, config_from_args


@pytest.fixture
def hundred_rows(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text("".join(json.dumps({"prompt": f"{i}+1=", "answer": str(i + 1)}) + "\n" for i in range(100)))
    return str(path)


def parsed(*argv) -> TrainConfig:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return config_from_args(parser.parse_args([*argv, "--no-progress", "--no-tensorboard"]))


def held_prompts(config) -> list[str]:
    return [p.prompt for p in task_from_config(config).held_out_problems(np.random.default_rng(0), 1000)]


def saved_before_the_rule(out, dataset) -> None:
    """A run folder as a run started before held_out_rule existed left it: config.json without the field."""
    settings = TrainConfig(dataset=dataset, task_options={"held_out": 0.07}, out=str(out), progress=False,
                           tensorboard=False).saved_dict()
    del settings["held_out_rule"]
    out.mkdir()
    (out / "config.json").write_text(json.dumps(settings))
    (out / "metrics.jsonl").write_text("")


def test_a_new_dataset_run_holds_out_the_fraction_as_written(tmp_path, hundred_rows):
    config = parsed("--dataset", hundred_rows, "--task-option", "held_out=0.07", "--out", str(tmp_path / "run"))
    assert config.held_out_rule == 2 and len(held_prompts(config)) == 7
    assert config.saved_dict()["held_out_rule"] == 2  # written down, so that its resume keeps it


def test_a_run_saved_without_the_rule_resumes_with_its_held_out_rows(tmp_path, hundred_rows):
    out = tmp_path / "run"
    saved_before_the_rule(out, hundred_rows)
    before = DatasetTask(path=hundred_rows, held_out=0.07, held_out_rule=1)  # how that run split the rows
    rows = [p.prompt for p in before.held_out_problems(None, 1000)]
    assert len(rows) == 8
    by_flags = parsed("--dataset", hundred_rows, "--task-option", "held_out=0.07", "--out", str(out), "--resume")
    by_file = parsed("--config", str(out / "config.json"), "--resume")
    for config in (by_flags, by_file):
        assert config.held_out_rule == 1 and held_prompts(config) == rows
        check_same_settings(out / "config.json", config)  # the same settings: no refusal


def test_a_resume_keeps_a_saved_rule_2_and_refuses_another_rule_given(tmp_path, hundred_rows):
    out = tmp_path / "run"
    saved_before_the_rule(out, hundred_rows)
    given = parsed("--dataset", hundred_rows, "--task-option", "held_out=0.07", "--out", str(out), "--resume",
                   "--held-out-rule", "2")
    with pytest.raises(ValueError, match=r"^resume: .*other values of \['held_out_rule'\] \(held_out_rule: saved 1, "
                       r"now 2\)"):
        check_same_settings(out / "config.json", given)
    api = TrainConfig(dataset=hundred_rows, task_options={"held_out": 0.07}, out=str(out), progress=False,
                      tensorboard=False)  # a Python caller that does not read the folder: refused, never resplit
    with pytest.raises(ValueError, match=r"held_out_rule: saved 1, now 2\)\. Fix: pass --held-out-rule 1 \(the "
                       r"rounding of the held-out rows the run was started with; a comparison's runs take it too\), "
                       r"or resume the comparison"):  # compare's arms: their arguments cannot adopt the saved rule
        check_same_settings(out / "config.json", api, resume_fix="resume the comparison with its arguments")
    new = tmp_path / "new"
    settings = TrainConfig(dataset=hundred_rows, task_options={"held_out": 0.07}, out=str(new)).saved_dict()
    new.mkdir()
    (new / "config.json").write_text(json.dumps(settings))
    resumed = parsed("--dataset", hundred_rows, "--task-option", "held_out=0.07", "--out", str(new), "--resume")
    assert resumed.held_out_rule == 2 and len(held_prompts(resumed)) == 7


def test_the_rule_is_refused_where_no_dataset_reads_it(tmp_path, hundred_rows):
    with pytest.raises(ValueError, match=r"^held_out_rule: --held-out-rule 1 rounds a --dataset's held-out fraction; "
                       r"the 'arithmetic' task would ignore it\. Fix: drop --held-out-rule"):
        parsed("--held-out-rule", "1", "--out", str(tmp_path / "a"))
    with pytest.raises(ValueError, match=r"^held_out_rule: is 3, must be 1 or 2"):
        parsed("--dataset", hundred_rows, "--held-out-rule", "3", "--out", str(tmp_path / "b"))
    with pytest.raises(ValueError, match=r"^task_options: held_out_rule is set by --held-out-rule.*Fix: drop "
                       r"--task-option held_out_rule and pass --held-out-rule N"):
        parsed("--dataset", hundred_rows, "--task-option", "held_out_rule=2", "--out", str(tmp_path / "c"))
    assert "held_out_rule" not in TrainConfig(out=str(tmp_path / "d")).saved_dict()  # a task run's file as before


def test_an_arithmetic_run_saved_before_the_rule_still_resumes(tmp_path):
    out = tmp_path / "run"
    settings = TrainConfig(out=str(out), progress=False, tensorboard=False).to_dict()
    del settings["held_out_rule"]
    out.mkdir()
    (out / "config.json").write_text(json.dumps(settings))
    check_same_settings(out / "config.json", parsed("--out", str(out), "--resume"))


def test_a_rule_written_in_a_config_file_is_kept_on_resume_and_then_refused_if_it_differs(tmp_path, hundred_rows):
    out = tmp_path / "run"
    saved_before_the_rule(out, hundred_rows)
    mine = tmp_path / "mine.json"  # the user's own file, not the run's: what it says is given, not adopted over
    mine.write_text(json.dumps({"dataset": hundred_rows, "task_options": {"held_out": 0.07}, "out": str(out),
                                "held_out_rule": 2}))
    config = parsed("--config", str(mine), "--resume")
    assert config.held_out_rule == 2
    with pytest.raises(ValueError, match=r"held_out_rule: saved 1, now 2\). Fix: pass --held-out-rule 1"):
        check_same_settings(out / "config.json", config)
