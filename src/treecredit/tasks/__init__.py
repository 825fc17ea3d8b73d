"""Embedded verifiable tasks: procedurally generated problems with final and partial verifiers."""

from __future__ import annotations

from treecredit._validation import fail
from treecredit.tasks.arithmetic import ArithmeticTask
from treecredit.tasks.base import Problem, Task
from treecredit.tasks.countdown import CountdownTask

TASKS = {"arithmetic": ArithmeticTask, "countdown": CountdownTask}


def make_task(name: str, **options) -> Task:
    """The task family ``name`` built with ``options`` (its dataclass fields)."""
    if name not in TASKS:
        fail("task", f"unknown task {name!r}", f"use one of {sorted(TASKS)}")
    return TASKS[name](**options)


__all__ = ["ArithmeticTask", "CountdownTask", "Problem", "TASKS", "Task", "make_task"]
