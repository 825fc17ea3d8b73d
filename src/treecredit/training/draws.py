"""Training problems drawn apart from the held-out ones: the fixed held-out set of a run (``EVAL_SEED``) and
the draws of the RL loop and of the supervised warm start, which both skip its prompts."""

from __future__ import annotations

import numpy as np

from treecredit._validation import fail

EVAL_SEED = 20_261_122  # the held-out problems: one fixed set for every run and seed


def held_out_problems(task, eval_problems: int) -> list:
    """The run's held-out problems: ``eval_problems`` of them from ``EVAL_SEED``, the same for every run."""
    return task.held_out_problems(np.random.default_rng(EVAL_SEED), eval_problems)


def held_out_prompts(task, eval_problems: int) -> frozenset:
    """The prompts of the run's held-out problems (:func:`held_out_problems`): no training draw, RL or warm
    start, ever uses one of them."""
    return frozenset(p.prompt for p in held_out_problems(task, eval_problems))


def draw_problems(task, rng, n: int, held_out: set | frozenset) -> list:
    """``n`` training problems from ``rng``, skipping any whose prompt is in ``held_out``."""
    problems = []
    for _ in range(1000 * n):
        if len(problems) == n:
            break
        problem = task.make_problem(rng)
        if problem.prompt not in held_out:
            problems.append(problem)
    if len(problems) < n:
        from treecredit.tasks import more_problems_fix

        fail("eval_problems", "the held-out problems cover (almost) every problem of this task, none are left "
             "for training", more_problems_fix(task))
    return problems
