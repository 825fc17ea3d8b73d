"""The numbers written in a text, as the ``numeric`` reward reads them: a fraction or mixed number as one value
(:func:`number_values`), the one number an answer states (:func:`one_number`, :func:`one_reading`) and the number a
completion's final answer ends on (:func:`stated_number`), with whether it was written as a percentage
(:class:`Reading`). A number inside an expression (under a root, in a power, before a constant, joined to an
operator, a variable, a function or a factorial) is not read as a number, in answers and completions alike
(:func:`_in_expression`): ``\\sqrt{2}`` is not 2, nor ``2x``, ``4*5`` or ``3!``; a unit or a degree after it is
fine (``7 m^2``, ``24 \\text{ cm}^2``, ``45^\\circ``).
"""

from __future__ import annotations

import re
from typing import NamedTuple

# One value as written: a mixed number (2\frac{1}{2}, 2 1/2), a fraction (\frac{1}{2}, \dfrac, \tfrac, \frac12,
# 1/2), a number in scientific notation (1.5\times 10^{3}, 1.5 \cdot 10^3, 1.5*10^3) or a number (thousands
# separators between groups of exactly three digits after a first group of one to three, a decimal, an exponent),
# each with its sign. A thousands separator is a comma, LaTeX's {,}, one space (a plain, no-break, thin or narrow
# no-break one) or LaTeX's thin space \, : 1,000, 1{,}000, 1 000 and 1\,000 are 1000; 1 2 and 1 0000 are two numbers.
# One number uses one kind of separator (1,000 000 is 1000 and 0), and a space joins groups only where the number
# is not one of a list of numbers separated by spaces (2 4 8 16 32 64 128 256 is eight numbers, not 64128256).
_SPACE = r"[ \u00a0\u2009\u202f]"
_GROUPED = (r"(?:\d{1,3}(?:,\d{3})+|\d{1,3}(?:\{,\}\d{3})+|\d{1,3}(?:\\,\d{3})+"
            r"|(?<!\d" + _SPACE + r")\d{1,3}(?:" + _SPACE + r"\d{3})+(?!" + _SPACE + r"\d))")
_DECIMAL = (r"(?:" + _GROUPED + r"(?!\d)(?:\.\d*)?|\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_SCIENTIFIC = (r"(?P<m>" + _DECIMAL + r")\s*(?:\\times|\\cdot|[×·*])\s*10\s*\^\s*(?:\{\s*(?P<e>[-+]?\d+)\s*\}"
               r"|(?P<e1>[-+]?\d+))")
_LATEX_FRACTION = (r"\\[dt]?frac\s*(?:\{\s*(?P<N>[-+]?" + _DECIMAL + r")\s*\}\s*\{\s*(?P<D>[-+]?" + _DECIMAL
                   + r")\s*\}|(?P<N1>\d)(?P<D1>\d))")
_VALUE = re.compile(r"(?<![\w.])(?P<sign>[-+\u2212]?)(?:"
                    + r"(?P<whole>\d+)\s*" + _LATEX_FRACTION.replace("P<N", "P<wn").replace("P<D", "P<wd")
                    + r"|(?P<swhole>\d+)[ \t]+(?P<sn>\d+)\s*/\s*(?P<sd>\d+)(?![\d,/]|\.\d)"
                    + r"|" + _LATEX_FRACTION.replace("P<N", "P<fn").replace("P<D", "P<fd")
                    + r"|" + _SCIENTIFIC
                    + r"|(?P<n>" + _DECIMAL + r")\s*/\s*(?P<d>" + _DECIMAL + r")(?![\d,/]|\.\d)"
                    + r"|(?P<x>" + _DECIMAL + r"))")


_SEPARATOR = re.compile(r"\{,\}|\\,|[, \u00a0\u2009\u202f]")


def _decimal(text: str) -> float:
    return float(_SEPARATOR.sub("", text))


def number_values(text: str) -> list[tuple[str, float | None]]:
    """The numbers written in ``text``, as ``(as written, value)``, a fraction or a mixed number read as one value:
    ``1/2``, ``\\frac{1}{2}``, ``\\dfrac{1}{2}``, ``\\frac12`` are 0.5; ``2\\frac{1}{2}`` and ``2 1/2`` (a whole
    number, a space and a fraction below 1) are 2.5; ``-3/2`` is -1.5; ``1,000``, ``1{,}000``, ``1 000`` and
    ``1\\,000`` are 1000 (a thousands separator, :data:`_GROUPED`, between groups of exactly three digits after a
    first group of one to three: ``(1,2)``, ``1 2`` and ``1 0000`` are two numbers; ``100 200`` is one, as
    math-verify reads it); ``1.5\\times 10^{3}``, ``1.5 \\cdot 10^3`` and ``1.5*10^3`` are 1500 (scientific
    notation). ``3 and 1/2`` is two numbers (3 and 0.5), as math-verify reads it: ``and`` may join two answers.
    A fraction over 0 has the value None."""
    return [entry for match in _VALUE.finditer(text) for entry in _match_values(match)]


def _match_values(match: re.Match) -> list[tuple[str, float | None]]:
    """The ``(as written, value)`` of one match of :data:`_VALUE`: one, or two for a whole number before a fraction
    that is not below 1 (``2 3/2``)."""
    g = match.groupdict()
    sign = -1.0 if g["sign"] in ("-", "\u2212") else 1.0  # ASCII hyphen-minus or Unicode minus (−3)
    if g["x"] is not None:
        return [(match.group(0), sign * _decimal(g["x"]))]
    if g["m"] is not None:  # 1.5\times 10^{3}
        return [(match.group(0), sign * _decimal(g["m"]) * 10.0 ** int(g["e"] or g["e1"]))]
    whole = g["whole"] or g["swhole"]
    numerator = _decimal(next(v for v in (g["wn"], g["wn1"], g["sn"], g["fn"], g["fn1"], g["n"]) if v))
    denominator = _decimal(next(v for v in (g["wd"], g["wd1"], g["sd"], g["fd"], g["fd1"], g["d"]) if v))
    if whole is not None and not 0 <= numerator < denominator:  # 2 3/2: a number, then a fraction
        rest = match.group(0)[match.group(0).index(whole) + len(whole):].strip()
        return [(whole, sign * _decimal(whole)), (rest, numerator / denominator if denominator else None)]
    value = numerator / denominator if denominator else None
    if value is not None and whole is not None:
        value += _decimal(whole)
    return [(match.group(0), None if value is None else sign * value)]


def one_number(text: str) -> float | None:
    """The value of ``text`` where it states one number (:func:`number_values`; words and units around it are
    fine: ``x = 1/2``, ``12 dollars``, ``7 m^2``, ``45^\\circ``), else None: no number, two or more (``(1, 2)``,
    ``2, 3``), a fraction over 0, or an expression (:func:`stated_number`'s: ``2^{10}``, ``\\sqrt{2}``, ``3\\pi``,
    ``2 \\times 3``, ``3x``, ``3!``)."""
    matches = _read_matches(text)
    if len(matches) != 1 or len(_match_values(matches[0])) != 1 or _in_expression(text, matches[0]):
        return None
    return _match_values(matches[0])[0][1]


def last_value(text: str) -> float | None:
    """The value of the last number written in ``text`` (:func:`number_values`: a fraction or mixed number is
    one value, ``The answer is 7/2`` is 3.5), or None."""
    values = number_values(text)
    return values[-1][1] if values else None


class Reading(NamedTuple):
    """A number as the ``numeric`` reward reads it: its ``value`` and whether it was written as a ``percent``age
    (``50%``, ``50\\%``, ``50 percent``: ``value`` is then 50)."""

    value: float
    percent: bool = False

    def matches(self, answer: Reading, tolerance: float, relative: float) -> bool:
        """Whether this reading (a completion's) is within ``tolerance + relative·|y|`` of ``answer``'s value ``y``.
        A percentage on one side only is its number or its fraction (``50%`` is 50 or 0.5, as math-verify reads
        it), so ``0.5`` and ``50`` both match an answer ``50%``, and ``50%`` matches answers ``0.5`` and ``50``;
        percentages on both sides compare as written (``0.5%`` is not ``50%``). One difference from ``math``: a
        completion's ``0.5%`` scores 1 against the answer ``0.5`` here (its number), 0 under ``math``; the rule is
        the same both ways round, so ``50%`` against ``50`` scores 1 under both."""
        pairs = [(self.value, answer.value)]
        if answer.percent and not self.percent:
            pairs.append((self.value, answer.value / 100))
        elif self.percent and not answer.percent:
            pairs.append((self.value / 100, answer.value))
        return any(abs(x - y) <= tolerance + relative * abs(y) for x, y in pairs)


_PERCENT = re.compile(r"\s*(?:\\?%|percent\b|per cent\b)", re.I)
# A degree or a minute sign written as a power (45^\circ, 30^{\circ}, 5^\prime, 5^{'}) is a unit, as is °.
_DEGREE = r"\^\s*\{?\s*(?:\\circ|\\prime|')"
_OPERATOR = r"(?:[-+*/×·÷]|\\times|\\cdot|\\div|\\pm|\\mp)"
_FUNCTION = (r"(?:\\?(?<![A-Za-z])(?:log|ln|lg|exp|sin|cos|tan|sec|csc|cot|arcsin|arccos|arctan|sinh|cosh|tanh|gcd|lcm"
             r"|max|min|det)|\\binom|\\choose)")
# Around a number, what makes it part of an expression rather than the number stated. Before it: a root over it, a
# power it is the exponent of (its base a number: 2^{10}), a quotient it divides that is not a number (x/2,
# \frac{\sqrt{2}}{2}), an operator it is an operand of (x+2, 2 \times 3), a function it is the argument of (\log 2),
# a time's colon (3:45). After it: a power it is the base of (not a degree), an operator, a factorial (3!), a
# constant or a root it multiplies (3\pi, 2\sqrt{2}), a variable it multiplies (2x, 3x^2; a unit is fine: 7 m,
# 5 cm, $5/kg).
# An operator joins the number to an operand (a number, one letter, a bracket): a list's bullet (- 42, * 42) or a
# dash in prose (42 - that's it) does not.
_OPERAND_BEFORE = r"(?:(?<![A-Za-z])[A-Za-z]|[\d)}\]!.])[ \t]*"
_OPERAND_AFTER = r"(?=[ \t]*(?:[\d(\\.{√π]|[A-Za-z](?![A-Za-z])))"
_EXPRESSION_BEFORE = re.compile(r"(?:\\sqrt\s*(?:\[[^\]]*\]\s*)?\{?|√|\^\s*\{?|/|\}\s*\{|" + _OPERAND_BEFORE + _OPERATOR
                                + r"|" + _FUNCTION + r"\s*[({]?|\d:)\s*$")
_EXPRESSION_AFTER = re.compile(r"[ \t]*(?:\^(?!\s*\{?\s*(?:\\circ|\\prime|'))|(?!/\s*[A-Za-z]{2,})" + _OPERATOR
                               + _OPERAND_AFTER + r"|\\pi(?![A-Za-z])|π|\\sqrt|√|(?P<variable>[A-Za-z])(?![A-Za-z]))")
_UNIT_LETTERS = set("mgshlLKVWAJNCFTd")  # one letter after a number that is a unit (7 m, 5 g, 3 h), not a variable
_FACTORIAL = re.compile(r"\s*!(?!=)")
_PROSE_WORD = re.compile(r"(?<![\\A-Za-z])[A-Za-z]{3,}")
# An exponent of a letter or of a LaTeX group (m^2, x^{2}, \text{ cm}^2, \mathrm{~m}^{2}): a unit's or a symbol's.
_LETTER_POWER = re.compile(r"(?:[A-Za-z]|\})\s*\^\s*\{?\s*$")


def _in_expression(text: str, match: re.Match) -> bool:
    """Whether the number ``match`` of ``text`` stands inside an expression (:data:`_EXPRESSION_BEFORE`,
    :data:`_EXPRESSION_AFTER`): the one notion of an expression for answers and completions alike."""
    before, after = text[:match.start()], text[match.end():]
    if _EXPRESSION_BEFORE.search(before):
        return True
    found = _EXPRESSION_AFTER.match(after)
    if found is not None:
        letter = found.group("variable")
        return letter is None or (letter not in _UNIT_LETTERS and not after[:1].isspace())
    # a factorial (3!), not the exclamation mark that ends a sentence of prose (The answer is 42!)
    return bool(_FACTORIAL.match(after)) and not _PROSE_WORD.search(before)


# A percentage of confidence (I'm 100% sure, 99 percent certain, with 100% confidence): a remark on the answer
# written before it, not the answer; the only number of a text (The event is 100% certain) is read.
CONFIDENCE = re.compile(r"(?<![\w.])\d+(?:\.\d+)?\s*(?:\\?%|percent\b|per cent\b)\s*"
                        r"(?:sure|certain|confident|positive|certainty|confidence)\b", re.I)


def _read_matches(text: str) -> list[re.Match]:
    """The numbers of ``text`` that are read (:data:`_VALUE` matches), less the exponents of a letter or a group,
    which are a unit's or a symbol's (``7 m^2`` reads 7, ``x^2`` none), and less a percentage of confidence
    (:data:`CONFIDENCE`: ``The answer is 50. I'm 100% sure`` reads 50, as math-verify does) when a number is
    written before it (``The event is 100% certain`` alone reads 100%)."""
    read = [m for m in _VALUE.finditer(text) if not _LETTER_POWER.search(text[:m.start()])]
    if not read:
        return read
    first = read[0].start()  # a remark after a number; alone it states the answer (The event is 100% certain)
    remarks = [(m.start(), m.end()) for m in CONFIDENCE.finditer(text) if m.start() > first]
    return [m for m in read if not any(start <= m.start() < end for start, end in remarks)]


def written_numbers(text: str) -> list[tuple[int, int, float | None, bool]]:
    """The numbers of ``text`` that are read (:func:`_read_matches`: a letter's exponent and a percentage of confidence
    passed over), in order, as ``(start, end, value, percent)``: where each is written, its value (a fraction or mixed
    number one value, None for a fraction over 0) and whether it is a percentage. The ``math`` reward asks where the
    number math-verify read stands among them (:func:`~treecredit.rewards.answers.reads_a_scribble`)."""
    return [(match.start(), match.end(), value, bool(_PERCENT.match(text, match.end())))
            for match in _read_matches(text) for _, value in _match_values(match)]


def stated_number(text: str) -> Reading | None:
    """The last number written in ``text`` (a completion's final answer; :func:`number_values`: a fraction or mixed
    number is one value), with whether it is a percentage; None when there is none, when it is a fraction over 0,
    or when it stands in an expression: under a root (``\\sqrt{2}``, ``√2``), in a power (``2^{10}``, ``10^3``;
    scientific notation, ``1.5\\times 10^{3}``, is one number: 1500), before a constant or a root (``3\\pi``,
    ``2\\sqrt{2}``), dividing something that is not a number (``x/2``), joined to an operator (``2 \\times 3``,
    ``4*5``, ``x+2``), a variable (``2x``, ``3x^2``), a function (``\\log 2``) or a factorial (``3!``). A letter's
    exponent is passed over: ``7 m^2`` and ``24 \\text{ cm}^2`` state 7 and 24, ``x^2`` states none; a degree is a
    unit: ``45^\\circ`` states 45. A percentage of confidence is passed over (:data:`CONFIDENCE`): ``The answer is
    50. I'm 100% sure`` states 50."""
    matches = _read_matches(text)
    if not matches:
        return None
    match = matches[-1]
    value = _match_values(match)[-1][1]
    if value is None or _in_expression(text, match):
        return None
    return Reading(value, bool(_PERCENT.match(text, match.end())))


def one_reading(text: str) -> Reading | None:
    """:func:`one_number` of ``text`` with whether that number is a percentage (``50%`` is 50, a percentage), or
    None."""
    value = one_number(text)
    if value is None:
        return None
    return Reading(value, bool(_PERCENT.match(text, _read_matches(text)[-1].end())))
