"""Early cutoff: it never cuts a correct step, it is off where it would bias values, it saves tokens."""

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from tree_helpers import sample_tree, tiny_gpt

from treecredit.sampling.cutoff import cutoff_active, last_step_wrong, wrong_step_is_fatal
from treecredit.tasks import ArithmeticTask, CountdownTask

torch.set_num_threads(1)


def _countdown_run(cutoff, seed=0):
    task = CountdownTask()
    problems = task.generate(np.random.default_rng(1), 4)
    policy = tiny_gpt(torch.float32, seed=1)
    r = sample_tree(policy, task, problems, seed=seed, max_new_tokens=24, cutoff=cutoff,
                    branching_options={"every": 4})
    return task, problems, r


def test_cutoff_never_cuts_a_correct_step():
    task, problems, r = _countdown_run("sound")
    cut = r.extras["cut_rows"]
    assert cut.any(), "the random policy should write some wrong steps"
    for row in range(r.shape[0]):
        problem = problems[int(r.group_ids[row])]
        checks = task.check_steps(problem, r.response_texts[row])
        if cut[row]:
            assert checks and not checks[-1] and all(checks[:-1])  # cut exactly at its first wrong step
            assert r.rewards[row] == 0
        elif r.extras["leaf_status"][row] == "stop":
            assert all(checks[:-1])  # only the step closed by the end marker is left unchecked
        else:
            assert all(checks)  # an unpruned chain has no wrong complete step


def test_cutoff_saves_tokens_and_reports_them():
    _, _, full = _countdown_run("off")
    _, _, pruned = _countdown_run("sound")
    assert not full.extras["cut_rows"].any()
    assert pruned.extras["cut_branches"] == int(pruned.extras["cut_rows"].sum()) > 0
    assert pruned.extras["saved_tokens_estimate"] > 0
    assert pruned.generated_tokens < full.generated_tokens  # pruned leaves are not refilled by top-up


def test_sound_cutoff_is_off_where_wrong_steps_are_not_fatal():
    assert wrong_step_is_fatal(CountdownTask()) and not wrong_step_is_fatal(ArithmeticTask())
    assert cutoff_active("sound", CountdownTask()) and not cutoff_active("sound", ArithmeticTask())
    assert cutoff_active("any", ArithmeticTask()) and not cutoff_active("off", CountdownTask())
    # arithmetic: a skipped step is judged wrong yet the answer is right, so cutting would bias values
    task = ArithmeticTask()
    problem = next(p for p in task.generate(np.random.default_rng(0), 50) if p.solution.count("=") >= 1)
    shortcut = problem.answer + ";"
    assert task.reward(problem, shortcut) == 1.0 and last_step_wrong(task, problem, shortcut)
    policy = tiny_gpt(torch.float32)
    r = sample_tree(policy, task, [problem], cutoff="sound", branching_options={"every": 3})
    assert not r.extras["cut_rows"].any()


_countdown = CountdownTask()
_problems = _countdown.generate(np.random.default_rng(3), 20)


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 19), st.text("0123456789+-*=,;", max_size=14), st.text("0123456789+-*=,;", max_size=14))
def test_countdown_wrong_step_is_fatal_for_every_continuation(index, prefix, continuation):
    """The soundness argument, checked: once a complete step of a prefix is wrong, no continuation earns 1."""
    problem = _problems[index]
    if ";" in prefix or not last_step_wrong(_countdown, problem, prefix):
        return
    assert _countdown.reward(problem, prefix + continuation) == 0.0
    assert _countdown.reward(problem, prefix + problem.solution) == 0.0
