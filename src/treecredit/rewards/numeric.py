"""The ``numeric`` reward (:func:`numeric_reward`) and its checks of the reference answers: an answer that is not
one number (``(1, 2)``, ``2^{10}``, ``\\sqrt{2}``) cannot be compared by one number, so its rows get None (not
judged) with one note per process (:func:`read_answer`, :func:`unreadable_answers`); before any work a dataset
whose answers are all such is refused, and one with a few is said once with their count and first row numbers
(:func:`check_dataset_answers`), and a probe on worked solutions whose every answer is such is refused
(:func:`probe_refusal`).
"""

from __future__ import annotations

import functools
import logging
import os

from treecredit._validation import FixError, Remedy
from treecredit.rewards.answers import as_text, final_answer, without_emphasis
from treecredit.rewards.numbers import Reading, number_values, one_reading, stated_number

log = logging.getLogger("treecredit.rewards")

ONE_NUMBER = ("write that answer as one number (9, -0.5, 1/2, \\frac{1}{2}, 2 1/2, 1,000, 50%), or use --reward math, "
              "which compares expressions, tuples and sets")
"""The fix for an answer that is not one number."""


def numeric_reward(prompts, completions, answer=None, tolerance: float = 1e-6, relative: float = 0.0,
                   **_) -> list[float | None]:
    """1.0 where |x − y| ≤ tolerance + relative·|y|, else 0.0: y is the value of the one number that the answer (its
    final answer, :func:`~treecredit.rewards.answers.final_answer`, Markdown emphasis removed) states, x the value of
    the last number of the completion's final answer (:func:`~treecredit.rewards.numbers.stated_number`). A fraction
    or a mixed number is one value on both sides (:func:`~treecredit.rewards.numbers.number_values`): ``0.5``,
    ``1/2`` and ``\\frac{1}{2}`` are equal; ``3/2`` is not ``1/2``; ``1,000``, ``1{,}000`` and ``1 000`` are 1000
    and ``1.5\\times 10^{3}`` is 1500, while ``3 and 1/2`` is two numbers (as math-verify reads them). A
    percentage of confidence is no number stated: ``The answer is 50. I'm 100% sure`` reads 50. A number inside
    an expression is no number:
    a completion whose last number is under a root, in a power or before a constant (``\\sqrt{2}``, ``2^{10}``,
    ``3\\pi``, ``2\\sqrt{2}``) scores 0 (``\\sqrt{2}`` is not 2; write ``1.41421356`` with a ``tolerance``).
    A percentage (``50%``, ``50\\%``, ``50 percent``) on one side only is its number or its fraction, as ``math``
    (math-verify) reads it: against the answer ``50%``, ``0.5``, ``50`` and ``50%`` score 1; against ``0.5``,
    ``50%`` scores 1; ``\\boxed{5000\\%}`` scores 1 against ``50`` (5000% is 50, and math-verify agrees);
    ``0.5%`` is not ``50%`` (:meth:`~treecredit.rewards.numbers.Reading.matches`).

    None where the row has no answer, where its answer holds no number (``Paris``: does not apply), or where its
    answer is not one number (``(1, 2)``, ``2^{10}``, ``\\sqrt{2}``, ``3\\pi``): comparing one part of it would
    score wrong answers 1, so the row is not judged, whatever the other rows of the call (one note per process
    names the first such answer and the fix; ``treecredit train`` checks a dataset's answers before any work,
    :func:`check_dataset_answers`).
    """
    answers = list(answer) if answer is not None else [None] * len(completions)
    out: list[float | None] = []
    refused: list[tuple[str, FixError]] = []
    for completion, gold, y in zip(completions, answers, _read_answers(answers)):
        if isinstance(y, FixError):
            refused.append((str(gold), y))
        if not isinstance(y, Reading):
            out.append(None)
            continue
        x = stated_number(final_answer(without_emphasis(as_text(completion))))  # **42** is 42, not a product
        out.append(float(x is not None and x.matches(y, float(tolerance), float(relative))))
    if refused:
        _note_refused(refused, len(completions))
    return out


def read_answer(gold: str) -> Reading | FixError | None:
    """The one number that answer ``gold`` states (:func:`~treecredit.rewards.numbers.one_reading`); None when it
    holds no number; the refusal (a :class:`~treecredit._validation.FixError`, returned) when it holds more, or an
    expression."""
    text = final_answer(without_emphasis(gold))
    values = number_values(text)
    if not values:
        return None
    reading = one_reading(text)
    if reading is not None:
        return reading
    what = (f"{len(values)} numbers ({', '.join(written for written, _ in values)})" if len(values) > 1
            else "a fraction over 0" if values[0][1] is None else "an expression, not a number")
    return FixError("reward", f"numeric reads one number from each answer, but the answer {text!r} holds {what}: "
                    "comparing one part of it would score wrong answers 1", (Remedy(ONE_NUMBER),), verb="")


def _read_answers(answers) -> list[Reading | FixError | None]:
    """:func:`read_answer` of each of ``answers`` (an answer column's values; None for none: None), each distinct
    answer read once (the completions of a group share their answer)."""
    read: dict[str, Reading | FixError | None] = {}
    for gold in answers or []:
        if gold is not None and str(gold) not in read:
            read[str(gold)] = read_answer(str(gold))
    return [None if gold is None else read[str(gold)] for gold in answers or []]


def unreadable_answers(answers) -> list[tuple[int, FixError]]:
    """``(index, refusal)`` of each of ``answers`` (an answer column's values; None for none) that holds numbers
    but not one number (:func:`read_answer`)."""
    return [(index, said) for index, said in enumerate(_read_answers(answers)) if isinstance(said, FixError)]


_noted = [False]  # numeric_reward's note said in this process
_checked: set[str] = set()  # the answers that check_dataset_answers said, in this process


def _note_refused(refused: list[tuple[str, FixError]], n: int) -> None:
    """Say once per process that the ``refused`` answers (``(answer, refusal)``) of a call of ``n`` completions are
    not one number; nothing when a dataset's check said each of them before any work (another dataset's answers,
    or a call's own, are still said)."""
    if _noted[0] or all(gold in _checked for gold, _ in refused):
        return
    _noted[0] = True
    first = next(said for gold, said in refused if gold not in _checked)
    log.warning("%s", first.reworded(problem=f"{first.problem}; the {len(refused)} of the {n} completions "
                                          "of this call with such an answer get None (not judged: treecredit train "
                                          "skips them and counts them in reward_failed; TRL leaves them out of the "
                                          "reward). Said once per process").said())


def probe_refusal(fn, columns: dict, n: int) -> FixError | None:
    """In a probe before any work (:meth:`~treecredit.rewards.RewardSet.probing`): the refusal of reward ``fn`` (a
    function or a ``functools.partial`` of one) when it is ``numeric`` and every one of the ``n`` answers in
    ``columns`` holds numbers but is not one number; None otherwise."""
    while isinstance(fn, functools.partial):
        fn = fn.func
    if fn is not numeric_reward:
        return None
    found = unreadable_answers(columns.get("answer"))
    return found[0][1] if n and len(found) == n else None


_NOTED_ENV = "TREECREDIT_NUMERIC_ANSWERS_NOTED"
"""Datasets whose answers :func:`check_dataset_answers` said, in this process and those it starts (``compare``'s
workers build each run's task again)."""


def check_dataset_answers(answers: list, where: str, column: str, rows: str = "rows") -> None:
    """Before any work, for a dataset scored by ``numeric``: ``answers`` (the answer column ``column``'s values, in
    file order) whose every value holding numbers is not one number are refused (the first one's refusal, with the
    count); a few such are said once per dataset (a warning: their count and first row numbers, counting from 1 in
    file order): their rows get no reward from ``numeric``. ``where``: the file, as the dataset's errors name it."""
    from treecredit.tasks.dataset_rows import shown_rows

    read = _read_answers(answers)
    found = [(index, said) for index, said in enumerate(read) if isinstance(said, FixError)]
    if not found:
        return
    numbered = sum(said is not None for said in read)  # the answers whose final answer holds a number
    first = found[0][1]
    shown = f"{shown_rows([index + 1 for index, _ in found])}, counting from 1 in file order"
    if len(found) == numbered:
        raise first.reworded(problem=f"{first.problem} (as do all {len(found)} answers of {where} that hold a "
                             f"number, in column {column!r}: {shown})")
    _checked.update(str(answers[index]) for index, _ in found)  # the calls in training say nothing more of these
    key = f"{where}#{column}"
    noted = os.environ.get(_NOTED_ENV, "").split("\n")
    if key in noted:
        return
    os.environ[_NOTED_ENV] = "\n".join([*filter(None, noted), key])
    import warnings

    warnings.warn(first.reworded(problem=f"{len(found)} of the {len(answers)} answers of {where} (column {column!r}; "
                                 f"{shown}) are not one number, so numeric gives those {rows} no reward (None: a "
                                 f"completion without one is skipped and counted in reward_failed); the first: "
                                 f"{first.problem}").said(), UserWarning, stacklevel=3)
