from dataclasses import dataclass
from typing import Optional

import numpy as np
import pytest

from treecredit.tasks import ArithmeticTask, CountdownTask, make_task
from treecredit.tasks.arithmetic import parse_expression


def test_arithmetic_example_from_the_issue():
    task = ArithmeticTask()
    problem = task.make_problem(np.random.default_rng(0))
    # Build the issue's example by hand through the same machinery.
    from treecredit.tasks.base import Problem
    example = Problem("4-5+8*0=", "4-5+0=-1+0=-1;", "-1", ((4, 5, 8, 0), ("-", "+", "*")))
    assert task.reward(example, "4-5+0=-1+0=-1;") == 1.0
    assert task.check_steps(example, "4-5+0=-1+0=-1;") == [True, True, True]
    assert task.reward(example, "4-5+0=-1+0=-2;") == 0.0
    assert task.check_steps(example, "4-5+0=-1+0=-2;") == [True, True, False]
    # precedence: evaluating 4-5 before 8*0 is a wrong step, even though it is arithmetic
    assert task.check_steps(example, "-1+8*0=") == [False]
    assert task.reward(example, "-1;") == 1.0  # outcome reward only looks at the final number
    assert task.reward(example, "4-5+0=-1+0=-1") == 0.0  # no end marker
    assert task.check_steps(example, "4-5+0=-1+") == [True]  # unfinished step left out
    assert problem.prompt.endswith("=")


def test_arithmetic_solutions_verify_and_are_seeded():
    task = ArithmeticTask(min_operators=1, max_operators=4)
    a = task.generate(np.random.default_rng(3), 50)
    b = task.generate(np.random.default_rng(3), 50)
    assert a == b
    for p in a:
        assert task.reward(p, p.solution) == 1.0
        assert all(task.check_steps(p, p.solution))
        n_ops = len(p.data[1])
        assert len(task.check_steps(p, p.solution)) == n_ops  # one rewrite per step
    assert {len(p.data[1]) for p in a} == {1, 2, 3, 4}


def test_parse_expression_signs():
    assert parse_expression("-1+0*3") == ([-1, 0, 3], ["+", "*"])
    assert parse_expression("4--3") == ([4, -3], ["-"])
    assert parse_expression("4+") is None
    assert parse_expression("") is None


def test_countdown_verifiers():
    task = CountdownTask()
    from treecredit.tasks.base import Problem
    p = Problem("3 5 7>36:", "5+7=12,12*3=36;", "36", ((3, 5, 7), 36))
    assert task.reward(p, "5+7=12,12*3=36;") == 1.0
    assert task.check_steps(p, "5+7=12,12*3=36;") == [True, True]
    assert task.reward(p, "5+7=12,12*5=60;") == 0.0  # 5 already used
    assert task.check_steps(p, "5+7=12,12*5=60;") == [True, False]
    assert task.check_steps(p, "5+7=13,") == [False]
    assert task.reward(p, "3*5=15,15+7=22;") == 0.0  # legal but misses the target
    for q in task.generate(np.random.default_rng(1), 50):
        assert task.reward(q, q.solution) == 1.0 and all(task.check_steps(q, q.solution))


@pytest.mark.parametrize("kwargs, arg", [({"min_operators": 0}, "min_operators"),
                                         ({"min_operators": 3, "max_operators": 2}, "max_operators"),
                                         ({"operators": "/"}, "operators")])
def test_bad_arithmetic_options_say_how_to_fix(kwargs, arg):
    with pytest.raises(ValueError, match=f"^{arg}: .*Fix: "):
        ArithmeticTask(**kwargs)


def test_make_task_unknown_name():
    with pytest.raises(ValueError, match="task: .*Fix: use one of"):
        make_task("sudoku")


@dataclass
class _Optional:
    count: int | None = None
    label: str | None = "x"
    share: Optional[float] = 0.5  # noqa: UP045 — the older spelling is checked too


def test_optional_options_are_checked_as_their_inner_type_or_null():
    from treecredit.tasks import declared_kind, typed_options
    from treecredit.tasks.dataset import DatasetTask

    with pytest.raises(ValueError, match=r"^answer_column: is \['a'\] \(list\), must be text or null\. Fix: pass "
                                         r"--task-option answer_column=TEXT, or answer_column=null \(the default\)"):
        typed_options(DatasetTask, {"answer_column": ["a"]})
    assert typed_options(DatasetTask, {"answer_column": None, "prompt_column": 5}) == {
        "answer_column": None, "prompt_column": "5"}
    assert typed_options(DatasetTask, {"answer_column": 7}) == {"answer_column": "7"}  # a number for text: its text
    with pytest.raises(ValueError, match=r"^count: is 'many' \(str\), must be an integer or null\. Fix: pass "
                                         r"--task-option count=3, or count=null \(the default\)"):
        typed_options(_Optional, {"count": "many"})
    with pytest.raises(ValueError, match=r"^share: is nan \(float\), must be a finite number or null\. .*=null\.$"):
        typed_options(_Optional, {"share": float("nan")})
    assert typed_options(_Optional, {"count": None, "label": None, "share": None})["share"] is None
    assert declared_kind(int | None) == ("int", True) and declared_kind(Optional[str]) == ("str", True)  # noqa: UP045
    assert declared_kind("list[int] | dict | None") == ("", True) and declared_kind(bool) == ("bool", False)
