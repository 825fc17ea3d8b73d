"""Checks of what a dataset's answer and prompt cells hold, made by :class:`~treecredit.tasks.dataset.DatasetTask`
before any model loads: an answer that is a dict or a list (whose text, ``"{'value': 7}"``, the built-in rewards
and the held-out success test would compare completions with: every reward 0), and a prompt column of numbers (a
column of ids named as the prompts)."""

from __future__ import annotations

import warnings

from treecredit._validation import fail
from treecredit.tasks.dataset_rows import shown_rows

_SHOWN_CHARS = 60


def _shown(value) -> str:
    text = repr(value)
    return text if len(text) <= _SHOWN_CHARS else text[:_SHOWN_CHARS - 3] + "..."


def _answer_fix(column: str, kind: str, value) -> str:
    pick = f"a[{next(iter(value), 'KEY')!r}]" if kind == "dict" else "a[0]"
    return (f"put one answer (text or a number) in each cell of the answer column, e.g. df[{column!r}] = "
            f"df[{column!r}].map(lambda a: {pick}) before saving; keep the {kind} in a column of another name if a "
            f"reward of yours reads it (reward functions get every column as a keyword); or pass --task-option "
            "answer_column=<a column of answers> (answer_column= for none)")


def check_answer_cells(rows: list[dict], column: str, where: str, answer_rewards: list[str]) -> None:
    """Refuse, before any work, an answer ``column`` of ``rows`` (``where``: the file, as errors name it) that holds a
    dict in any row, naming the column, the rows, the first such value and the fix; a list likewise when
    ``answer_rewards`` (the names of the built-in rewards in use that compare a completion with the answer's text:
    ``math``, ``exact``, ``numeric``) is not empty, else a warning (a reward of the user's gets the list as it is,
    but the held-out success test and the warm start read its text)."""
    if not column:
        return
    for kind, types in (("dict", dict), ("list", (list, tuple))):
        bad = [number for number, row in enumerate(rows, 1) if isinstance(row.get(column), types)]
        if not bad:
            continue
        said = (f"column {column!r} holds a {kind}, not one answer, in {len(bad)} of the {len(rows)} rows of {where} "
                f"({shown_rows(bad)}, counting from 1 in file order; row {bad[0]}: {_shown(rows[bad[0] - 1][column])})")
        first = rows[bad[0] - 1][column]
        text = f"its text ({str(first)[:_SHOWN_CHARS]!r})"
        if kind == "dict" or answer_rewards:
            readers = (f"reward {answer_rewards[0]!r} compares each completion with {text}" if answer_rewards else
                       f"the held-out success test (pass@1) compares each completion with {text}")
            outcome = ("so every completion would score 0" if kind == "dict" else "not with one answer in it "
                       "(exact never matches it; math-verify may read [1, 2] as an interval)")
            fail("answer_column", f"{said}: {readers}, {outcome}", _answer_fix(column, kind, first))
        warnings.warn(f"answer_column: {said}: your reward functions get each list as it is, but held-out pass@1 (the "
                      f"math success test) and a warm start without solution_column read {text}. Fix: "
                      f"{_answer_fix(column, kind, first)}.", UserWarning, stacklevel=3)


def _is_number(value) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, (int, float)):
        return True
    if not isinstance(value, str) or not value.strip():
        return False
    try:
        float(value)
    except ValueError:
        return False
    return True


def check_number_prompts(rows: list[dict], column: str, where: str, template: str, taken: set) -> None:
    """Refuse, before any work, a prompt ``column`` whose every cell is a number (``1``, ``'17'``, ``2.5``): a column
    of ids or counts named as the prompts, which the model would be asked as they are. A ``template`` other than
    ``{prompt}`` words the number (``Count to {prompt}.``) and is accepted. The fix names the columns of text
    (``taken``: the columns of other options, left out)."""
    if template != "{prompt}" or not column or not rows or not all(_is_number(row.get(column)) for row in rows):
        return
    texts = [c for c in rows[0] if c != column and c not in taken
             and any(isinstance(row.get(c), str) and not _is_number(row.get(c)) for row in rows)]
    pick = f"pass --task-option prompt_column=<one of {texts}>" if texts else \
        "put the prompts (text) in a column and pass --task-option prompt_column=NAME"
    fail("prompt_column", f"column {column!r} holds numbers in all {len(rows)} rows of {where} (row 1: "
         f"{_shown(rows[0][column])}), not prompts: the model would be asked the number alone",
         f"{pick}; or, if the number is the question, word it with a template (--task-option "
         "template='Count to {prompt}.')")
