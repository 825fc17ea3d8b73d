"""The tree sampler wired into ``treecredit train`` and ``treecredit compare`` (tiny, end to end)."""

import json

import pytest
import torch

from treecredit.cli import main
from treecredit.training.compare import arm_config
from treecredit.training.config import TrainConfig

torch.set_num_threads(1)

TINY = ["--n-layer", "1", "--n-head", "2", "--n-embd", "16", "--warm-start-steps", "5", "--warm-start-batch", "8",
        "--prompts-per-step", "2", "--group-size", "4", "--max-new-tokens", "8", "--eval-problems", "4",
        "--task-option", "min_operators=1", "--task-option", "max_operators=2", "--no-tensorboard"]


def test_train_with_the_adaptive_tree_sampler(tmp_path):
    out = tmp_path / "run"
    argv = ["train", "--sampler", "tree", "--branching", "adaptive", "--branching-option", "chains=2",
            "--steps", "2", "--out", str(out), "--cache-dir", str(tmp_path / "c"), "--no-progress", *TINY]
    assert main(argv) == 0
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in records if r["kind"] == "train"]
    assert len(train) == 2 and "tree_branch_points_per_group" in train[0] and "step_credit_share_tree" in train[0]
    saved = json.loads((out / "config.json").read_text())
    assert saved["sampler"] == "tree" and saved["branching"] == "adaptive"
    assert saved["branching_options"] == {"chains": 2}


def test_train_with_replay_and_mc_values(tmp_path):
    argv = ["train", "--sampler", "tree", "--replay-leaves", "2", "--branching", "entropy", "--mc-rollouts", "1",
            "--estimator", "vine", "--steps", "2", "--out", str(tmp_path / "r"), "--cache-dir", str(tmp_path / "c"),
            "--no-progress", *TINY]
    assert main(argv) == 0


def test_tree_options_are_validated_in_the_config(tmp_path, capsys):
    assert main(["train", "--sampler", "tree", "--cutoff", "maybe", "--out", str(tmp_path)]) == 2
    assert "cutoff: is 'maybe'" in capsys.readouterr().err
    assert main(["train", "--sampler", "tree", "--group-size", "6", "--out", str(tmp_path)]) == 2
    assert "group_size: is 6" in capsys.readouterr().err
    assert main(["train", "--sampler", "tree", "--branching", "bushy", "--out", str(tmp_path)]) == 2
    assert "branching: unknown strategy 'bushy'" in capsys.readouterr().err


def test_compare_arms_name_their_sampler(tmp_path):
    base = TrainConfig(warm_start_steps=0, out=str(tmp_path))
    assert arm_config(base, "grpo").sampler == "iid"
    arm = arm_config(base, "grpo@tree:adaptive")
    assert (arm.estimator, arm.sampler, arm.branching) == ("grpo", "tree", "adaptive")
    with pytest.raises(ValueError, match="^sampler: "):
        arm_config(base, "grpo@bushes")


def test_compare_pits_samplers_at_one_budget(tmp_path):
    out = tmp_path / "cmp"
    argv = ["compare", "--estimators", "grpo,grpo@tree", "--seeds", "1", "--budget", "64", "--jobs", "1",
            "--out", str(out), "--cache-dir", str(tmp_path / "c"), "--eval-every", "2", *TINY]
    assert main(argv) == 0
    results = json.loads((out / "results.json").read_text())
    assert set(results["estimators"]) == {"grpo", "grpo@tree"}
