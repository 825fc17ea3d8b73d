"""reasoning-gym task options are typed and checked like every task's (a trial's ``graded=False`` turned graded
rewards on), and held-out pass@1 counts solved problems also under ``graded=true``."""

import numpy as np
import pytest

from treecredit.tasks.reasoning_gym import make_rg_task


@pytest.mark.parametrize("spec, match", [
    ("rg:chain_sum:graded=no", r"^graded: is 'no' \(str\), must be true or false.*graded=true or graded=false"),
    ("rg:chain_sum:seed=abc", r"^seed: is 'abc' \(str\), must be an integer.*option seed=3"),
    ("rg:chain_sum:seed=1.5", r"^seed: is 1\.5 \(float\), must be an integer"),
    ("rg:chain_sum:held_out=x", r"^held_out: is 'x' \(str\)"),
    ("rg:chain_sum:held_out=-3", r"^held_out: is -3, must be ≥ 0"),
    ("rg:chain_sum:size=0", r"^size: is 0, must be ≥ 1"),
    ("rg:chain_sm", r"no generator 'chain_sm' \(did you mean 'chain_sum'\?\)"),
])
def test_bad_options_are_refused_by_name(spec, match):
    with pytest.raises(ValueError, match=match):
        make_rg_task(spec)


def test_graded_false_as_python_writes_it_means_false_and_a_number_end_is_text():
    task = make_rg_task("rg:chain_sum:graded=False,end=5")
    assert task.graded is False and task.end == "5"
    problem = task.generate(np.random.default_rng(0), 1)[0]
    wordy = f"the answer is {problem.data[1]['answer']}1 or maybe 12345"
    assert task.reward(problem, wordy) == 0.0
    assert make_rg_task("rg:chain_sum:graded=TRUE").graded is True


def test_held_out_success_is_a_solved_share_under_graded_rewards():
    task = make_rg_task("rg:chain_sum:graded=true")
    problems = task.generate(np.random.default_rng(1), 3)
    right = [str(p.data[1]["answer"]) for p in problems]
    wrong = [f"maybe {p.data[1]['answer']}0 or so" for p in problems]
    assert task.success_of(problems, right) == [True] * 3
    assert task.success_of(problems, wrong) == [False] * 3
    assert any(task.reward(p, w) > 0 for p, w in zip(problems, wrong))  # graded: wrong answers can score


def _config(held_out, **more):
    from treecredit.training.config import TrainConfig

    return TrainConfig(task="rg:chain_sum", task_options={"held_out": held_out}, **more)


def test_a_fraction_as_held_out_says_rg_counts_problems_and_names_a_count():
    """Was (trial 26): held_out=0.2 was told only 'pass --task-option held_out=3'."""
    with pytest.raises(ValueError, match=r"held_out: is 0\.2, a fraction, but rg:chain_sum counts held-out problems: "
                                         r"a generator has no fixed set of rows.*a dataset's held_out takes a fraction "
                                         r"or a count\)\. Fix: pass --task-option held_out=64 \(your --eval-problems"):
        _config(0.2, eval_problems=64)
    with pytest.raises(ValueError, match=r"held_out: is 0\.5, a fraction.* Fix: pass --task-option held_out=N \(N your "
                                         r"--eval-problems"):
        make_rg_task("rg:chain_sum:held_out=0.5")


def test_a_held_out_far_above_eval_problems_is_refused_before_drawing_and_above_it_said():
    """Was (trial 26): held_out=100000 drew problems for over 100 s, silently."""
    with pytest.raises(ValueError, match=r"held_out: is 100000, above --eval-problems 256: held-out pass@1 reads only "
                                         r"the first 256 held-out problems.* Fix: pass --task-option held_out=256, or "
                                         r"raise --eval-problems to 100000"):
        _config(100000)
    with pytest.warns(UserWarning, match=r"held_out: is 40, above --eval-problems 8.*held_out=8"):
        task = make_rg_task("rg:chain_sum", eval_problems=8, held_out=40)
    assert len(task.held_out_problems(np.random.default_rng(0), 8)) == 8
    with pytest.raises(ValueError, match=r"held_out: is 50, not below size 50 .*no problem would be left to train on"):
        make_rg_task("rg:chain_sum:size=50", held_out=50)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # at most --eval-problems: nothing said
        assert len(make_rg_task("rg:chain_sum", eval_problems=8, held_out=8).held_out_problems(None, 8)) == 8
