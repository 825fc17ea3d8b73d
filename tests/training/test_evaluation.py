"""Evaluation sized to the model: the plan, batched decoding, the time-share schedule."""

import numpy as np
import pytest
import torch

from treecredit.models import GPTPolicy
from treecredit.sampling import IIDSampler
from treecredit.tasks import ArithmeticTask
from treecredit.training import evaluation
from treecredit.training.evaluation import EvalSchedule, evaluate_held_out, plan_evaluation


def test_auto_plan_depends_on_the_parameter_count(tiny_config):
    cfg = tiny_config(eval_problems=256)
    small = plan_evaluation(cfg, 2_000_000)
    assert small.greedy and small.sampled and small.problems == 256
    large = plan_evaluation(cfg, 135_000_000)
    assert large.greedy and not large.sampled and large.problems == evaluation.LARGE_MODEL_EVAL_PROBLEMS
    assert "greedy pass@1 on 64 held-out problems" in large.describe()
    forced = plan_evaluation(tiny_config(eval_mode="both", eval_problems=100), 135_000_000)
    assert forced.greedy and forced.sampled and forced.problems == 100
    with pytest.raises(ValueError, match="eval_mode"):
        tiny_config(eval_mode="fast")
    with pytest.raises(ValueError, match="eval_time_share"):
        tiny_config(eval_time_share=1.5)


def test_batched_evaluation_equals_one_batch_for_greedy(tiny_config, monkeypatch):
    policy = GPTPolicy.build(seed=0, n_layer=2, n_head=2, n_embd=32)
    task = ArithmeticTask(min_operators=1, max_operators=1)
    problems = task.generate(np.random.default_rng(0), 10)
    plan = plan_evaluation(tiny_config(eval_mode="greedy", eval_problems=10), 1)
    kw = dict(sampler_cls=IIDSampler, temperature=1.0, top_p=1.0, max_new_tokens=8, seed=3)
    whole = evaluate_held_out(policy, task, problems, plan, **kw)
    monkeypatch.setattr(evaluation, "EVAL_BATCH", 3)
    chunked = evaluate_held_out(policy, task, problems, plan, **kw)
    assert set(whole) == {"eval_problems", "eval_greedy_pass1", "eval_step_accuracy", "eval_response_length"}
    assert whole == pytest.approx(chunked)
    one = IIDSampler(temperature=0.0, max_new_tokens=8).sample(policy, task, problems, 1, torch.Generator())
    assert whole["eval_greedy_pass1"] == pytest.approx(float(one.rewards.mean()))


def test_time_share_skips_middle_evaluations(tiny_config):
    plan = plan_evaluation(tiny_config(eval_every=2, eval_time_share=0.25), 1)
    schedule = EvalSchedule(plan)
    schedule.started -= 10.0  # 10 s of run so far
    schedule.spent_s = 5.0  # half of it evaluating
    assert schedule.due(0, False) and schedule.due(7, True)  # first and last always
    assert not schedule.due(4, False) and not schedule.due(3, False)
    schedule.spent_s = 1.0
    assert schedule.due(4, False)
    assert EvalSchedule(plan_evaluation(tiny_config(eval_every=2), 1)).due(4, False)


def test_the_plan_states_no_more_problems_than_the_held_out_set_has(tiny_config):
    plan = plan_evaluation(tiny_config(eval_mode="both", eval_problems=4), 1, available=2)
    assert plan.problems == 2 and "on 2 held-out problems" in plan.describe()
    assert "capped at 2, the size of the held-out set" in plan.describe()
    assert plan_evaluation(tiny_config(eval_mode="both", eval_problems=4), 1, available=9).problems == 4
