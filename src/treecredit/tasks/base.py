"""The task interface: procedurally generated, verifiable, multi-step problems.

A task draws problems from a seeded NumPy generator, shows the model a prompt, and checks the text it
writes back. A response is a sequence of steps, each closed by the task's ``delimiter`` text; the last
step is closed by ``end`` instead (``";"`` for the built-in tasks), which also stops sampling.

Two verifiers per task:

- ``reward(problem, response)``: the final verifier, 1.0 if the final answer is right, else 0.0;
- ``check_steps(problem, response)``: the partial verifier, one bool per *complete* step of the response
  (a step is complete once its delimiter or the end marker has been written), True where that step is
  a correct move from the state the response had reached. It needs only a prefix, so a sampler can
  use it to cut off a branch early.
"""

from __future__ import annotations

import contextlib
import weakref
from abc import ABC, abstractmethod
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Problem:
    """One task instance.

    Attributes:
        prompt: the text the model continues (e.g. ``"4-5+8*0="``).
        solution: a correct worked response, steps and end marker included (e.g. ``"4-5+0=-1+0=-1;"``);
            used for the supervised warm start.
        answer: the final answer as text (e.g. ``"-1"``).
        data: the family-specific description (numbers, target, ...), hashable.
    """

    prompt: str
    solution: str
    answer: str
    data: tuple


class Task(ABC):
    """A family of verifiable multi-step problems; subclasses set ``name``, ``delimiter``, ``alphabet``."""

    name: str = ""
    delimiter: str = ""
    end: str = ";"
    alphabet: str = ""

    @property
    def has_step_checker(self) -> bool:
        """False: ``check_steps`` judges nothing, and step accuracy is not reported (JSON null, "n/a")."""
        return True

    @abstractmethod
    def make_problem(self, rng: np.random.Generator) -> Problem:
        """Draw one problem from ``rng``."""

    @abstractmethod
    def reward(self, problem: Problem, response: str) -> float:
        """The final verifier: 1.0 when ``response`` ends with the end marker and its answer is right."""

    @abstractmethod
    def check_steps(self, problem: Problem, response: str) -> list[bool]:
        """The partial verifier: one bool per complete step of ``response`` (see the module docstring)."""

    def generate(self, rng: np.random.Generator, n: int) -> list[Problem]:
        """``n`` problems drawn in order from ``rng`` (the same seed gives the same list)."""
        return [self.make_problem(rng) for _ in range(n)]

    def score_batch(self, problems: list[Problem], responses: list[str]) -> list[float]:
        """The final verifier on a batch: one float per (problem, response) pair, NaN where a reward
        failed. A task whose rewards are functions of the whole batch (a dataset task, TRL's convention)
        calls them once here; the default calls :meth:`reward` per pair."""
        return [float(self.reward(p, r)) for p, r in zip(problems, responses)]

    def reward_columns(self, problem: Problem) -> dict:
        """What a reward function (TRL convention, ``--reward``) gets as keywords for ``problem``: its
        ``answer`` and worked ``solution`` here; tasks with richer rows add their columns."""
        return {"answer": problem.answer, "solution": problem.solution}

    def held_out_problems(self, rng: np.random.Generator, n: int) -> list[Problem]:
        """The evaluation problems: ``n`` drawn from ``rng`` (a dataset task returns its held-out split)."""
        return self.generate(rng, n)

    def format_prompt(self, problem: Problem) -> str:
        """The prompt text shown to the model (chat-formatted by the policy adapter, if it uses a template)."""
        return problem.prompt

    def complete_steps(self, response: str) -> list[str]:
        """The complete steps of ``response``, each without its closing delimiter or end marker.

        Text after the end marker is ignored; a trailing unfinished step is left out. An empty ``end``
        means the model's end of sequence: the text is then complete as given (its last step too, unless
        it ends with the delimiter). An empty ``delimiter`` makes the whole response one step.
        """
        if self.end:
            head, has_end, _ = response.partition(self.end)
        else:
            head, has_end = response, True
        parts = head.split(self.delimiter) if self.delimiter else [head]
        if not self.end and len(parts) > 1 and not parts[-1]:
            parts = parts[:-1]  # a text that stops right after a delimiter: no empty last step
        return parts if has_end else parts[:-1]

    def stop_strings_for(self, policy) -> tuple[str, ...]:
        """Texts that end a response sampled from ``policy`` (kept in it), besides the end marker and the
        end of sequence; none by default (HumanEval stops a continuation at the end of the function)."""
        return ()

    def step_accuracy(self, problem: Problem, response: str) -> tuple[int, int]:
        """``(correct, total)`` complete steps of ``response`` by the partial verifier."""
        checks = self.check_steps(problem, response)
        return sum(checks), len(checks)


def step_accuracy_share(task, correct: int, total: int) -> float:
    """``correct / total`` complete steps; 0.0 when there were no complete steps; NaN (n/a, written as
    JSON null) when ``task`` has no partial verifier, whose step accuracy would mean nothing."""
    if not getattr(task, "has_step_checker", True):
        return float("nan")
    return correct / total if total else 0.0


def response_stop_strings(task, policy) -> tuple[str, ...]:
    """``task.stop_strings_for(policy)`` for a task that has it (duck-typed tasks may not), else ()."""
    method = getattr(task, "stop_strings_for", None)
    return tuple(s for s in method(policy) if s) if callable(method) else ()


def batch_rewards(task, problems: list, responses: list[str], completion_ids: list | None = None) -> list[float]:
    """``task.score_batch(problems, responses)`` when the task has it, else ``task.reward`` per pair (for
    duck-typed tasks); what every sampler calls, once per batch. ``completion_ids`` (each response's token
    ids), when given, go to ``score_batch`` for the reward functions (TRL's ``completion_ids``) of the tasks
    scored by them (:class:`~treecredit.tasks.dataset.DatasetTask`, ``--reward``)."""
    if not problems:
        return []
    batch = getattr(task, "score_batch", None)
    if callable(batch) and completion_ids is not None and _takes(batch, "completion_ids"):
        return [float(v) for v in batch(list(problems), list(responses), completion_ids=list(completion_ids))]
    if callable(batch):
        return [float(v) for v in batch(list(problems), list(responses))]
    return [float(task.reward(p, r)) for p, r in zip(problems, responses)]


_PARAMETERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
"""Function (a bound method's ``__func__``) → its parameter names, read once per function, not per batch."""


def _takes(fn, name: str) -> bool:
    """Whether callable ``fn`` has a parameter ``name`` (its signature read once per function)."""
    import inspect

    key = getattr(fn, "__func__", fn)  # a task's bound score_batch is a new object at every access
    try:
        return name in _PARAMETERS[key]
    except (KeyError, TypeError):  # not read yet, or a callable a weak dictionary cannot hold
        pass
    try:
        names = frozenset(inspect.signature(fn).parameters)
    except (TypeError, ValueError):
        names = frozenset()
    with contextlib.suppress(TypeError):
        _PARAMETERS[key] = names
    return name in names
