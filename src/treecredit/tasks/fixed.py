"""Tasks over a fixed list of problems (a dataset, HumanEval): a seeded held-out split, training draws
from the other problems only; and the rules by which a held-out fraction becomes a count of items
(:data:`HELD_OUT_RULES`: :func:`float_product_count`, rule 1; :func:`held_out_count`, rule 2)."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np

from treecredit._validation import fail
from treecredit.tasks.base import Problem, Task

HELD_OUT_RULES = (1, 2)
"""The values of a dataset's ``held_out_rule``: how a fraction ``held_out`` (0 < ``held_out`` < 1) of ``rows``
becomes a count. 1: the float product rounded up, ``ceil(held_out × rows)`` in floating point
(:func:`float_product_count`: 0.07 × 100 = 7.000000000000001 → 8), the rule of every dataset run started before
2026-12-02 and of HumanEval's split; 2 (new dataset runs): ``ceil`` of the fraction as the decimal written
(:func:`held_out_count`: 0.07 of 100 → 7)."""


def check_held_out_rule_value(rule) -> None:
    """Refuse (``held_out_rule``) a ``rule`` that is not one of :data:`HELD_OUT_RULES`: the one check of the value,
    for :func:`held_out_count` and ``TrainConfig``."""
    if isinstance(rule, bool) or rule not in HELD_OUT_RULES:
        fail("held_out_rule", f"is {rule!r}, must be 1 or 2", "leave it out: a new run rounds by 2 (the fraction as "
             "written), and a resumed run keeps the rule it was started with")


def held_out_count(held_out, rows: int, rule: int = 2):
    """The ``held_out`` that a dataset of ``rows`` rows splits by (:func:`split_held_out`, whose draw is the same
    for a count as for the fraction it stands for): under ``rule`` 2, a fraction (0 < ``held_out`` < 1) is the
    count ``ceil(held_out × rows)`` with ``held_out`` read as the decimal it is written as (``Fraction(str(...))``,
    exact: 0.07 of 100 is 7, 0.14 of 50 is 7, 0.15 of 20 is 3); under rule 1 (runs made before rule 2) it is left
    to ``split_held_out``, which rounds the float product up (:func:`float_product_count`). A count, 0, a fraction
    that leaves no row to train on and a value that is not a number are returned as they are, for
    ``split_held_out`` to take or refuse with its message. Raises ``ValueError`` naming ``held_out_rule`` when
    ``rule`` is neither 1 nor 2. ``rule`` defaults to 2, as new runs (``TrainConfig.held_out_rule``)."""
    check_held_out_rule_value(rule)
    if rule == 1 or isinstance(held_out, bool) or not isinstance(held_out, (float, np.floating)) \
            or not 0 < held_out < 1:
        return held_out
    # str(): the shortest decimal of the value's own precision (NumPy's repr is 'np.float64(0.07)', and
    # np.float32(0.07) as a Python float is 0.07000000029802322)
    count = math.ceil(Fraction(str(held_out)) * rows)
    return count if count < rows else held_out


def float_product_count(held_out, n: int) -> int:
    """The items :func:`split_held_out` holds out of ``n`` for a ``held_out`` it accepts (a number ≥ 0, a NumPy one
    read by :func:`plain_number`): a fraction (0 < ``held_out`` < 1) rounded up in floating point,
    ``ceil(held_out × n)`` (0.07 × 100 = 7.000000000000001 → 8: rule 1 of :data:`HELD_OUT_RULES`), else the count
    ``int(held_out)``."""
    held_out = plain_number(held_out)
    return math.ceil(held_out * n) if 0 < held_out < 1 else int(held_out)


def split_held_out(items: list, held_out: float, seed: int, stream: int) -> tuple[list, list]:
    """``(held_out_items, training_items)``: ``held_out`` items (a fraction if < 1, counted by
    :func:`float_product_count`, else a count) drawn with NumPy stream ``[seed, stream]``; both lists keep the
    input order. Raises ``ValueError`` on ``held_out`` when it is no number ≥ 0 or leaves nothing to train on."""
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


def _leaves_training_fix(n: int) -> str:
    """The largest count and fraction of ``n`` items that leave one to train on (:func:`float_product_count` of
    the fraction are held out), as the fix of a ``held_out`` that leaves none."""
    if n < 2:
        return f"add items: {n} cannot be both trained on and held out"
    hundredths = (n - 1) * 100 // n
    while hundredths > 1 and float_product_count(hundredths / 100, n) >= n:  # such as 0.07 × 100 = 7.000…1
        hundredths -= 1
    fraction = f"{hundredths / 100:g}"
    return (f"pass a count of at most {n - 1} (held_out={n - 1}) or a fraction of at most {fraction} (held_out="
            f"{fraction} holds out {float_product_count(hundredths / 100, n)} of the {n}); held_out=0.1 is usual")


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
