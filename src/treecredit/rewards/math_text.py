"""How the ``math`` reward writes a final answer for math-verify where math-verify's own reading would miss a right
answer (2026-12-04, fixG): a chat model's end token after the answer (:func:`without_end_tokens`), a label glued to
its value (``Answer:11``, :func:`with_label_space`), thousands separators in an equation (``x = 1,200``,
:func:`without_thousands_commas`), the math that ends a sentence of prose (``The answer is \\sqrt{2}``, ``So we get
x = a + 1``, ``The answer is (11)``: :func:`prose_math`), and a unit of one capital letter (``11 W``:
:data:`UNIT_LETTERS`)."""

from __future__ import annotations

import re

# A chat template's end of turn or of text, maybe several, after the answer: <|im_end|>, <|eot_id|>, <|endoftext|>,
# <|end|>, </s>, <eos>, <end_of_turn>, DeepSeek's <｜end▁of▁sentence｜> (fullwidth bars).
_END_TOKENS = re.compile(r"(?:\s*(?:<\|[A-Za-z0-9_]+\|>|<\uff5c[^\uff5c<>]+\uff5c>|</s>|<eos>|<end_of_turn>))+\s*$")


def without_end_tokens(text: str) -> str:
    """``text`` without the chat end tokens that end it (``11<|im_end|>`` → ``11``, ``The answer is 11.</s>`` → ``The
    answer is 11.``; ``<|im_end|><|endoftext|>`` both): a decoder that keeps special tokens leaves them there, and they
    are no part of the answer (until 2026-12-04 ``3/4<|im_end|>`` read as 3 and ``x = 2\\sqrt{3}<|im_end|>`` as
    nothing). Only at the end: a token inside the text stays."""
    return _END_TOKENS.sub("", text)


# A leading label glued to its value: Answer:11, Final answer:-4 (math-verify reads "Answer: 11", not "Answer:11").
_GLUED_LABEL = re.compile(r"^((?:[A-Za-z]{2,} )*[A-Za-z]{2,}):(?=[^\s:/])")


def with_label_space(text: str) -> str:
    """``text`` with a space after a leading label's colon glued to the value (``Answer:11`` → ``Answer: 11``, read as
    math-verify reads ``Answer: 11``; until 2026-12-04 math-verify found nothing in it)."""
    return _GLUED_LABEL.sub(r"\1: ", text)


# A number with thousands separators on an equation's right-hand side (x = 1,200; y = -1,234,567.5), which
# math-verify reads as the set {1, 200} there (a bare 1,200 it reads as 1200).
_THOUSANDS = re.compile(r"(?<==)(\s*[-+]?)(\d{1,3}(?:,\d{3})+)(?!,?\d)")


def without_thousands_commas(text: str) -> str:
    """``text`` with the thousands separators of a number right after ``=`` removed (``x = 1,200`` → ``x = 1200``):
    math-verify reads a bare ``1,200`` as 1200 but ``x = 1,200`` as ``x = {1, 200}`` (until 2026-12-04 ``So x =
    1,200.`` scored 0 against 1200). Groups of three digits only: ``x = 1, 200`` and ``x = 12,00`` stay."""
    return _THOUSANDS.sub(lambda m: m.group(1) + m.group(2).replace(",", ""), text)


# A word of prose (two letters or more, not a LaTeX command's name) and the math that follows the last one.
_PROSE_WORD = re.compile(r"(?<![\\A-Za-z])[A-Za-z]{2,}(?![A-Za-z])")
_LATEX_COMMAND = re.compile(r"\\[A-Za-z]+")
_BRACKETED_VALUE = re.compile(r"^\([^()]*[\d\\][^()]*\)$")  # (11), (-3), (1/2), (\sqrt{2})
_EQUATION = re.compile(r"^[A-Za-z](?:_\{?\w+\}?)?(?:\([^()]*\))?\s*=\s*[^=\s][^=]*$")  # x = a + 1, f(x) = x^2, k_1 = 3


def prose_math(text: str) -> str | None:
    """A sentence of prose that ends on math math-verify does not read outside ``$…$``, with that math wrapped in
    ``$…$`` (``The answer is \\sqrt{2}`` → ``The answer is $\\sqrt{2}$``), or None where it ends on none. The math
    is what follows the last word (after a space): a LaTeX command (``\\sqrt{2}``, ``\\frac{3}{4}``, ``2\\pi``), a
    value in brackets (``(11)``), or an equation of a symbol (``x = a + 1``, ``f(x) = x^2``; math-verify read ``1`` out
    of ``So we get x = a + 1``). Until 2026-12-04 each scored 0 where right. A text with math delimiters of its own
    (``\\(…\\)``, ``\\[…\\]``) is left to math-verify."""
    if "\\(" in text or "\\[" in text:
        return None
    words = list(_PROSE_WORD.finditer(text))
    if not words:
        return None
    tail = text[words[-1].end():]
    run = tail.lstrip(" :,")
    if not run or run == tail or not tail[:len(tail) - len(run)].endswith(" "):
        return None  # (no math after the last word, or math glued to it)
    if "<" in run or ">" in run:
        return None  # (a tag, 1/2.</b>, or an inequality: left to math-verify's reading)
    if not (_LATEX_COMMAND.search(run) or _BRACKETED_VALUE.match(run) or _EQUATION.match(run)):
        return None
    return f"{text[:len(text) - len(run)]}${run}$"


UNIT_LETTERS = frozenset("WJNVAKCFTL")
"""Units of one capital letter (SI's watt, joule, newton, volt, ampere, kelvin, coulomb, farad, tesla; the litre)
read as a unit after a number where the reference answer is a number (``11 W`` is 11; until 2026-12-04 the product
11·W, scored 0). A lower-case letter stays a symbol (``7 x`` is 7x), as do these letters where the answer is not a
number (``3 N`` against ``3N``)."""
