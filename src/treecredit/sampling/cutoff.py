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
listed in :data:`FATAL_WRONG_STEP`. A task without a partial verifier (``has_step_checker`` False: a dataset without
``step_checker``, a reasoning-gym generator that is not a rule machine) has nothing to prune by: cutoff is inactive
there under every mode, and a run that asks for it is refused before work (:func:`check_cutoff_task`; until
2026-12-03 ``--cutoff any`` was accepted there and pruned nothing without a word).
"""

from __future__ import annotations

from treecredit._validation import check_choice

FATAL_WRONG_STEP = {"countdown": True, "arithmetic": False}
MODES = ("off", "sound", "any")


def wrong_step_is_fatal(task) -> bool:
    """True when a response with any wrong complete step always gets reward 0 from ``task``."""
    return bool(getattr(task, "wrong_step_is_fatal", FATAL_WRONG_STEP.get(getattr(task, "name", ""), False)))


def has_step_checker(task) -> bool:
    """Whether ``task`` has a partial verifier (its ``has_step_checker``; a task that does not say has one)."""
    return bool(getattr(task, "has_step_checker", True))


def cutoff_active(mode: str, task) -> bool:
    """Whether cutoff prunes on ``task`` under ``mode`` ('off', 'sound' or 'any'): never on a task without a
    partial verifier (:func:`has_step_checker`)."""
    check_choice(mode, MODES, "cutoff")
    if mode == "off" or not has_step_checker(task):
        return False
    return mode == "any" or wrong_step_is_fatal(task)


def check_cutoff_task(mode: str, task, log=print) -> None:
    """Refuse ``--cutoff any|sound`` on a task without a partial verifier, where it would prune nothing (naming
    ``--task-option step_checker=module:function`` for a dataset); say through ``log`` (a run's: its console and
    ``log.txt``) that ``--cutoff sound`` prunes nothing on a task whose wrong steps are not fatal.

    Raises:
        ValueError (the project's ``cutoff: ... Fix: ...``) for a task without a partial verifier."""
    from treecredit._validation import fail

    check_choice(mode, MODES, "cutoff")
    if mode == "off":
        return
    if not has_step_checker(task):
        name = getattr(task, "name", "") or type(task).__name__
        if name == "dataset":
            why = ("a dataset has one only with --task-option step_checker=module:function, a function "
                   "fn(prompt, steps, **columns) -> list[bool] (docs/own-task.md)")
            fix = "add --task-option step_checker=module:function, or drop --cutoff"
        else:
            why = f"task {name!r} judges final answers only"
            fix = ("drop --cutoff (or train a task with a step checker: arithmetic, countdown, a reasoning-gym rule "
                   "machine)")
        fail("cutoff", f"--cutoff {mode} prunes a branch when the task's step checker judges its latest step wrong, "
             f"and this task has no step checker, so it would prune nothing ({why})", fix)
    if not cutoff_active(mode, task):
        log(f"note: --cutoff {mode} prunes nothing on this task: a wrong step is not fatal under its "
            "reward (pass --cutoff any to prune anyway, at the price of biased values; docs/sampling.md)")


def last_step_wrong(task, problem, text: str) -> bool:
    """True when the partial verifier judges the last complete step of ``text`` wrong."""
    checks = task.check_steps(problem, text)
    return bool(checks) and not checks[-1]


def failure_reward(task) -> float:
    """The reward a pruned branch gets: the task's ``failure_reward`` if it has one, else 0.0."""
    return float(getattr(task, "failure_reward", 0.0))
