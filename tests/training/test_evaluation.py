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
    assert set(whole) == {"eval_problems", "eval_greedy_pass1", "eval_greedy_reward", "eval_step_accuracy",
                         "eval_response_length", "eval_greedy_reward_failed"}
    assert whole["eval_greedy_reward_failed"] == 0
    assert whole["eval_greedy_reward"] == whole["eval_greedy_pass1"]  # the verifier's 0/1 reward is success
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
    one = plan_evaluation(tiny_config(eval_mode="both", eval_problems=4), 1, available=1).describe()
    assert "on 1 held-out problem, " in one and "capped at 1," in one  # was: "1 held-out problems"


def _half(prompts, completions, **_):
    return [0.5] * len(completions)


def test_pass1_under_custom_rewards_counts_the_tasks_own_success(tiny_config):
    from treecredit.tasks.base import Problem
    from treecredit.tasks.rewarded import RewardedTask

    base = ArithmeticTask(min_operators=1, max_operators=1)
    problems = base.generate(np.random.default_rng(0), 12)
    task = RewardedTask(base, [_half])
    right = [base.reward(p, p.solution) for p in problems]
    assert task.success_of(problems, [p.solution for p in problems]) == [r >= 1 for r in right] and all(right)
    assert task.success_of(problems, ["nonsense"] * 12) == [False] * 12
    policy = GPTPolicy.build(seed=0, n_layer=2, n_head=2, n_embd=32)
    plan = plan_evaluation(tiny_config(eval_mode="greedy", eval_problems=12), 1)
    out = evaluate_held_out(policy, task, problems, plan, sampler_cls=IIDSampler, temperature=1.0, top_p=1.0,
                            max_new_tokens=8, seed=3)
    texts = IIDSampler(temperature=0.0, max_new_tokens=8).sample(policy, task, problems, 1,
                                                                  torch.Generator()).response_texts
    assert out["eval_greedy_reward"] == pytest.approx(0.5)
    assert out["eval_greedy_pass1"] == pytest.approx(np.mean([base.reward(p, t) >= 1 for p, t in zip(problems, texts)]))
    assert isinstance(problems[0], Problem)


def test_dataset_success_is_math_verify_against_the_answer(tmp_path):
    import json

    from treecredit.tasks.dataset import DatasetTask

    rows = [{"prompt": f"{i}+1=", "answer": str(i + 1)} for i in range(6)]
    (tmp_path / "d.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    task = DatasetTask(path=str(tmp_path / "d.jsonl"), rewards=[_half], held_out=2)
    problems = task.held_out_problems(np.random.default_rng(0), 2)
    answers = [p.data[2]["answer"] for p in problems]
    assert task.success_of(problems, [f"the answer is {a}" for a in answers]) == [True, True]
    assert task.success_of(problems, ["the answer is 99"] * 2) == [False, False]
    (tmp_path / "n.jsonl").write_text("".join(json.dumps({"prompt": r["prompt"]}) + "\n" for r in rows))
    bare = DatasetTask(path=str(tmp_path / "n.jsonl"), rewards=[_half], held_out=2, answer_column="")
    assert bare.success_of(bare.held_out_problems(np.random.default_rng(0), 2), ["x", "y"]) is None
    ignored = DatasetTask(path=str(tmp_path / "d.jsonl"), rewards=[_half], held_out=2, answer_column="")
    assert ignored.success_of(problems, ["the answer is 99"] * 2) is None  # an answer column left unused


def test_evaluation_under_the_task_reward_verifies_each_response_once(tiny_config):
    from treecredit.tasks.rewarded import RewardedTask

    base = ArithmeticTask(min_operators=1, max_operators=1)
    calls = []

    class Counting(ArithmeticTask):
        def reward(self, problem, response):
            calls.append(response)
            return super().reward(problem, response)

    counted = Counting(min_operators=1, max_operators=1)
    problems = counted.generate(np.random.default_rng(0), 6)
    task = RewardedTask(counted, ["task", (_half, 0.5)])
    policy = GPTPolicy.build(seed=0, n_layer=2, n_head=2, n_embd=32)
    plan = plan_evaluation(tiny_config(eval_mode="greedy", eval_problems=6), 1)
    out = evaluate_held_out(policy, task, problems, plan, sampler_cls=IIDSampler, temperature=1.0, top_p=1.0,
                            max_new_tokens=8, seed=3)
    assert len(calls) == 6  # the verifier's rewards of the batch serve pass@1 too
    assert out["eval_greedy_pass1"] == pytest.approx(np.mean([base.reward(p, t) >= 1 for p, t in zip(problems, calls)]))


def test_the_plan_line_says_when_evaluations_run(tiny_config):
    from treecredit.training.evaluation import when_text

    assert "every 25 steps" in plan_evaluation(tiny_config(steps=60, eval_every=25), 1).describe()
    short = plan_evaluation(tiny_config(steps=3, eval_every=25, eval_time_share=0.5), 1).describe()
    assert "before the first step and after the last only (the run's 3 steps ≤ --eval-every 25)" in short
    assert "every 25 steps" not in short and "skipped while" not in short  # no evaluation between to skip
    off = plan_evaluation(tiny_config(steps=60, eval_every=0), 1).describe()
    assert "before the first step and after the last only (--eval-every 0)" in off
    assert when_text(25, 0) == "before the first step, every 25 steps and after the last"  # a budget-only run
    assert when_text(1, 5) == "before the first step, every step and after the last"


def test_eval_every_0_evaluates_only_before_the_first_step_and_after_the_last(tiny_config):
    from treecredit.training.loop import train

    with pytest.raises(ValueError, match="eval_every"):
        tiny_config(eval_every=-1)
    lines: list[str] = []
    records = train(tiny_config(steps=3, eval_every=0, eval_problems=4, warm_start_steps=0), log=lines.append)
    assert [r["step"] for r in records if r["kind"] == "eval"] == [0, 3]
    assert any("after the last only (--eval-every 0)" in line for line in lines)


def test_a_frozen_policy_scores_the_same_at_every_evaluation_and_seeds_draw_apart(tiny_config, tmp_path):
    """The held-out sampled decoding draws one random stream per run seed: with a learning rate too small to
    change a float32 weight, every evaluation of a run gives the same sampled pass@1 (no gain from the step
    number alone, as when the stream was EVAL_SEED + step); two seeds draw differently."""
    from treecredit.training.evaluation import eval_draw_seed
    from treecredit.training.loop import EVAL_SEED, train

    settings = dict(steps=4, eval_every=1, lr=1e-30, warm_start_steps=20, eval_problems=32, prompts_per_step=2,
                    group_size=2, checkpoint_every=0, max_new_tokens=6)
    curves = {}
    for seed in (0, 1):
        records = train(tiny_config(seed=seed, out=str(tmp_path / f"s{seed}"), **settings), log=lambda *a: None)
        curves[seed] = [(r["eval_sampled_pass1"], r["eval_sampled_reward"], r["eval_response_length"])
                        for r in records if r["kind"] == "eval"]
    assert len(curves[0]) == 5 and len(set(curves[0])) == 1 and len(set(curves[1])) == 1, curves
    assert eval_draw_seed(EVAL_SEED, 0) != eval_draw_seed(EVAL_SEED, 1)
    assert curves[0][0] != curves[1][0]  # other random numbers (the same warm start: seeds share it)


def _short(prompts, completions, **_):
    return [1.0 if len(str(c)) <= 60 else 0.0 for c in completions]


def test_pass1_on_code_without_answers_is_the_code_rewards_verdict(tiny_config, tmp_path):
    # was: with --reward code --reward my:short@0.2 on a dataset without answers, held-out "pass@1" was the mean
    # weighted reward (0.2 from the length bonus) though no program passed its tests
    import json
    import sys

    from treecredit.rewards.code import code_success_of
    from treecredit.tasks.dataset import DatasetTask

    if sys.platform != "linux":
        pytest.skip("the sandbox is Linux/POSIX")
    rows = [{"prompt": f"def f{i}(a):\n", "solution": f"    return a + {i}\n", "entry_point": f"f{i}",
             "test": f"def check(candidate):\n    assert candidate(1) == {1 + i}\n"} for i in range(6)]
    (tmp_path / "code.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    task = DatasetTask(path=str(tmp_path / "code.jsonl"), rewards=["code", (_short, 0.2)], held_out=3,
                       solution_column="solution")
    problems = task.held_out_problems(np.random.default_rng(0), 3)
    assert task.success_of(problems, ["x"] * 3) is None  # no answers: the dataset has no success test itself
    assert code_success_of(task, problems, [p.solution for p in problems]) == [True] * 3
    assert code_success_of(task, problems, ["    return None\n"] * 3) == [False] * 3
    assert task.rewards_of(problems, ["    return None\n"] * 3) == [pytest.approx(0.2)] * 3
    from treecredit.models.tokenizer import CharTokenizer

    policy = GPTPolicy.build(CharTokenizer(task.alphabet), seed=0, n_layer=1, n_head=2, n_embd=32)
    plan = plan_evaluation(tiny_config(eval_mode="greedy", eval_problems=3), 1)
    out = evaluate_held_out(policy, task, problems, plan, sampler_cls=IIDSampler, temperature=1.0, top_p=1.0,
                            max_new_tokens=8, seed=3)
    assert out["eval_greedy_reward"] == pytest.approx(0.2)  # short garbage: the length bonus only
    assert out["eval_greedy_pass1"] == 0.0
    assert code_success_of(ArithmeticTask(), problems, ["x"] * 3) is None  # no code reward: no verdict
