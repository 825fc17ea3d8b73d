import json

import torch

from treecredit.cli import main

torch.set_num_threads(1)

TINY = ["--n-layer", "1", "--n-head", "2", "--n-embd", "16", "--warm-start-steps", "5", "--warm-start-batch", "8",
        "--prompts-per-step", "2", "--group-size", "2", "--max-new-tokens", "6", "--eval-problems", "4",
        "--task-option", "min_operators=1", "--task-option", "max_operators=1", "--no-tensorboard"]


def test_train_end_to_end(tmp_path, capsys):
    out = tmp_path / "run"
    config = tmp_path / "c.json"
    config.write_text(json.dumps({"steps": 99, "eval_every": 2}))
    argv = ["train", "--config", str(config), "--steps", "3", "--out", str(out), "--cache-dir", str(tmp_path / "c"),
            "--no-progress", "--estimator", "rloo", *TINY]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    assert "held-out sampled pass@1" in printed
    # the closing lines name every file the run wrote, not only metrics.jsonl (as an agent run's do)
    assert f"run folder: {out}\n  metrics.jsonl " in printed
    assert all(f"\n  {name} " in printed for name in ("samples.jsonl", "checkpoint.pt", "config.json")), printed
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if r["kind"] == "eval"] == [0, 2, 3]  # flag beat the file's steps
    saved = json.loads((out / "config.json").read_text())
    assert saved["estimator"] == "rloo" and saved["eval_every"] == 2 and saved["task_options"]["max_operators"] == 1
    assert (out / "checkpoint.pt").exists()
    assert main(argv + ["--resume", "--steps", "4"]) == 0  # continues from step 3
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if r["kind"] == "train"] == [1, 2, 3, 4]


def test_train_bad_value_exits_2_with_fix(tmp_path, capsys):
    assert main(["train", "--group-size", "1", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "group_size: is 1" in err and "Fix:" in err
    assert main(["train", "--estimator-option", "oops", "--out", str(tmp_path)]) == 2
    assert "--estimator-option: 'oops' is not KEY=VALUE" in capsys.readouterr().err
    assert main(["train", "--sampler", "tree", "--branching-option", "children=-2", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "--branching-option children=-2" in err and "children: is -2" in err and "Fix:" in err
    # a task option's error names the flag that set it, as a branching option's does
    assert main(["train", "--task-option", "min_operators=-1", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "task_options: --task-option min_operators=-1 (task 'arithmetic'): min_operators: is -1" in err
    assert main(["train", "--task", "countdown", "--task-option", "n_numbers=1", "--out", str(tmp_path)]) == 2
    assert "--task-option n_numbers=1 (task 'countdown')" in capsys.readouterr().err
    for flag in (["--branching", "adaptive"], ["--branching-option", "depth=3"], ["--mc-rollouts", "4"],
                 ["--replay-leaves", "4"]):  # tree options without --sampler tree: refused, not ignored
        assert main(["train", *flag, "--out", str(tmp_path / "x")]) == 2
        err = capsys.readouterr().err
        assert f"{flag[0]} shapes the tree sampler's trees" in err and "add --sampler tree" in err
    assert not (tmp_path / "x").exists()


def test_compare_end_to_end(tmp_path, capsys):
    out = tmp_path / "cmp"
    argv = ["compare", "--estimators", "grpo,rloo[lr=1e-4]", "--seeds", "2", "--budget", "40", "--jobs", "2",
            "--out", str(out),
            "--cache-dir", str(tmp_path / "c"), "--eval-every", "2", *TINY]
    assert main(argv) == 0
    for name in ("report.md", "results.csv", "results.json", "curves.png"):
        assert (out / name).exists()
    results = json.loads((out / "results.json").read_text())
    assert set(results["estimators"]) == {"grpo", "rloo[lr=1e-4]"}
    assert results["estimators"]["grpo"]["n_seeds"] == 2  # two processes, both seeds of both arms
    assert results["estimators"]["rloo[lr=1e-4]"]["paired_vs_reference"]["n"] == 2
    idle = " (no advantage)" if results["estimators"]["grpo"]["no_advantage"] else ""  # a 40-token budget
    assert f"| grpo{idle} | 2 |" in (out / "report.md").read_text()
    saved = json.loads((out / "runs" / "rloo_lr_1e-4_-seed1" / "config.json").read_text())
    assert saved["lr"] == 1e-4 and saved["seed"] == 1
    # no run generates more than the budget, and the table's final is the curves' end (the same point)
    for metrics in (out / "runs").glob("*/metrics.jsonl"):
        assert max(r["generated_tokens"] for r in map(json.loads, metrics.read_text().splitlines())) <= 40
    for arm in results["estimators"].values():
        assert arm["generated_tokens"] <= 40
        assert arm["curve_mean"][-1] == arm["final"]["eval_sampled_pass1"]["mean"]
    # the shared warm start, trained by compare before its runs (in this process), is in every run's log.txt
    for log in (out / "runs").glob("*/log.txt"):
        text = log.read_text()
        assert "compare, before its runs: warm start: 5 supervised steps (cached afterwards at " in text, log
        assert text.index("run started: ") < text.index("compare, before its runs: warm start: 5 steps done")
    assert len(list((out / "runs").glob("*/log.txt"))) == 4


def test_compare_refuses_an_existing_comparison_and_resumes_it(tmp_path, capsys):
    out = tmp_path / "cmp"
    argv = ["compare", "--estimators", "grpo,rloo", "--seeds", "1", "--budget", "30", "--jobs", "1", "--out", str(out),
            "--cache-dir", str(tmp_path / "c"), "--eval-every", "2", *TINY]
    assert main(argv) == 0
    first = json.loads((out / "results.json").read_text())["estimators"]
    metrics = (out / "runs" / "grpo-seed0" / "metrics.jsonl").read_text()
    capsys.readouterr()
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "out: " in err and "already holds a comparison" in err and "--resume" in err and "--overwrite" in err
    assert main(argv + ["--resume"]) == 0  # finished runs are read back, not trained again
    assert (out / "runs" / "grpo-seed0" / "metrics.jsonl").read_text() == metrics
    assert json.loads((out / "results.json").read_text())["estimators"]["grpo"]["final"] == first["grpo"]["final"]


def test_compare_checks_every_run_before_the_warm_start(tmp_path, capsys):
    out = tmp_path / "cmp"
    argv = ["compare", "--estimators", "grpo,grpo[sampler.temprature=0.5]", "--seeds", "1", "--budget", "30",
            "--jobs", "1", "--out", str(out), "--cache-dir", str(tmp_path / "c"), *TINY]
    assert main(argv) == 2
    assert "sampler_options (arm 'grpo[sampler.temprature=0.5]', seed 0): sampler 'iid' has no option 'temprature'" \
           in capsys.readouterr().err
    assert not (tmp_path / "c").exists() and not (out / "runs").exists()


def test_a_copied_run_config_says_where_the_resume_writes(tmp_path):
    from treecredit.cli import build_parser
    from treecredit.training.config import TrainConfig
    from treecredit.training.train_cli import config_folder_note, config_from_args

    (tmp_path / "copy").mkdir()
    saved = {**TrainConfig(progress=False, out=str(tmp_path / "original")).to_dict()}
    (tmp_path / "copy" / "config.json").write_text(json.dumps(saved))
    config_file = str(tmp_path / "copy" / "config.json")

    def note(*extra):
        args = build_parser().parse_args(["train", "--config", config_file, *extra])
        return config_folder_note(args, config_from_args(args))

    said = note("--resume")
    assert f"resumes the run in {tmp_path / 'original'}" in said and f"add --out {tmp_path / 'copy'}" in said
    assert note() == ""  # a config file used as a template, in a folder that holds no run: nothing to say
    assert note("--resume", "--out", str(tmp_path / "copy")) == ""
    (tmp_path / "copy" / "metrics.jsonl").write_text("")
    assert f"writes to {tmp_path / 'original'}" in note()
    saved["out"] = str(tmp_path / "copy")
    (tmp_path / "copy" / "config.json").write_text(json.dumps(saved))
    assert note("--resume") == ""


def test_compile_decode_flag_takes_a_setting_and_the_bare_switch_still_means_on():
    import argparse

    from treecredit.training.train_cli import add_arguments, config_from_args

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    seen = {}
    for argv, want in (([], "auto"), (["--compile-decode"], "on"), (["--compile-decode", "auto"], "auto"),
                       (["--compile-decode", "off"], "off"), (["--no-compile-decode"], "off")):
        seen[tuple(argv)] = config_from_args(parser.parse_args(argv)).compile_decode
        assert seen[tuple(argv)] == want, (argv, seen)
    import pytest

    with pytest.raises(ValueError, match="compile_decode: is 'fast'.*'auto'"):
        config_from_args(parser.parse_args(["--compile-decode", "fast"]))
