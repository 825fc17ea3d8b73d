"""A reward that breaks partway through a run: failed rewards are null (not 0.0) in the train records and in
samples.jsonl, a warning says so, and after ALL_FAILED_STOP_STEPS all-failed steps in a row the run stops with
a saved checkpoint that resumes once the reward works again."""

import json

import pytest

from treecredit.rewards.failed import ALL_FAILED_STOP_STEPS, AllFailedWatch

STATE = {"broken": False}


def _flaky(prompts, completions, **_):
    if STATE["broken"]:
        raise RuntimeError("judge unreachable")
    return [0.5] * len(completions)


def _records(path, kind="train"):
    return [json.loads(line) for line in path.read_text().splitlines() if json.loads(line).get("kind", kind) == kind]


def test_a_reward_that_breaks_mid_run_is_null_warned_and_stops_resumably(tiny_config, tmp_path, monkeypatch):
    from treecredit.rewards import register_reward
    from treecredit.training import loop

    register_reward("flaky_midrun", _flaky)
    config = tiny_config(reward=["flaky_midrun"], steps=12, warm_start_steps=0, prompts_per_step=2, group_size=2,
                         eval_every=0, eval_problems=4, checkpoint_every=0)
    updates = {"n": 0}
    original = loop.ppo_update

    def update_then_break(*args, **kwargs):  # steps 1-2 are scored; from step 3 on every reward raises
        updates["n"] += 1
        STATE["broken"] = updates["n"] >= 2
        return original(*args, **kwargs)

    monkeypatch.setattr(loop, "ppo_update", update_then_break)
    STATE["broken"] = False
    lines: list[str] = []
    with pytest.raises(ValueError) as info:
        loop.train(config, log=lambda *parts: lines.append(" ".join(map(str, parts))))
    out = tmp_path / "run"
    message, stop = str(info.value), 2 + ALL_FAILED_STOP_STEPS
    assert message.startswith(f"reward: every reward of {ALL_FAILED_STOP_STEPS} steps in a row failed (4 of 4 "
                              f"completions at step {stop}; last error: flaky_midrun raised RuntimeError: judge "
                              "unreachable); the run stopped, its checkpoint is saved."), message
    assert f"--config {out / 'config.json'} --resume" in message
    warnings = [line for line in lines if "every reward failed" in line]
    assert len(warnings) == 1 and warnings[0].startswith("warning: step 3: every reward failed (4 of 4"), lines
    train_records = _records(out / "metrics.jsonl")
    assert [r["step"] for r in train_records] == list(range(1, stop + 1))
    for record in train_records:
        failed = record["step"] > 2
        assert record["reward_failed"] == (4 if failed else 0)
        assert (record["reward"] is None) == failed and (record["accuracy"] is None) == failed, record
        assert failed or record["reward"] == 0.5
    samples = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert {(s["reward"], s["reward_failed"]) for s in samples if s["step"] > 2} == {(None, True)}
    assert {(s["reward"], s["reward_failed"]) for s in samples if s["step"] <= 2} == {(0.5, False)}

    monkeypatch.setattr(loop, "ppo_update", original)
    STATE["broken"] = False  # the reward is fixed: the saved run resumes at the step where it stopped
    resumed: list[int] = []
    records = loop.train(config, resume=True, on_resume=lambda step, finished: resumed.append(step))
    assert resumed == [stop] and records[-1]["kind"] == "eval" and records[-1]["step"] == 12
    assert all(r["reward"] == 0.5 for r in records if r["kind"] == "train" and r["step"] > stop)


def test_a_streak_ends_with_a_scored_step_and_the_first_step_is_refused_at_once():
    lines: list[str] = []
    watch = AllFailedWatch(task=None, log=lines.append, stop_after=3)
    assert not watch.after_sampling(4, 8, 8) and not watch.after_sampling(5, 8, 8)
    assert not watch.after_sampling(6, 7, 8)  # one completion scored: the streak ends
    assert not watch.after_sampling(7, 8, 8) and not watch.after_sampling(8, 8, 8) and watch.after_sampling(9, 8, 8)
    assert len(lines) == 2 and "the functions returned None (does not apply)" in lines[0]
    with pytest.raises(ValueError, match=r"^reward: every reward of the first step failed \(8 of 8 completions.* "
                                         r"then run again with --overwrite \(the --out folder now holds this run"):
        AllFailedWatch(task=None).after_sampling(0, 8, 8)


def test_held_out_reward_failures_are_logged_as_not_scored_not_as_skipped_for_training(caplog):
    import numpy as np

    from treecredit.models import GPTPolicy
    from treecredit.sampling import IIDSampler
    from treecredit.tasks import ArithmeticTask
    from treecredit.tasks.rewarded import RewardedTask
    from treecredit.training.evaluation import EvalPlan, evaluate_held_out

    def raising(prompts, completions, **_):
        raise RuntimeError("no judge")

    task = RewardedTask(ArithmeticTask(), [raising])
    problems = task.held_out_problems(np.random.default_rng(0), 2)
    plan = EvalPlan(greedy=True, sampled=False, problems=2, every=0, time_share=0.0, reason="test")
    evaluate_held_out(GPTPolicy.build(seed=0, n_layer=1, n_head=2, n_embd=16), task, problems, plan,
                      sampler_cls=IIDSampler, temperature=1.0, top_p=1.0, max_new_tokens=4, seed=0)
    held_out = [r.getMessage() for r in caplog.records if r.name == "treecredit.rewards"]
    assert "at once" in held_out[0]  # the fallback to one call per completion, said before the rows that raised
    held_out = held_out[1:]
    assert held_out and all("held-out completion not scored: counted in eval_*_reward_failed" in m
                            for m in held_out[:2]), held_out
    assert not any("no advantage" in m for m in held_out)
    caplog.clear()
    task._reward_set(["1+1="], ["2"])  # a training call, after the evaluation: skipped for the update
    assert "(completion skipped: no advantage)" in caplog.records[-1].getMessage()
