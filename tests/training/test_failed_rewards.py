"""Rewards that fail: never a silent 0.0 in an evaluation record, refused before the first step, the warnings
capped, and a fatal error printed on its own line below the progress bar."""

import json
import math

import numpy as np
import pytest

from treecredit.cli import main
from treecredit.training.evaluation import check_rewards_scored, evaluate_held_out, plan_evaluation

TINY = ["--n-layer", "1", "--n-head", "2", "--n-embd", "16", "--warm-start-steps", "0", "--prompts-per-step", "2",
        "--group-size", "2", "--max-new-tokens", "8", "--eval-problems", "4", "--no-tensorboard"]


def _raises_unless_solution(prompts, completions, solution, **_):
    if any(c != s for c, s in zip(completions, solution)):
        raise RuntimeError("cannot parse")
    return [1.0] * len(completions)


def _evaluate(task, tiny_config):
    from treecredit.models import GPTPolicy
    from treecredit.sampling import IIDSampler

    policy = GPTPolicy.build(seed=0, n_layer=1, n_head=2, n_embd=16)
    problems = task.held_out_problems(np.random.default_rng(0), 3)
    plan = plan_evaluation(tiny_config(eval_mode="both", eval_problems=3), 1)
    return evaluate_held_out(policy, task, problems, plan, sampler_cls=IIDSampler, temperature=1.0, top_p=1.0,
                             max_new_tokens=6, seed=0)


def test_an_evaluation_whose_rewards_all_failed_records_null_not_zero(tiny_config, tmp_path):
    from treecredit.tasks import ArithmeticTask
    from treecredit.tasks.dataset import DatasetTask
    from treecredit.tasks.rewarded import RewardedTask

    record = _evaluate(RewardedTask(ArithmeticTask(), [_raises_unless_solution]), tiny_config)
    for kind in ("greedy", "sampled"):
        assert math.isnan(record[f"eval_{kind}_reward"]) and record[f"eval_{kind}_reward_failed"] == 3
        assert record[f"eval_{kind}_pass1"] == 0.0  # the task's own verifier still judges success
    rows = [{"prompt": f"{i}+1=", "solution": f"{i + 1}"} for i in range(9)]
    (tmp_path / "d.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    dataset = DatasetTask(path=str(tmp_path / "d.jsonl"), rewards=[_raises_unless_solution], answer_column="",
                          solution_column="solution", held_out=3)
    record = _evaluate(dataset, tiny_config)  # success is the reward here: unknown, not 0
    assert math.isnan(record["eval_sampled_pass1"]) and math.isnan(record["eval_sampled_reward"])
    lines = []
    check_rewards_scored({"step": 5, **record}, dataset, lines.append)
    assert "warning: step 5: every reward of the held-out evaluation failed (greedy and sampled" in lines[0]
    assert "recorded as null, not 0" in lines[0]
    with pytest.raises(ValueError, match=r"^reward: before the first step, every reward of the held-out evaluation "
                                         r"failed .*last error: _raises_unless_solution raised RuntimeError"):
        check_rewards_scored({"step": 0, **record}, dataset)


def test_a_reward_failing_on_the_models_completions_stops_the_run_before_training(tmp_path, capsys, caplog):
    from treecredit.rewards import register_reward

    register_reward("fails_on_the_model", _raises_unless_solution)
    out = tmp_path / "run"
    assert main(["train", *TINY, "--steps", "2", "--no-progress", "--reward", "fails_on_the_model",
                 "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "treecredit train: error: reward: before the first step, every reward of the held-out evaluation " \
           "failed" in err, err
    # was (trial 26): "then run again", which was refused: the folder held a run stopped before step 1
    assert "then run again with --overwrite (the --out folder now holds this run, stopped before its first step" in err
    warned = [r.getMessage() for r in caplog.records if r.name == "treecredit.rewards"]
    fallback = [m for m in warned if "completions at once, so it was called again once per completion" in m]
    assert len(fallback) == 1 and "some completions raised alone too" in fallback[0]  # said once
    warned = [m for m in warned if m not in fallback]
    assert len(warned) == 6 and "5 failures shown; further ones are only counted" in warned[-1]  # not 8 or more
    records = (out / "metrics.jsonl").read_text() if (out / "metrics.jsonl").exists() else ""
    assert '"eval_sampled_reward": 0.0' not in records and "train" not in records
    assert main(["train", *TINY, "--steps", "2", "--no-progress", "--reward", "fails_on_the_model",
                 "--out", str(out), "--overwrite"]) == 2  # the fix named runs: refused for the reward again, not --out
    err = capsys.readouterr().err
    assert "error: reward: before the first step" in err and "already holds a run" not in err, err


def test_an_error_during_training_is_printed_below_the_progress_bar(tmp_path, capsys, monkeypatch):
    def broken_update(*args, **kwargs):
        raise ValueError("update: it broke. Fix: none")

    monkeypatch.setattr("treecredit.training.loop.ppo_update", broken_update)
    assert main(["train", *TINY, "--steps", "2", "--progress", "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "train:" in err  # the bar was shown
    assert "\ntreecredit train: error: update: it broke" in err, repr(err[-300:])
