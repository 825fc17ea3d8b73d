"""`treecredit compare` keeps its runs: no silent overwrite, --resume reuses finished runs, checks before work."""

import json

import torch

from treecredit.cli import main

torch.set_num_threads(1)

TINY = ["--n-layer", "1", "--n-head", "2", "--n-embd", "16", "--warm-start-steps", "5", "--warm-start-batch", "8",
        "--prompts-per-step", "2", "--group-size", "2", "--max-new-tokens", "6", "--eval-problems", "4",
        "--task-option", "min_operators=1", "--task-option", "max_operators=1", "--no-tensorboard"]


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
    assert "sampler_options: sampler 'iid' has no option 'temprature'" in capsys.readouterr().err
    assert not (tmp_path / "c").exists() and not (out / "runs").exists()
