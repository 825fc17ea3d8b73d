"""Final answers out of free text: ``<answer>…</answer>`` (R1/TRL; where no number, box or ``####`` follows it, or a
final ``<answer>`` never closed, :func:`answer_block`), ``\\boxed{…}`` (last one, braces
balanced) and GSM8K's ``#### …`` (the numbers written in a text, the ``numeric`` reward's reading: :mod:`.numbers`).

Used by the built-in verifiers on both the completion and the dataset's answer column, so an answer
column may hold ``"288"``, ``"#### 288"`` or a full worked solution ending in ``#### 288``. Also: whether
math-verify's reading of an answer is a plain number, and whether it was written as one
(:func:`is_number_literal`, :func:`ends_open`: the ``math`` reward's ``literal`` rule). Without a box or ``####``,
the ``math`` reward reads the statement a text ends on (:func:`final_math_answer`, :func:`final_statement`).
"""

from __future__ import annotations

import math
import re

from treecredit.rewards.math_text import with_label_space, without_end_tokens
from treecredit.rewards.numbers import (  # noqa: F401 (last_value, number_values, one_number: their home before)
    CONFIDENCE,
    last_value,
    number_values,
    one_number,
    written_numbers,
)
from treecredit.rewards.scribbles import reads_a_scribble  # noqa: F401 (its home before)

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


_ANSWER_TAG = re.compile(r"<answer>(.*?)</answer>", re.S | re.I)


def tagged_answer(text: str) -> str | None:
    """Content of the last closed ``<answer>…</answer>`` block of ``text`` (the R1/TRL format, as
    ``<think>…</think><answer>9</answer>``), stripped; None when there is none (an unclosed tag is none)."""
    found = _ANSWER_TAG.findall(text)
    return found[-1].strip() if found else None


def _opening_tags_end(text: str) -> int:
    """Where the run of tag blocks that opens ``text`` ends (``<think>…</think>``, ``<reasoning>…</reasoning>``,
    whitespace between them): 0 when ``text`` opens with anything else."""
    end = i = len(text) - len(text.lstrip())
    while (opening := re.match(r"<([A-Za-z][\w-]*)>", text[i:])) is not None:
        close = text.find(f"</{opening.group(1)}>", i)
        if close < 0:
            break
        i = close + len(opening.group(1)) + 3
        end = i
        i += len(text[i:]) - len(text[i:].lstrip())
    return end


_OPEN_ANSWER = re.compile(r"<answer>", re.I)
_CLOSE_ANSWER = re.compile(r"</answer>", re.I)


def unclosed_answer(text: str) -> str | None:
    """What follows a final ``<answer>`` that was never closed (the last ``<answer>`` with no ``</answer>`` after
    it), up to the end of ``text``, stripped; None when there is none. Generation stopped at the stop string
    ``</answer>`` (which vLLM and TRL leave out of the completion by default) or cut by the token limit ends so:
    ``<think>…</think><answer>9`` answers 9."""
    opened = [m.end() for m in _OPEN_ANSWER.finditer(text)]
    if not opened or _CLOSE_ANSWER.search(text, opened[-1]):
        return None
    return text[opened[-1]:].strip()


def answer_block(text: str) -> str | None:
    """Content of the ``<answer>…</answer>`` block that is ``text``'s answer (R1/TRL's format,
    ``<think>…</think><answer>9</answer>``), stripped, or None. That is the last closed block (:func:`tagged_answer`)
    when no ``\\boxed{}`` or ``####`` with something in it follows its ``</answer>``, and either what follows holds no
    number (nothing, punctuation or prose: ``<answer>-51</answer>\nHope this helps!``) or the block opens the text
    (only whitespace and tag blocks such as ``<think>…</think>`` before it: an R1-format completion commits to its
    block, so ``<answer>9</answer> in 3 steps`` and ``<answer>9</answer> Wait, the answer is 8.`` read 9). A block
    inside prose that a later number overrides is not the answer: ``Example: <answer>7</answer>. Now, the answer is
    8.`` (the text's last statement is then read, as without tags); nor is one that a later box corrects
    (``<answer>9</answer> No: \\boxed{8}``). A final ``<answer>`` never closed (:func:`unclosed_answer`) is the
    block up to the end of the text: nothing follows it (``<think>…</think><answer>9`` answers 9; a box inside it is
    its answer, as in a closed block)."""
    unclosed = unclosed_answer(text)
    if unclosed is not None:
        return unclosed
    blocks = list(_ANSWER_TAG.finditer(text))
    if not blocks:
        return None
    block, after = blocks[-1], text[blocks[-1].end():]
    if _box_or_hashes(after):
        return None
    if not _DIGIT.search(after) or block.start() <= _opening_tags_end(text):
        return block.group(1).strip()
    return None


_DIGIT = re.compile(r"\d")


def _box_or_hashes(text: str) -> str | None:
    """The last ``\\boxed{}``'s content, else what follows the last ``####`` (first line, '' when nothing
    does), else None."""
    boxed = last_boxed(text)
    if boxed is not None:
        return boxed
    if "####" in text:
        tail = text.rsplit("####", 1)[1].strip()
        return tail.splitlines()[0].strip() if tail else ""
    return None


def marked_answer(text: str) -> str | None:
    """The answer ``text`` marks as its answer: within its ``<answer>…</answer>`` block when it has one that
    answers (:func:`answer_block`; the block's last ``\\boxed{}`` or ``####`` if it holds one, else all of it),
    else the last ``\\boxed{}``, else what follows the last ``####`` (first line, '' when nothing does); None
    when it marks none. A block with nothing after its ``####`` (or an empty box) is all of it."""
    block = answer_block(text)
    if block is not None:
        inner = _box_or_hashes(block)
        return inner or block  # a block of a #### grid, with nothing after its last ####, is all of it
    return _box_or_hashes(text)


def final_answer(text: str) -> str:
    """The answer ``text`` commits to: the last ``\\boxed{}``, else what follows the last ``####`` (first
    line), else the stripped text itself (:func:`marked_answer`)."""
    marked = marked_answer(text)
    return text.strip() if marked is None else marked


# Markdown emphasis: the marker opens after a line start, space or punctuation and closes before an end, space
# or punctuation, with no space inside either marker (so `2*3*4`, `3**2` and `2 * 3 * 4` stay arithmetic).
_EMPHASIS = re.compile(r"(?<![\w)\]}*])(\*\*|__|\*)(?=[^\s*_])(.+?)(?<=[^\s*_])\1(?![\w({\[*])")


def without_emphasis(text: str) -> str:
    """``text`` with Markdown emphasis around words or values removed: ``**9**``, ``__9__``, ``*9*`` → ``9``
    (``The answer is **9**.`` → ``The answer is 9.``). Products (``2*3*4``, ``2 * 3 * 4``) and powers
    (``3**2``) are left as they are."""
    return _EMPHASIS.sub(r"\2", text)


# Math that a statement break must not cut: $$…$$, \[…\], \(…\), $…$.
_MATH_SPAN = re.compile(r"\$\$.*?\$\$|\\\[.*?\\\]|\\\(.*?\\\)|(?<!\\)\$(?:\\\$|[^$])*?\$", re.S)
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n")
_LIST_MARKER = re.compile(r"^[ \t]*(?:\d+|[a-zA-Z])[.)][ \t]+(?=\S)", re.M)
_STATES_VALUE = re.compile(r"\d|\\[a-zA-Z]")


def statements(text: str) -> list[str]:
    """``text`` cut into lines, and each line into sentences (after ``.``, ``!`` or ``?`` and a space), never
    inside a math environment (``$…$``, ``$$…$$``, ``\\[…\\]``, ``\\(…\\)``); a line's list marker (``2. ``,
    ``b) ``) is dropped, so that it is not read as a statement of its own."""
    text = _LIST_MARKER.sub("", text)
    protected = [(m.start(), m.end()) for m in _MATH_SPAN.finditer(text)]
    out, begin = [], 0
    cuts = [m for m in _SENTENCE_END.finditer(text) if not any(s < m.start() < e for s, e in protected)]
    for cut in [*cuts, None]:
        piece = text[begin:] if cut is None else text[begin:cut.start() if cut.group(0) == "\n" else cut.end()]
        if piece.strip():
            out.append(piece.strip())
        if cut is not None:
            begin = cut.end()
    return out


def final_statement(text: str) -> str:
    """The statement that ``text`` ends on: its last sentence or line (:func:`statements`) that states a value
    (holds a digit or a LaTeX command such as ``\\frac``), else the stripped text. A later statement overrides an
    earlier one: ``The answer is 9. But wait, 10.`` → ``But wait, 10.``; ``The answer is 9.\\nI hope it is
    correct.`` → ``The answer is 9.``. A number stated after the answer (``The answer is 9. That took 3
    steps.``) is therefore read as the answer; ``\\boxed{}`` or ``####`` say which one is meant. A percentage of
    confidence states no value (:data:`~treecredit.rewards.numbers.CONFIDENCE`): ``The answer is 50. I'm 100%
    sure.`` → ``The answer is 50.``, as math-verify reads it."""
    for piece in reversed(statements(text)):
        if _STATES_VALUE.search(CONFIDENCE.sub("", piece)):
            return piece
    return text.strip()


_CODE_SPAN = re.compile(r"(?<!`)`([^`\n]+)`(?!`)")


def plain_math_text(text: str) -> str:
    """``text`` with the typography that hides a value undone: the Unicode minus ``−`` (U+2212) as ``-``, the
    escaped dollar ``\\$`` (a currency sign, which math-verify's own LaTeX normalisation drops too) removed, and
    Markdown inline code around a value unwrapped (``The answer is `9`.`` → ``The answer is 9.``)."""
    return _CODE_SPAN.sub(r"\1", text.replace("\u2212", "-").replace("\\$", ""))


# A closing remark in brackets that holds a word (not a LaTeX command): ``12 (3 boxes of 4)``, ``9 (see step 2)``.
_REMARK = re.compile(r"(?<=\S)\s+\((?=[^()]*(?<![\\A-Za-z])[A-Za-z]{3,})[^()]*\)$")


def without_closing(text: str) -> str:
    """A final answer without the period that ends its sentence (``1/2.`` → ``1/2``: math-verify would read
    ``2.`` as the float 2.0) and without a closing remark in brackets that holds a word (``The answer is 12 (3
    boxes of 4)`` → ``The answer is 12``). An ellipsis (``9...``) and ``!`` (a factorial) are kept."""
    text = re.sub(r"(?<!\.)\.$", "", text.strip()).rstrip()
    return _REMARK.sub("", text)


# An equation of numbers that ends a sentence of prose: ``The answer is 1+8=9`` (math-verify's anchor would read
# only the 1 after "is"); its right-hand side is a number.
_PROSE_EQUATION = re.compile(r"^.*[A-Za-z]{2,}[:,]?\s+(?P<equation>[-+]?[\d(][\d.,\s()+\-*/^×÷·]*=\s*[-+]?\d[\d,]*"
                             r"(?:\.\d+)?(?:\s*/\s*\d+)?)$", re.S)


def final_math_answer(text: str) -> str:
    """The answer that the ``math`` reward judges in ``text``: typography undone (:func:`plain_math_text`) and
    Markdown emphasis removed (:func:`without_emphasis`), then within the ``<answer>…</answer>`` block that
    answers if there is one (:func:`answer_block`: not one inside prose or before a box), the last
    ``\\boxed{}``, else what follows the last ``####``, else the statement the text (or the block) ends on
    (:func:`final_statement`); without its closing period or bracketed remark
    (:func:`without_closing`). An equation of numbers that ends a sentence of prose is that equation (``The
    answer is 1+8=9`` → ``1+8=9``, which counts by its right-hand side)."""
    text = without_emphasis(plain_math_text(without_end_tokens(text)))
    block = answer_block(text)
    if block is not None:
        text = block
    marked = marked_answer(text)
    answer = with_label_space(without_closing(final_statement(text) if marked is None else marked))
    equation = _PROSE_EQUATION.match(answer)
    return equation.group("equation").strip() if equation else answer


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
        if getattr(number, "is_Integer", False) and getattr(unit, "is_Pow", False) and unit.args[1] == -1 \
                and getattr(unit.args[0], "is_Integer", False):
            return True  # 1/2 as math-verify reads it in prose (unevaluated); lowest terms are checked on the text
        if getattr(number, "is_Number", False):
            ten = getattr(unit, "is_Pow", False) and unit.args[0] == 10 and getattr(unit.args[1], "is_Integer", False)
            return ten or str(unit) == "1/100"  # 1.5 × 10^3; 50 %
    return False


# An operator, ``=`` or a comparison sign (not the ``>`` that closes a tag such as ``</answer>`` or a special
# token's ``|>``) at the end, maybe before a comma, semicolon or colon: 8*, 8 -, 3=3=3=, 11>, 11>;.
_OPEN_END = re.compile(r"(?:[-+*/=^×÷·]|(?<![A-Za-z/\"'|])[<>]|\\cdot|\\times|\\div)\s*[,;:]*\s*$")


def ends_open(text: str) -> bool:
    """Whether ``text`` (a final answer) stops mid-expression: it ends, after a closing period, in an operator,
    ``=`` or a comparison sign, maybe before a comma, semicolon or colon (``8*``, ``8 -``, ``3=3=3=``, ``11>``,
    ``11>;``; not ``11</answer>`` or ``11<|im_end|>``), in a bracket that its last line never opened (``8)``;
    not ``1) so 8``), or in a bracket opened on nothing (``8 (``, ``8(``). Such text is not a final answer, even
    where math-verify reads a number out of it."""
    text = text.strip().removesuffix(".").rstrip()
    if _OPEN_END.search(text) or text.endswith(("(", "[", "{")):  # (2 (, 2[: a bracket opened on nothing)
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
