"""Tasks over a fixed list of problems (a dataset, HumanEval): a seeded held-out split, training draws
from the other problems only."""

from __future__ import annotations

import math

import numpy as np

from treecredit._validation import fail
from treecredit.tasks.base import Problem, Task


def split_held_out(items: list, held_out: float, seed: int, stream: int) -> tuple[list, list]:
    """``(held_out_items, training_items)``: ``held_out`` items (a fraction if < 1, else a count) drawn with
    NumPy stream ``[seed, stream]``; both lists keep the input order. Raises ``ValueError`` on
    ``held_out`` when nothing would be left to train on."""
    n = len(items)
    held_out = plain_number(held_out)
    if isinstance(held_out, bool) or not isinstance(held_out, (int, float)) or not 0 <= held_out < math.inf:
        fail("held_out", f"is {held_out!r}, must be a number ≥ 0: a fraction below 1 or a count of items",
             f"pass e.g. held_out=0.1 (a tenth of the {n}) or held_out=20 (a count below {n})")
    if held_out >= 1 and held_out != int(held_out):
        fail("held_out", f"is {held_out}: neither a fraction below 1 nor a whole count of items",
             f"pass a count (held_out={math.floor(held_out)} or {math.ceil(held_out)}) or a fraction below 1 "
             f"(held_out=0.1: a tenth of the {n})")
    k = float_product_count(held_out, n)
    if k >= n:
        fail("held_out", f"is {held_out}: {k} held-out of {n}, leaving none to train on", _leaves_training_fix(n))
    order = np.random.default_rng([seed, stream]).permutation(n)
    return [items[i] for i in sorted(order[:k].tolist())], [items[i] for i in sorted(order[k:].tolist())]


def plain_number(value):
    """``value`` as a Python number when it is a NumPy scalar (``np.int64(20)`` → 20, ``np.float32(0.1)`` → the
    float it holds), else as it is: ``held_out`` is checked and counted as a Python ``int`` or ``float``."""
    return value.item() if isinstance(value, (np.integer, np.floating)) else value


def float_product_count(held_out: float, n: int) -> int:
    """The items :func:`split_held_out` holds out of ``n`` for a valid ``held_out`` (a number ≥ 0): a fraction
    (0 < ``held_out`` < 1) rounded up in floating point, ``ceil(held_out × n)`` (0.07 × 100 = 7.000000000000001
    → 8: a dataset's ``held_out_rule`` 1), else the count ``int(held_out)``."""
    return math.ceil(held_out * n) if 0 < held_out < 1 else int(held_out)


def _leaves_training_fix(n: int) -> str:
    """The largest count and fraction of ``n`` items that leave one to train on (``ceil(fraction × n)`` are held
    out), as the fix of a ``held_out`` that leaves none."""
    if n < 2:
        return f"add items: {n} cannot be both trained on and held out"
    hundredths = (n - 1) * 100 // n
    while hundredths > 1 and math.ceil(hundredths / 100 * n) >= n:  # float products such as 0.07 × 100 = 7.000…1
        hundredths -= 1
    fraction = f"{hundredths / 100:g}"
    return (f"pass a count of at most {n - 1} (held_out={n - 1}) or a fraction of at most {fraction} (held_out="
            f"{fraction} holds out {math.ceil(hundredths / 100 * n)} of the {n}); held_out=0.1 is usual")


class FixedProblemsTask(Task):
    """A task whose problems are ``self._train`` (drawn uniformly) and ``self._held_out`` (evaluation)."""

    _train: list[Problem]
    _held_out: list[Problem]

    @property
    def train_problems(self) -> list[Problem]:
        return list(self._train)

    def make_problem(self, rng: np.random.Generator) -> Problem:
        return self._train[int(rng.integers(len(self._train)))]

    def held_out_problems(self, rng: np.random.Generator, n: int) -> list[Problem]:
        """The first ``n`` held-out problems (all of them when there are fewer)."""
        return self._held_out[:n]
