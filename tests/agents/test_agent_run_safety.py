"""Agent runs (``train --env``) are as safe as task runs: no silent overwrite, exact resume, clean stops."""

import signal
import sys
from pathlib import Path

import pytest
import torch

from treecredit.training.agent_loop import train_agent
from treecredit.training.checkpoint import read_checkpoint
from treecredit.training.config import TrainConfig

QUIET = {"log": lambda *a: None}
TINY = {"env": "gridworld", "estimator": "rtmc", "n_layer": 1, "n_head": 2, "n_embd": 16, "warm_start_steps": 0,
        "prompts_per_step": 2, "group_size": 2, "eval_problems": 2, "max_new_tokens": 6, "progress": False,
        "tensorboard": False, "env_options": {"max_turns": 3},
        "sampler_options": {"max_len": 320, "max_episode_tokens": 200}}


def agent_config(tmp_path, name="run", **overrides):
    return TrainConfig(**{**TINY, "out": str(tmp_path / name), "cache_dir": str(tmp_path / "cache"), **overrides})


def _strip(records):
    return [{k: v for k, v in r.items() if k != "elapsed_s" and not k.startswith("time_")} for r in records]


def test_an_agent_run_folder_is_never_overwritten_silently(tmp_path):
    config = agent_config(tmp_path, steps=1, eval_every=1)
    train_agent(config, **QUIET)
    before = (Path(config.out) / "metrics.jsonl").read_text()
    with pytest.raises(ValueError, match=r"^out: .* already holds a run\. Fix: pass --resume .* --overwrite"):
        train_agent(config, **QUIET)
    assert (Path(config.out) / "metrics.jsonl").read_text() == before
    records = train_agent(agent_config(tmp_path, steps=2, eval_every=1), overwrite=True, **QUIET)
    assert [r["step"] for r in records if r["kind"] == "train"] == [1, 2]
    with pytest.raises(ValueError, match=r"^resume: .*\['lr'\]"):
        train_agent(agent_config(tmp_path, steps=3, eval_every=1, lr=0.5), resume=True, **QUIET)


def test_a_resumed_agent_run_equals_the_uninterrupted_run(tmp_path):
    settings = {"steps": 5, "checkpoint_every": 2, "eval_every": 2}
    full = train_agent(agent_config(tmp_path, "a", **settings), **QUIET)
    config = agent_config(tmp_path, "b", **settings)
    train_agent(config, stop_at_step=3, **QUIET)  # killed after step 3; the checkpoint holds step 2
    assert read_checkpoint(tmp_path / "b" / "checkpoint.pt")["counters"]["step"] == 2
    messages = []
    resumed = train_agent(config, resume=True, log=messages.append)
    assert any("resumed from" in m and "step 2" in m for m in messages)
    assert _strip(resumed) == _strip(full)
    assert [r["step"] for r in resumed if r["kind"] == "train"] == [1, 2, 3, 4, 5]
    a, b = (read_checkpoint(tmp_path / n / "checkpoint.pt") for n in "ab")
    assert a["counters"] == b["counters"] and a["counters"]["step"] == 5
    assert all(torch.equal(a["model"][k], b["model"][k]) for k in a["model"])
    assert (tmp_path / "a" / "samples.jsonl").read_text() == (tmp_path / "b" / "samples.jsonl").read_text()


@pytest.mark.parametrize("signum", [pytest.param(signal.SIGINT, marks=pytest.mark.slow), signal.SIGTERM])
def test_a_signal_saves_an_agent_checkpoint_and_stops_cleanly(tmp_path, signum):
    out = tmp_path / "run"
    argv = [sys.executable, "-m", "treecredit.cli", "train", "--env", "gridworld", "--estimator", "rtmc",
            "--out", str(out), "--cache-dir", str(tmp_path / "c"), "--steps", "100000", "--checkpoint-every", "0",
            "--eval-every", "100000", "--no-progress", "--n-layer", "1", "--n-head", "2", "--n-embd", "16",
            "--warm-start-steps", "0", "--prompts-per-step", "2", "--group-size", "2", "--max-new-tokens", "6",
            "--eval-problems", "2", "--no-tensorboard", "--env-option", "max_turns=3",
            "--sampler-option", "max_len=320", "--sampler-option", "max_episode_tokens=200"]
    sys.path.insert(0, str(Path(__file__).parents[1] / "training"))
    from test_run_safety import stop_by_signal  # the task runs' signal test

    stop_by_signal(argv, out, signum)


def test_eval_every_0_evaluates_an_agent_run_only_at_its_start_and_end(tmp_path):
    lines: list[str] = []
    records = train_agent(agent_config(tmp_path, steps=3, eval_every=0), log=lines.append)
    assert [r["step"] for r in records if r["kind"] == "eval"] == [0, 3]
    assert any(line.startswith("evaluation: ") and "(--eval-every 0)" in line for line in lines)


def test_an_agent_run_shows_a_progress_bar(tmp_path, capsys):
    train_agent(agent_config(tmp_path, steps=2, progress=True, warm_start_steps=2), **QUIET)
    err = capsys.readouterr().err
    assert "warm start" in err and "2/2" in err  # the warm start's bar
    bar = err.rsplit("train:", 1)[-1]
    assert "2/2" in bar and "success=" in bar and "eval_sampled_success=" in bar  # names its decoding


def test_an_agent_run_ends_at_the_last_step_within_its_token_budget(tmp_path):
    lines: list[str] = []
    config = agent_config(tmp_path, steps=0, token_budget=150, eval_every=0)
    records = train_agent(config, log=lines.append)
    last = [r for r in records if r["kind"] == "train"][-1]
    pending = read_checkpoint(Path(config.out) / "checkpoint.pt")["pending_step_tokens"]
    assert last["generated_tokens"] <= 150 < last["generated_tokens"] + pending
    assert [r["step"] for r in records if r["kind"] == "eval"] == [0, last["step"]]
    assert any(line.startswith("token budget: the next step would generate") for line in lines)


def test_an_agent_run_resumed_with_more_steps_flags_its_old_closing_evaluation(tmp_path):
    """Steps 1–3 closed at step 3 (off the eval_every=2 schedule); resumed to 5 steps, that evaluation stays in
    metrics.jsonl, flagged as one a run started with 5 steps does not make; the scheduled ones are not."""
    train_agent(agent_config(tmp_path, steps=3, eval_every=2), **QUIET)
    records = train_agent(agent_config(tmp_path, steps=5, eval_every=2), resume=True, **QUIET)
    flagged = {r["step"]: bool(r.get("closing_of_earlier_budget")) for r in records if r["kind"] == "eval"}
    assert flagged == {0: False, 2: False, 3: True, 4: False, 5: False}
    from treecredit.training.metrics import read_metrics

    assert read_metrics(tmp_path / "run" / "metrics.jsonl") == records  # written into the run's file


def test_a_frozen_agent_policy_scores_the_same_at_every_evaluation(tmp_path):
    """Held-out episodes draw one random stream per run seed (not one per step): a policy that cannot change
    (a learning rate below float32's resolution) gets the same held-out figures at every evaluation."""
    records = train_agent(agent_config(tmp_path, steps=3, eval_every=1, lr=1e-30, eval_problems=8), **QUIET)
    evals = [{k: v for k, v in r.items() if k.startswith("eval_")} for r in records if r["kind"] == "eval"]
    assert len(evals) == 4 and all(e == evals[0] for e in evals), evals


def test_an_agent_budget_no_step_fits_in_names_the_turns(tmp_path):
    """The check before work counts first turns only (2 × 2 × 6 = 24 tokens); the first step's later turns
    took it past 30, and the error's rule names the turns, not the single-turn formula."""
    with pytest.raises(ValueError, match=r"^token_budget: is 30, but the first step generated \d+ tokens.*an agent "
                                         r"step generates up to .* in each turn, for up to the env's max_turns"):
        train_agent(agent_config(tmp_path, steps=0, token_budget=30), **QUIET)


def test_an_env_with_one_map_is_not_said_to_be_held_out():
    """cliffwalking has one map, trained on and evaluated on: its result is not called held-out."""
    from treecredit.training.run_summary import report_agent_run, success_label

    assert success_label("cliffwalking") == "success on the env's one map"
    assert success_label("gridworld") == success_label("frozenlake") == "held-out success"
    lines: list[str] = []
    record = {"kind": "eval", "step": 0, "generated_tokens": 0, "eval_success": 0.5, "eval_greedy_success": 1.0}
    report_agent_run(TrainConfig(env="cliffwalking", out="/nonexistent"), [record], out=lines.append)
    assert lines[0].startswith("success on the env's one map (sampled): 0.500 (step 0)")


def test_an_agent_run_on_one_map_says_so_in_its_evaluation_plan(tmp_path):
    """The start-up line of a cliffwalking run names its one map, not held-out instances."""
    lines: list[str] = []
    train_agent(agent_config(tmp_path, env="cliffwalking", steps=1, eval_every=1), log=lines.append)
    plan = next(line for line in lines if line.startswith("evaluation:"))
    assert "the env's one map (2 episodes, the map trained on)" in plan and "held-out" not in plan
    lines.clear()
    train_agent(agent_config(tmp_path, name="grid", steps=1, eval_every=1), log=lines.append)
    assert "on 2 held-out instances (one episode each)" in next(x for x in lines if x.startswith("evaluation:"))
