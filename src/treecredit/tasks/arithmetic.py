"""Step-by-step arithmetic: rewrite an expression one operation at a time until one number is left.

Example (prompt, then response): ``4-5+8*0=`` → ``4-5+0=-1+0=-1;``. Each step applies exactly one
operation and respects precedence: the leftmost ``*`` if there is one, else the leftmost ``+``/``-``.
The step delimiter is ``"="``; ``";"`` ends the answer.

Credit shape: every step is checkable, and an error anywhere usually ruins the final number, so
credit is spread along the whole response (an error late costs as much as one early).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from treecredit._validation import fail
from treecredit.tasks.base import Problem, Task

_EXPRESSION = re.compile(r"-?\d+(?:[-+*]-?\d+)*")
_TERM = re.compile(r"(-?\d+)([-+*]?)")


def parse_expression(text: str) -> tuple[list[int], list[str]] | None:
    """``(numbers, operators)`` of a flat expression such as ``"-1+0*3"``, or None if it does not parse.

    A ``-`` directly after an operator (or at the start) is a sign; ``len(numbers) == len(operators) + 1``.
    """
    if len(text) > 64 or not _EXPRESSION.fullmatch(text):
        return None
    numbers, operators = [], []
    for number, operator in _TERM.findall(text):
        numbers.append(int(number))
        if operator:
            operators.append(operator)
    return numbers, operators


def format_expression(numbers: list[int], operators: list[str]) -> str:
    parts = [str(numbers[0])]
    for operator, number in zip(operators, numbers[1:]):
        parts += [operator, str(number)]
    return "".join(parts)


def rewrite_once(numbers: list[int], operators: list[str]) -> tuple[list[int], list[str]]:
    """Apply the one operation precedence picks: the leftmost ``*``, else the leftmost operator."""
    k = operators.index("*") if "*" in operators else 0
    a, b, op = numbers[k], numbers[k + 1], operators[k]
    value = a * b if op == "*" else a + b if op == "+" else a - b
    return numbers[:k] + [value] + numbers[k + 2:], operators[:k] + operators[k + 1:]


def evaluate(numbers: list[int], operators: list[str]) -> int:
    while operators:
        numbers, operators = rewrite_once(numbers, operators)
    return numbers[0]


@dataclass
class ArithmeticTask(Task):
    """Step-by-step arithmetic over single operations.

    Args:
        min_operators: fewest operators in a problem (≥ 1).
        max_operators: most operators in a problem (≥ min_operators).
        max_operand: operands are drawn uniformly from ``0..max_operand``.
        operators: the operator characters to draw from (a subset of ``"+-*"``).
    """

    min_operators: int = 2
    max_operators: int = 2
    max_operand: int = 9
    operators: str = "+-*"

    name = "arithmetic"
    delimiter = "="
    end = ";"
    alphabet = "0123456789+-*=;"

    def __post_init__(self) -> None:
        if self.min_operators < 1:
            fail("min_operators", f"is {self.min_operators}, must be ≥ 1", "pass min_operators=1 or more")
        if self.max_operators < self.min_operators:
            fail("max_operators", f"is {self.max_operators}, below min_operators={self.min_operators}",
                 "pass max_operators ≥ min_operators")
        if self.max_operand < 1:
            fail("max_operand", f"is {self.max_operand}, must be ≥ 1", "pass max_operand=9 for single digits")
        if not self.operators or set(self.operators) - set("+-*"):
            fail("operators", f"is {self.operators!r}", "pass a non-empty subset of '+-*'")

    def make_problem(self, rng: np.random.Generator) -> Problem:
        n_ops = int(rng.integers(self.min_operators, self.max_operators + 1))
        numbers = [int(x) for x in rng.integers(0, self.max_operand + 1, size=n_ops + 1)]
        operators = [self.operators[int(i)] for i in rng.integers(0, len(self.operators), size=n_ops)]
        steps = []
        current = (numbers, operators)
        while current[1]:
            current = rewrite_once(*current)
            steps.append(format_expression(*current))
        solution = self.delimiter.join(steps) + self.end
        return Problem(format_expression(numbers, operators) + self.delimiter, solution, steps[-1],
                       (tuple(numbers), tuple(operators)))

    def reward(self, problem: Problem, response: str) -> float:
        """1.0 iff the text before the first ``;`` ends in the right number (``…=-1;`` or just ``-1;``)."""
        head, has_end, _ = response.partition(self.end)
        if not has_end:
            return 0.0
        final = head.rsplit(self.delimiter, 1)[-1]
        return 1.0 if final == problem.answer else 0.0

    def check_steps(self, problem: Problem, response: str) -> list[bool]:
        """Step k is correct iff it is the precedence rewrite of the expression written before it.

        The expression before step 0 is the problem's; a step after an unparsable one is judged against
        nothing and counts as wrong.
        """
        previous = (list(problem.data[0]), list(problem.data[1]))
        checks = []
        for step in self.complete_steps(response):
            written = parse_expression(step)
            ok = previous is not None and bool(previous[1]) and written == rewrite_once(*previous)
            checks.append(ok)
            previous = written
        return checks
