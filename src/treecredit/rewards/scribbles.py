"""Whether the number math-verify read out of a final answer is the first number of a scribble (``11>;15``,
``11)15``, ``6)6``, ``2[``): the ``math`` reward's scribble rule (:func:`reads_a_scribble`), which holds with
``literal=false`` too. Moved out of :mod:`treecredit.rewards.answers` (which re-exports it) on 2026-12-04."""

from __future__ import annotations

import math
import re

from treecredit.rewards.numbers import written_numbers

# (a word: letters not glued to a digit, which are symbols: 11>;ab15 is a scribble)
_WORD = re.compile(r"(?<![\\A-Za-z0-9])[A-Za-z]{2,}(?![A-Za-z0-9])")


def reads_a_scribble(parsed: list, text: str, *, ratios: bool = False) -> bool:
    """Whether math-verify's reading of ``text`` (a final answer; ``parsed``: one bare number) is a number that
    ``text`` writes before another number with only symbols between them: math-verify
    read the first number of a scribble and dropped the rest (a comparison sign, ``=``, ``;``, ``&``, ``|`` or ``@``
    between them; not a note in brackets, ``11 (4+7)``, ``11 [1]``, nor ``11_{10}``), or writes last, before such a
    sign and a symbol (``11>;a15``, ``11>;a``: no number is read in ``a15``; until fixC of 2026-12-03 each scored
    1.0 for 11), or before a bracket glued to it that opens nothing before it, or a glued letter and another number
    (``11)15``, ``x=11]15``, ``11[12``, ``2aa)5408``, ``9b 7``: trial40 2; ``(11)`` and ``11 [1]`` are fine), or
    before a bracket glued to it that opens (``2[``, ``2{``: nothing follows), or is a number equal to it written
    first, before such a bracket (``6)6``, ``6[6``: math-verify read the first 6), or before a glued ``:`` and a digit
    (a time or a ratio, ``Answer: 11:15``, of which math-verify read the 11; each scored 1.0 until 2026-12-04)
    where every number of ``text`` equal to it is such a first part, the second part is not all zeros (``11:00`` is
    11 o'clock) and ``ratios`` is False (the caller's reference is itself a ratio, ``2:1``, which math-verify reads
    as its first number too: review43 1).
    ``11>;15``, ``x=11>;15``,
    ``7>;100``, ``11=;15``, ``11&15`` read 11 (or 7) where the statement ends on 15 (or 100), which the ``numeric``
    reward reads; a trial's run credited ``011>;15`` for ``6+5=`` (until 2026-12-03). Words between the two numbers
    are prose, read by math-verify's anchors as before (``The answer is 11, not 15`` answers 11), and a number
    written after the one read with the same value is fine (``11 = 11``). False where math-verify read several
    values, an equation or an expression (it read what follows: ``9 = 1+8``, credited with ``literal=false``), or a
    value not written as a number of ``text`` (:func:`~treecredit.rewards.numbers.written_numbers`)."""
    entries = [e for e in parsed if not isinstance(e, str)]
    if len(entries) != 1 or not getattr(entries[0], "is_Number", False):
        return False  # (an equation or an expression: math-verify read what follows the number, 9 = 1+8)
    try:
        value = float(entries[0])
    except (TypeError, ValueError):
        return False
    if not math.isfinite(value):
        return False

    def same(written: float | None, percent: bool) -> bool:
        return written is not None and any(abs(w - value) <= 1e-9 * max(1.0, abs(value))
                                           for w in ([written, written / 100] if percent else [written]))

    numbers = written_numbers(text)
    read = [i for i, (_, _, written, percent) in enumerate(numbers) if same(written, percent)]
    if not read:
        return False
    if any(_glued_bracket(text, numbers[i][0], numbers[i][1], numbers[i + 1][0]) for i in read[:-1]):
        return True  # (an equal number written first, before a glued bracket and the last: 6)6, 6]6, 6[6)
    start, end = numbers[read[-1]][0], numbers[read[-1]][1]
    if not ratios and all(_RATIO_TAIL.match(text, numbers[i][1]) for i in read):
        return True  # (a time or a ratio, 11:15, of which math-verify read the 11 in prose: Answer: 11:15)
    last = read[-1] == len(numbers) - 1
    stop = len(text) if last else numbers[read[-1] + 1][0]
    raw = _CLOSING_TAG.sub(" ", _LATEX_SPACE.sub(" ", text[end:stop]))  # (11</s>: an end tag, not a sign)
    between = raw.strip()
    if _WORD.search(_LATEX_SPACE.sub(" ", text[end - 1:stop])):  # (from the number's last digit: 2aa)5408 has none)
        return False
    sign = _SCRIBBLE_SIGN.search(raw)
    if sign is not None and between.startswith(("(", "[", "_")):
        sign = None  # (a note in brackets: 11 (4+7), 11 [1]; a subscript 11_{10})
    # a bracket glued to the number that opens nothing before it, or opens glued (11)15, x=11]15, 11}15, 11[12:
    # trial40 2), or a letter glued to it before another number (9b 7, 2aa)5408)
    glued = _glued_bracket(text, start, end, stop)
    if sign is None and glued is not None:
        sign = glued
        if glued.group(0)[-1] in "([{":
            return True  # (a bracket opened glued to the number: 11[12, and 2[ at the end, which opens nothing)
    elif sign is None and not last and raw[:1].isalpha():
        return True
    if sign is None:
        return False
    # after the last number written, a sign then a symbol (11>;a15, 11>;a: math-verify read no number in a15)
    return not last or _SYMBOL.search(raw, sign.end()) is not None


def _glued_bracket(text: str, start: int, end: int, stop: int) -> re.Match | None:
    """The bracket glued to the number ``text[start:end]`` (maybe after letters or an operator, up to ``stop``) that
    makes a scribble: one that closes nothing opened before the number (``11)15``, ``x=11]15``, ``6)6``; not
    ``(11)``, ``f(11)``) or one that opens (``11[12``, ``2[``); not a closed citation (``11[1]``, ``11[1][2]``: a
    note, as ``11 [1]`` is) nor text with a word (``2 apples)``). None where there is none."""
    raw = _CLOSING_TAG.sub(" ", _LATEX_SPACE.sub(" ", text[end:stop]))
    glued = _GLUED.match(raw)
    if glued is None or _CITATION.match(text, end) or _WORD.search(_LATEX_SPACE.sub(" ", text[end - 1:stop])):
        return None
    return glued if raw[0] not in ")]}" or not _opened(text[:start], raw[0]) else None


def _opened(before: str, closer: str) -> bool:
    """Whether ``before`` leaves open a bracket that ``closer`` closes (``(11)``, ``f(11)``)."""
    opener = {")": "(", "]": "[", "}": "{"}[closer]
    return before.count(opener) > before.count(closer)


# What makes two numbers a scribble rather than an answer and a note: a sign between them (``11>;15``, ``11&15``);
# a bracket (``11 (4+7)``, ``11 [1]``), a subscript (``11_{10}``) or a comma alone (``11, 15 is wrong``) do not.
_SCRIBBLE_SIGN = re.compile(r"[<>=;&|@]")
_RATIO_TAIL = re.compile(r":(?!0+(?!\d))\d")  # (a glued ``:`` and digits not all zeros: 11:15, not 11:00)
_SYMBOL = re.compile(r"[A-Za-z0-9\\]")
_GLUED = re.compile(r"[A-Za-z+*/-]*[)\]}\[{]")  # (a bracket right after the number, maybe after letters: 2aa)5408)
_CITATION = re.compile(r"(?:\[\d+\])+(?![\d()\[\]{}])")  # (``[1]``, ``[1][2]`` right after the number)
_LATEX_SPACE = re.compile(r"\\[;:>,! ]")  # (``11 \; \mathrm{m}``: a space, not a sign)
_CLOSING_TAG = re.compile(r"</[A-Za-z][A-Za-z0-9_:-]*>")  # (``</s>``, ``</b>``: an end tag, not ``<`` and ``s``)
