"""reasoning-gym generators as tasks: the generator's scorer, exact by default, worked steps."""

import numpy as np
import pytest

pytest.importorskip("reasoning_gym")

from treecredit.tasks.reasoning_gym import make_rg_task, parse_rg_spec  # noqa: E402


def test_spec_and_exact_versus_graded_scoring():
    assert parse_rg_spec("rg:chain_sum:max_terms=3,graded=true") == ("chain_sum", {"max_terms": 3, "graded": True})
    task = make_rg_task("rg:chain_sum:min_terms=2,max_terms=2")
    problem = task.make_problem(np.random.default_rng(0))
    assert task.reward(problem, problem.answer) == 1.0
    assert task.reward(problem, f"<answer>{problem.answer}</answer>") == 1.0
    assert task.reward(problem, f"so \\boxed{{{problem.answer}}}") == 1.0
    wordy = f"the answer is {problem.answer} I think"
    assert 0 < task.score(problem, wordy) < 1  # reasoning-gym's partial credit for a wordy answer...
    assert task.reward(problem, wordy) == 0.0  # ...is not a success by default
    graded = make_rg_task("rg:chain_sum:min_terms=2,max_terms=2", graded=True)
    assert graded.reward(problem, wordy) == pytest.approx(task.score(problem, wordy))


def test_same_seed_same_problems_and_worked_steps():
    a = make_rg_task("rg:gsm_symbolic").generate(np.random.default_rng(3), 2)
    b = make_rg_task("rg:gsm_symbolic").generate(np.random.default_rng(3), 2)
    assert [p.prompt for p in a] == [p.prompt for p in b]
    assert a[0].solution.rstrip().endswith(f"#### {a[0].answer}")  # the generator's answer_cot
    assert a[0].solution.count("\n") >= 2  # several steps (lines)


def test_bad_names_and_options():
    with pytest.raises(ValueError, match="task: reasoning-gym has no generator 'chainsum'"):
        make_rg_task("rg:chainsum")
    with pytest.raises(ValueError, match="task: options .* are not valid for rg:chain_sum"):
        make_rg_task("rg:chain_sum:colour=3")
