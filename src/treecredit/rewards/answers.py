"""Final answers out of free text: ``\\boxed{…}`` (last one, braces balanced) and GSM8K's ``#### …``.

Used by the built-in verifiers on both the completion and the dataset's answer column, so an answer
column may hold ``"288"``, ``"#### 288"`` or a full worked solution ending in ``#### 288``. Also: whether
math-verify's reading of an answer is a plain number, and whether it was written as one
(:func:`is_number_literal`, :func:`ends_open`: the ``math`` reward's ``literal`` rule).
"""

from __future__ import annotations

import math
import re

_NUMBER = re.compile(r"[-+]?(?:\d[\d,]*\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def as_text(value) -> str:
    """Text of a completion or prompt: a string as is; a conversation (TRL's conversational format, a
    list of ``{"role", "content"}`` messages) as the content of its last message."""
    if isinstance(value, list) and value and isinstance(value[-1], dict):
        return str(value[-1].get("content", ""))
    return "" if value is None else str(value)


def last_boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{…}`` (or ``\\fbox{…}``) in ``text`` with nested braces, or None."""
    start = max(text.rfind("\\boxed{"), text.rfind("\\fbox{"))
    if start < 0:
        return None
    i = text.index("{", start) + 1
    depth, begin = 1, i
    while i < len(text):
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        if depth == 0:
            return text[begin:i].strip()
        i += 1
    return None  # unbalanced: the box was never closed


def final_answer(text: str) -> str:
    """The answer ``text`` commits to: the last ``\\boxed{}``, else what follows the last ``####`` (first
    line), else the stripped text itself."""
    boxed = last_boxed(text)
    if boxed is not None:
        return boxed
    if "####" in text:
        tail = text.rsplit("####", 1)[1].strip()
        return tail.splitlines()[0].strip() if tail else ""
    return text.strip()


def last_number(text: str) -> float | None:
    """The last number written in ``text`` (thousands commas allowed), or None."""
    found = [m.group(0).replace(",", "") for m in _NUMBER.finditer(text)]
    for token in reversed(found):
        try:
            return float(token.rstrip("."))
        except ValueError:
            continue
    return None


_FRACTION = re.compile(r"\\[dt]?frac\{\s*[-+]?(\d+)\s*\}\{\s*[-+]?(\d+)\s*\}|(\d+)\s*/\s*(\d+)")


def _value(entry):
    """A math-verify value with an equation read as its right-hand side (``x = 9`` → 9)."""
    while getattr(entry, "is_Relational", False):
        entry = entry.rhs
    return entry


def is_plain_number(parsed: list) -> bool:
    """Whether math-verify's ``parse`` result holds a plain number (an integer, a fraction, a decimal,
    ±∞, an equation ``x = 9``): the answers for which :func:`is_number_literal` is asked of a completion."""
    return any(getattr(_value(e), "is_Number", False) for e in parsed if not isinstance(e, str))


def _literal(value) -> bool:
    if getattr(value, "is_Number", False):
        return True
    if getattr(value, "is_Mul", False) and len(value.args) == 2:
        number, unit = value.args
        if getattr(number, "is_Number", False):
            ten = getattr(unit, "is_Pow", False) and unit.args[0] == 10 and getattr(unit.args[1], "is_Integer", False)
            return ten or str(unit) == "1/100"  # 1.5 × 10^3; 50 %
    return False


_OPEN_END = re.compile(r"(?:[-+*/=^×÷·]|\\cdot|\\times|\\div)\s*$")


def ends_open(text: str) -> bool:
    """Whether ``text`` (a final answer) stops mid-expression: it ends, after a closing period, in an operator
    or ``=`` (``8*``, ``8 -``, ``3=3=3=``), or in a bracket that its last line never opened (``8)``; not
    ``1) so 8``). Such
    text is not a final answer, even where math-verify reads a number out of it."""
    text = text.strip().removesuffix(".").rstrip()
    if _OPEN_END.search(text):
        return True
    last = text.splitlines()[-1] if text else ""
    return any(last.endswith(close) and last.count(close) > last.count(open_) for open_, close in ("()", "[]", "{}"))


def is_number_literal(parsed: list) -> bool:
    """Whether math-verify's ``parse`` result of a completion is a number as written: every value it found is
    a number (``9``, ``-3``, ``9.0``, ``\\frac{1}{2}``, ``2\\frac{1}{2}``, ``1.5\\times 10^{3}``, ``50\\%``), an
    equation's right-hand side counting (``x = 9``, ``1+8=9``), and every fraction written is in lowest terms
    with a denominator above 1. Not one: ``1+8``, ``3^2``, ``2\\cdot 3+3``, ``x = 1+8``, ``\\frac{18}{2}``
    (math-verify evaluates a fraction as it parses it, so its text is checked), ``\\frac{2}{4}``, an empty
    result. math-verify stays the judge of equality; this only says what counts as a final answer."""
    values = [_value(e) for e in parsed if not isinstance(e, str)]
    if not values or not all(_literal(v) for v in values):
        return False
    for text in (e for e in parsed if isinstance(e, str)):
        for match in _FRACTION.finditer(text.rsplit("=", 1)[-1]):  # the answer side of an equation
            numerator, denominator = (int(g) for g in match.groups() if g is not None)
            if denominator <= 1 or math.gcd(numerator, denominator) != 1:
                return False
    return True
