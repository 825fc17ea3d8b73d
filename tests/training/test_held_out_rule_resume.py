"""``TrainConfig.held_out_rule``: a new ``--dataset`` run rounds a held-out fraction by rule 2 (the decimal as written:
0.07 of 100 rows holds out 7), and a run saved before the setting existed (its config.json has no
``held_out_rule``) is resumed by rule 1, the float product it was started with (0.07 × 100 = 7.000000000000001:
8 rows), so that it keeps its held-out rows."""

import argparse
import json
import re

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
    with pytest.raises(ValueError, match=r"held_out_rule: saved 1, now 2\)\. Fix: pass held_out_rule=1 to "
                       r"TrainConfig \(--held-out-rule 1 on the command line\) \(the rounding of the held-out rows the "
                       r"run was started with; a comparison's runs take it too\), or start a new comparison with "
                       r"another --out \(or --overwrite\)\.$"):  # not "resume with its arguments": they gave rule 2
        check_same_settings(out / "config.json", api, resume_fix="resume the comparison with its arguments")
    with pytest.raises(ValueError, match=r"Fix: pass --held-out-rule 1 \(the rounding .*, or start a new run with "
                       r"another --out \(or --overwrite\)\.$"):  # the flag named where the flag gave the rule
        check_same_settings(out / "config.json", given)
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
    # 2 in a file cannot be told from the default by its value: the refusal names the file's field and the flag
    # (was: "pass held_out_rule=1 to TrainConfig", a Python caller's fix, to a user who wrote a --config file)
    with pytest.raises(ValueError, match=r"held_out_rule: saved 1, now 2\)\. Fix: change held_out_rule from 2 to 1 "
                       rf"in the --config file {re.escape(str(mine))}, or delete it there \(a resume keeps the rule "
                       r"the run was started with, .*\), or pass --held-out-rule 1; or start a new run with another "
                       r"--out \(or --overwrite\)\.$") as refused:
        check_same_settings(out / "config.json", config)
    assert "TrainConfig" not in str(refused.value)
    for fix in (["--held-out-rule", "1"], ["--held-out-rule", "1", "--config", str(mine)]):  # the fixes it names
        check_same_settings(out / "config.json", parsed("--config", str(mine), "--resume", *fix))
    mine.write_text(json.dumps({"dataset": hundred_rows, "task_options": {"held_out": 0.07}, "out": str(out)}))
    check_same_settings(out / "config.json", parsed("--config", str(mine), "--resume"))  # deleted: the run's rule


def test_a_rule_1_written_in_a_config_file_against_a_rule_2_run_names_the_file(tmp_path, hundred_rows):
    out = tmp_path / "run"
    out.mkdir()
    (out / "config.json").write_text(json.dumps(TrainConfig(dataset=hundred_rows, task_options={"held_out": 0.07},
                                                            out=str(out)).saved_dict()))
    mine = tmp_path / "mine.yaml"
    mine.write_text(f"dataset: {hundred_rows}\ntask_options: {{held_out: 0.07}}\nout: {out}\nheld_out_rule: 1\n")
    with pytest.raises(ValueError, match=r"saved 2, now 1\)\. Fix: change held_out_rule from 1 to 2 in the --config "
                       rf"file {re.escape(str(mine))}, or delete it there .*, or pass --held-out-rule 2; or start"):
        check_same_settings(out / "config.json", parsed("--config", str(mine), "--resume"))  # was: only the flag
    with pytest.raises(ValueError, match=r"Fix: pass --held-out-rule 2 \(the rounding"):  # the flag overrides
        check_same_settings(out / "config.json", parsed("--config", str(mine), "--resume", "--held-out-rule", "1"))


def test_a_rule_refused_on_a_run_that_never_trained_names_overwrite_not_a_comparison(tmp_path, hundred_rows):
    from treecredit.training.preflight import check_out

    out = tmp_path / "run"
    saved_before_the_rule(out, hundred_rows)  # config.json and an empty metrics.jsonl: stopped before step 1
    given = parsed("--dataset", hundred_rows, "--task-option", "held_out=0.07", "--out", str(out), "--resume",
                   "--held-out-rule", "2")
    with pytest.raises(ValueError, match=r"saved 1, now 2\)\. Fix: pass --held-out-rule 1 \(.*\), or pass --overwrite "
                       r"instead of --resume to start anew with these settings \(the run there stopped before its "
                       r"first training step: nothing trained is lost\)\.$") as refused:
        check_out(given, resume=True, overwrite=False)
    assert "new comparison" not in str(refused.value)  # was: "or start a new comparison"


def test_a_rule_refused_with_other_settings_changed_gives_the_fix_for_all_of_them(tmp_path, hundred_rows):
    out = tmp_path / "run"
    saved_before_the_rule(out, hundred_rows)
    mine = tmp_path / "mine.json"
    mine.write_text(json.dumps({"dataset": hundred_rows, "task_options": {"held_out": 0.07}, "out": str(out),
                                "held_out_rule": 2, "seed": 3}))
    with pytest.raises(ValueError, match=r"other values of \['held_out_rule', 'seed'\] .*Fix: resume with the saved "
                       rf"settings, `treecredit train --config {re.escape(str(out / 'config.json'))} --resume`"):
        check_same_settings(out / "config.json", parsed("--config", str(mine), "--resume"))  # was: the rule's only
    check_same_settings(out / "config.json", parsed("--config", str(out / "config.json"), "--resume"))  # that fix


def test_a_rule_given_against_a_task_run_gets_the_plain_refusal(tmp_path, hundred_rows):
    out = tmp_path / "run"  # a task run: its config.json has no held_out_rule (nor a dataset)
    out.mkdir()
    (out / "config.json").write_text(json.dumps(TrainConfig(out=str(out)).saved_dict()))
    config = parsed("--dataset", hundred_rows, "--held-out-rule", "1", "--out", str(out), "--resume")
    with pytest.raises(ValueError, match=r"^resume: .*other values of \['dataset', 'held_out_rule'\].*Fix: resume "
                       r"with the saved settings"):  # was a KeyError on the saved file's missing held_out_rule
        check_same_settings(out / "config.json", config)


def test_a_comparison_saved_before_the_rule_resumes_with_its_runs_held_out_rows(tmp_path, hundred_rows, monkeypatch):
    """``compare --resume``: the rule is read from the runs' config.json (the comparison's --out has none) before
    the base config is built, so that each run is resumed by the rule it was started with, not refused."""
    from treecredit.cli import main
    from treecredit.training import compare

    out = tmp_path / "cmp"
    argv = ["compare", "--dataset", hundred_rows, "--task-option", "held_out=0.07", "--estimators", "grpo",
            "--seeds", "1", "--budget", "100", "--out", str(out), "--no-tensorboard"]
    seen = []

    def first_run(base, arms, seeds, budget, out_, **kwargs):  # what run_comparison hands each run
        folder = compare.run_folder(out_, "grpo", 0)
        seen.append((base, folder, compare.arm_configs(base, arms)["grpo"].replaced(
            seed=0, token_budget=budget, steps=0, progress=False, out=str(folder))))
        raise KeyboardInterrupt

    monkeypatch.setattr(compare, "run_comparison", first_run)
    assert main(argv) == 130  # a first start: rule 2, and the run's folder as a run left it before the rule
    base, folder, run = seen.pop()
    assert base.held_out_rule == 2
    settings = run.saved_dict()
    del settings["held_out_rule"]
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(settings))
    assert main([*argv, "--resume"]) == 130
    base, folder, run = seen.pop()
    assert base.held_out_rule == 1 and len(held_prompts(base)) == 8
    check_same_settings(folder / "config.json", run)  # was refused: saved 1, now 2
    assert main([*argv, "--resume", "--held-out-rule", "2"]) == 130  # given: kept, and refused by the run's check
    with pytest.raises(ValueError, match=r"saved 1, now 2\)\. Fix: pass --held-out-rule 1 "):
        check_same_settings(folder / "config.json", seen.pop()[2])


def test_a_comparisons_config_file_rule_is_named_in_its_runs_refusal(tmp_path, hundred_rows, monkeypatch):
    """``compare --resume --config FILE`` whose FILE says ``held_out_rule: 2`` against runs saved with rule 1: each
    run's refusal names the file's field (carried from the base config to the runs' configs) and the flag."""
    from treecredit.cli import main
    from treecredit.training import compare

    out = tmp_path / "cmp"
    mine = tmp_path / "mine.toml"
    mine.write_text(f'dataset = "{hundred_rows}"\nheld_out_rule = 2\n[task_options]\nheld_out = 0.07\n')
    argv = ["compare", "--config", str(mine), "--estimators", "grpo", "--seeds", "1", "--budget", "100", "--out",
            str(out), "--no-tensorboard", "--resume"]
    seen = []

    def first_run(base, arms, seeds, budget, out_, **kwargs):
        folder = compare.run_folder(out_, "grpo", 0)
        seen.append((folder, compare.arm_configs(base, arms)["grpo"].replaced(
            seed=0, token_budget=budget, steps=0, progress=False, out=str(folder))))
        raise KeyboardInterrupt

    monkeypatch.setattr(compare, "run_comparison", first_run)
    folder = compare.run_folder(out, "grpo", 0)
    folder.mkdir(parents=True)
    saved_before_the_rule(folder / "run", hundred_rows)  # a run of that comparison, saved before the rule
    (folder / "run" / "config.json").replace(folder / "config.json")
    assert main(argv) == 130
    folder, run = seen.pop()
    assert run.held_out_rule == 2
    with pytest.raises(ValueError, match=r"saved 1, now 2\)\. Fix: change held_out_rule from 2 to 1 in the --config "
                       rf"file {re.escape(str(mine))}, or delete it there .*, or pass --held-out-rule 1; or start a "
                       r"new comparison with another --out \(or --overwrite\)\.$"):
        check_same_settings(folder / "config.json", run, resume_fix="resume the comparison with its arguments")


def test_a_comparisons_report_shows_the_rule_only_where_a_dataset_reads_it(hundred_rows):
    from treecredit.training.compare_cli import shared_settings

    assert shared_settings(TrainConfig(dataset=hundred_rows))["held_out_rule"] == 2
    for runs_that_ignore_it in (TrainConfig(), TrainConfig(env="gridworld")):  # was: held_out_rule: 2 in both
        assert "held_out_rule" not in shared_settings(runs_that_ignore_it)

