"""Early cutoff: prune a branch as soon as the task's partial verifier rejects its latest step.

A pruned branch ends where its wrong step closed; its reward is the task's failure reward (0.0, which is
also what the final verifier gives a response without the end marker), and the tokens it would still
have written are never generated.

Bias. Cutting changes a leaf's value only if the leaf could still have earned a reward above 0 after
a wrong step. That is impossible when the task's final verifier demands every step be correct
(``countdown``: ``reward`` is 1 only if ``all(check_steps)``, and the steps of a prefix are a prefix of
the steps of every continuation, so one False check stays False); there cutoff is exactly unbiased. It
is possible in ``arithmetic``, whose reward reads only the final number (a response that skips a step is
judged wrong at that step yet may end on the right number); there cutoff would bias values down. So
``mode="sound"`` (the default when cutoff is on) prunes only on tasks whose wrong steps are fatal, and
``mode="any"`` prunes on every task, knowingly biased where wrong steps are not fatal.

A task says its wrong steps are fatal with a ``wrong_step_is_fatal`` attribute; the built-in tasks are
listed in :data:`FATAL_WRONG_STEP`.
"""

from __future__ import annotations

from treecredit._validation import check_choice

FATAL_WRONG_STEP = {"countdown": True, "arithmetic": False}
MODES = ("off", "sound", "any")


def wrong_step_is_fatal(task) -> bool:
    """True when a response with any wrong complete step always gets reward 0 from ``task``."""
    return bool(getattr(task, "wrong_step_is_fatal", FATAL_WRONG_STEP.get(getattr(task, "name", ""), False)))


def cutoff_active(mode: str, task) -> bool:
    """Whether cutoff prunes on ``task`` under ``mode`` ('off', 'sound' or 'any')."""
    check_choice(mode, MODES, "cutoff")
    return mode == "any" or (mode == "sound" and wrong_step_is_fatal(task))


def last_step_wrong(task, problem, text: str) -> bool:
    """True when the partial verifier judges the last complete step of ``text`` wrong."""
    checks = task.check_steps(problem, text)
    return bool(checks) and not checks[-1]


def failure_reward(task) -> float:
    """The reward a pruned branch gets: the task's ``failure_reward`` if it has one, else 0.0."""
    return float(getattr(task, "failure_reward", 0.0))
