"""What a user is told about ``held_out_rule`` beyond the resume refusals: a comparison whose runs were started with
different rules gets one fix (each run's refusal asked for the rule the others refuse), and a new run from a
``--config`` that is a run's settings saved before the rule existed says which rule it uses and how to keep the old
one (it used rule 2 without a word)."""

import json

import pytest

from treecredit.cli import main
from treecredit.training.config import TrainConfig


@pytest.fixture
def hundred_rows(tmp_path):
    path = tmp_path / "d.jsonl"
    path.write_text("".join(json.dumps({"prompt": f"{i}+1=", "answer": str(i + 1)}) + "\n" for i in range(100)))
    return str(path)


def saved_run(folder, dataset, rule: int | None) -> None:
    """A run folder's config.json: with ``rule``, or (None) as a run started before held_out_rule left it."""
    settings = TrainConfig(dataset=dataset, task_options={"held_out": 0.07}, out=str(folder), progress=False,
                           tensorboard=False).saved_dict()
    if rule is None:
        del settings["held_out_rule"]
    else:
        settings["held_out_rule"] = rule
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(settings))


@pytest.mark.parametrize("given", [[], ["--held-out-rule", "1"], ["--held-out-rule", "2"]])
def test_a_comparison_of_mixed_rules_gets_one_fix_whatever_rule_is_given(tmp_path, hundred_rows, capsys, monkeypatch,
                                                                         given):
    # was: without a flag "pass --held-out-rule 1" (grpo's runs), with --held-out-rule 1 "pass --held-out-rule 2"
    # (rloo's runs): each refusal asked for what the other refused
    from treecredit.training import compare

    out = tmp_path / "cmp"
    for seed in (0, 1):
        saved_run(out / "runs" / f"grpo-seed{seed}", hundred_rows, None)  # rule 1: saved before the setting
    saved_run(out / "runs" / "rloo-seed0", hundred_rows, 2)
    (out / "report.md").write_text("# Estimator comparison\n")
    argv = ["compare", "--dataset", hundred_rows, "--task-option", "held_out=0.07", "--estimators", "grpo,rloo",
            "--seeds", "2", "--budget", "100", "--out", str(out), "--no-tensorboard", "--resume"]
    assert main([*argv, *given]) == 2
    err = capsys.readouterr().err
    rloo = out / "runs" / "rloo-seed0"
    assert (f"held_out_rule: the runs of the comparison in {str(out)!r} were started with different held-out rules "
            "(rule 1: grpo-seed0, grpo-seed1; rule 2: rloo-seed0), so no --held-out-rule resumes them all") in err, err
    assert (f"Fix: remove the runs of one rule, e.g. `rm -r {rloo}`, and resume: --resume runs them anew with rule "
            "1, the others'; or start the comparison anew with --overwrite or another --out.") in err
    # the fix given works: with rloo's folder removed, the comparison resumes with rule 1 for every run
    seen = []
    rloo_config = rloo / "config.json"
    rloo_config.unlink()
    rloo.rmdir()

    def first_run(base, *args, **kwargs):
        seen.append(base.held_out_rule)
        raise KeyboardInterrupt

    monkeypatch.setattr(compare, "run_comparison", first_run)
    assert main(argv) == 130
    assert seen == [1]


def test_a_new_run_from_a_config_saved_before_the_rule_says_which_rule_it_uses(tmp_path, hundred_rows, capsys,
                                                                               monkeypatch):
    old = tmp_path / "old"
    saved_run(old, hundred_rows, None)
    seen = []

    def stop_at_the_run(config, **kwargs):  # what the command says before the run starts is what is checked
        seen.append(config.held_out_rule)
        raise KeyboardInterrupt

    monkeypatch.setattr("treecredit.training.loop.train", stop_at_the_run)
    assert main(["train", "--config", str(old / "config.json"), "--out", str(tmp_path / "new")]) == 130
    err = capsys.readouterr().err
    assert (f"treecredit train: note: --config {old / 'config.json'} is a run's settings from before held_out_rule, "
            "whose held-out rows were counted by rule 1 (the float product rounded up); this run uses rule 2, the "
            "default of new runs (the fraction as written). To hold out the rows that run held out, add "
            "--held-out-rule 1") in err, err
    assert seen == [2]
    for quiet in (["--held-out-rule", "1"], ["--held-out-rule", "2"]):  # a rule given: nothing to say
        assert main(["train", "--config", str(old / "config.json"), "--out", str(tmp_path / "new"), *quiet]) == 130
        assert "held_out_rule" not in capsys.readouterr().err
    mine = tmp_path / "mine.json"  # a file the user wrote (no field only a run writes): no note
    mine.write_text(json.dumps({"dataset": hundred_rows, "task_options": {"held_out": 0.07}}))
    assert main(["train", "--config", str(mine), "--out", str(tmp_path / "new")]) == 130
    assert "held_out_rule" not in capsys.readouterr().err
