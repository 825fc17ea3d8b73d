"""Countdown: combine the given numbers with ``+ - *`` to reach a target, one operation per step.

Example (prompt, then response): ``3 5 7>36:`` → ``5+7=12,12*3=36;``. Each step takes two numbers
from the pool (the given numbers plus results so far, each usable once), writes ``a op b=c`` and puts
``c`` back. The step delimiter is ``","``; ``";"`` ends the answer.

Credit shape: the first choices decide whether the target is still reachable; later steps are often
forced. So credit concentrates early, unlike arithmetic where every step can fail on its own.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

import numpy as np

from treecredit._validation import fail
from treecredit.tasks.base import Problem, Task

_STEP = re.compile(r"(\d+)([-+*])(\d+)=(-?\d+)")


def apply(a: int, op: str, b: int) -> int:
    return a + b if op == "+" else a - b if op == "-" else a * b


@dataclass
class CountdownTask(Task):
    """Reach a target from ``n_numbers`` numbers in ``1..max_number``.

    The target is made by combining the numbers in a random order with random operators (subtraction
    only when it stays non-negative), so every problem is solvable with all numbers in ``n_numbers − 1``
    steps; a response may also stop earlier once it has written the target.

    Args:
        n_numbers: how many numbers are given (≥ 2).
        max_number: numbers are drawn uniformly from ``1..max_number``.
    """

    n_numbers: int = 3
    max_number: int = 9

    name = "countdown"
    delimiter = ","
    end = ";"
    alphabet = "0123456789+-*=;, >:"

    def __post_init__(self) -> None:
        if self.n_numbers < 2:
            fail("n_numbers", f"is {self.n_numbers}, must be ≥ 2", "pass n_numbers=3")
        if self.max_number < 1:
            fail("max_number", f"is {self.max_number}, must be ≥ 1", "pass max_number=9")

    def make_problem(self, rng: np.random.Generator) -> Problem:
        numbers = [int(x) for x in rng.integers(1, self.max_number + 1, size=self.n_numbers)]
        order = [numbers[int(i)] for i in rng.permutation(self.n_numbers)]
        value, steps = order[0], []
        for b in order[1:]:
            op = "+-*"[int(rng.integers(0, 3))]
            a, bb = (value, b) if op != "-" or value >= b else (b, value)
            result = apply(a, op, bb)
            steps.append(f"{a}{op}{bb}={result}")
            value = result
        prompt = " ".join(map(str, numbers)) + f">{value}:"
        return Problem(prompt, self.delimiter.join(steps) + self.end, str(value), (tuple(numbers), value))

    def _walk(self, problem: Problem, steps: list[str]) -> tuple[list[bool], int | None]:
        """Check each step against the pool; return the checks and the last written result."""
        pool = Counter(problem.data[0])
        checks, last = [], None
        for step in steps:
            match = _STEP.fullmatch(step)
            ok = False
            if match and len(step) <= 32:
                a, op, b, c = int(match[1]), match[2], int(match[3]), int(match[4])
                need = Counter([a, b])
                if all(pool[x] >= k for x, k in need.items()) and apply(a, op, b) == c:
                    pool -= need
                    pool[c] += 1
                    ok = True
                last = c
            checks.append(ok)
        return checks, last

    def reward(self, problem: Problem, response: str) -> float:
        """1.0 iff the response ends with ``;``, every step is legal and the last result is the target."""
        if self.end not in response:
            return 0.0
        checks, last = self._walk(problem, self.complete_steps(response))
        return 1.0 if checks and all(checks) and last == problem.data[1] else 0.0

    def check_steps(self, problem: Problem, response: str) -> list[bool]:
        """Step k is correct iff it uses two numbers still in the pool and computes their result right.

        A wrong step leaves the pool unchanged, so later steps are judged against the pool before it.
        """
        return self._walk(problem, self.complete_steps(response))[0]
