"""Built-in verifiers with TRL's calling convention: ``fn(prompts, completions, **columns) -> list``.

Each reads the dataset's answer from the ``answer`` column (the dataset task always passes the
configured answer column under that name too) and returns one float per completion, or None where it
cannot judge (no answer column value).

- ``math``: symbolic equivalence by the ``math-verify`` library (LaTeX, fractions, ``\\boxed{}``,
  ``####``) of the answer the completion ends on
  (:func:`~treecredit.rewards.answers.final_math_answer`): 1.0 or 0.0. Where the answer is a plain number,
  the completion's final answer must be a number as written (``literal``,
  :func:`~treecredit.rewards.answers.is_number_literal`): math-verify alone finds ``1+8`` equal to ``9``, so
  restating an arithmetic question would score as solving it.
- ``exact``: the final answer (:func:`~treecredit.rewards.answers.final_answer`) equals the answer
  text after removing Markdown emphasis (``**Paris**``, as ``math`` does) and collapsing whitespace
  (``ignore_case`` optional).
- ``numeric`` (:mod:`~treecredit.rewards.numeric`): the last number of the final answer is within ``tolerance``
  (absolute) or ``relative`` × |answer| of the answer's number, a fraction or mixed number read as its value on both
  sides (``0.5`` is ``1/2``), a percentage as its number or its fraction (``50%`` is 50 or 0.5); a number inside an
  expression (``\\sqrt{2}``) is none; a row whose answer states more than one number or an expression is not judged.
- ``code``: runs the completion's program with the ``test`` column in the sandbox
  (:mod:`treecredit.sandbox`); 1.0 iff the tests' ``check(entry_point)`` returned (judged by a per-run token
  the program cannot reach, :mod:`treecredit.sandbox_check`; exiting early, patching builtins or returning
  non-plain data does not pass; ``code:plain_results=false`` allows non-plain return values).
"""

from __future__ import annotations

import functools
import re

from treecredit.rewards.answers import (
    as_text,
    ends_open,
    final_answer,
    final_math_answer,
    is_number_literal,
    is_plain_number,
    plain_math_text,
    reads_a_scribble,
    without_emphasis,
)
from treecredit.rewards.math_text import UNIT_LETTERS, prose_math, without_end_tokens, without_thousands_commas


def _column(kwargs: dict, name: str, n: int) -> list:
    values = kwargs.get(name)
    return list(values) if values is not None else [None] * n


def math_reward(prompts, completions, answer=None, literal: bool = True, timeout: int = 5,
                **_) -> list[float | None]:
    """1.0 where math-verify finds the completion's final answer equal to ``answer``, else 0.0 (None where
    the row has no answer, or where math-verify's time limit ran out: see ``timeout``).

    The final answer (:func:`~treecredit.rewards.answers.final_math_answer`): Markdown emphasis is dropped (``**9**`` is
    ``9``); then within the ``<answer>…</answer>`` block when one answers (the R1/TRL format; not a block inside prose
    or before a box, :func:`~treecredit.rewards.answers.answer_block`), the last ``\\boxed{}``, else what follows the
    last ``####``, else the last sentence or line that states a value (a digit or a LaTeX command; an equation of
    numbers that ends a sentence of prose is that equation, ``The answer is 1+8=9`` → ``1+8=9``): ``The answer is 9. But
    wait, 10.`` answers 10, ``The answer is 9.\\nI hope it is correct.`` answers 9. Within that statement math-verify
    picks the value (``the answer is X`` first, else the last one). So a number stated after the answer (``The answer is
    9. That took 3 steps.``) is read as the answer: a prompt that asks for ``\\boxed{}`` or ``####`` avoids that.

    How the answer is typed does not matter: the period that ends its sentence (``The answer is 1/2.``, which
    math-verify would read as ``1/2.0``), a closing remark in brackets that holds a word (``12 (3 boxes of 4)``),
    the escaped dollar (``\\$12``, ``\\boxed{\\$12}``), inline code (`` `9` ``) and the Unicode minus are dropped
    (:func:`~treecredit.rewards.answers.plain_math_text`, :func:`~treecredit.rewards.answers.without_closing`), and so
    are a chat model's end tokens after it (``9<|im_end|>``, ``</s>``) and a label glued to it (``Answer:9``); math
    that ends a sentence of prose is read as math (``The answer is \\sqrt{2}``, ``So we get x = a + 1``), and
    thousands separators in an equation as such (``x = 1,200``) where the answer is a number
    (:mod:`~treecredit.rewards.math_text`);
    prose (``It's 9``, ``That's 9``, ``No: 10``, ``So I got 9.``) is read by math-verify's own anchors, and a unit
    after the value (``12 dollars``, ``7 km/h``, ``7 m^2``) is dropped by math-verify's unit normalisation. A unit
    of one or two letters counts only where math-verify knows it (``km``, ``h``, ``m``): ``7 x`` stays ``7x``, and
    ``7 mL`` is not read as 7 (a known limitation; ``7 millilitres`` is); where ``answer`` is a number, one capital
    letter that names a unit counts too (``11 W``, ``7 N``:
    :data:`~treecredit.rewards.math_text.UNIT_LETTERS`).

    ``literal`` (default True; ``--reward math:literal=false`` turns it off): where ``answer`` is a plain
    number (``9``, ``-0.5``, ``\\frac{1}{2}``), the completion's final answer must be a number literal too
    (:func:`~treecredit.rewards.answers.is_number_literal`: ``9``, ``9.0``, ``\\boxed{9}``, ``x = 9``,
    ``1+8=9``, ``0.5``, ``\\frac{1}{2}``, ``50\\%``), not an expression that math-verify would evaluate to
    it (``1+8``, ``3^2``, ``x = 1+8``, ``\\frac{18}{2}``): a restated question is not an answer; nor is text
    that stops mid-expression (``8*``, ``8 -``, ``3=3=3=``, ``8)``, ``11>``:
    :func:`~treecredit.rewards.answers.ends_open`), nor a scribble of which math-verify read the first number
    (``11>;15``, ``x=11>;15``, ``11=;15``, ``6)6``, ``2[`` read 11, 6 or 2 where the statement ends on 15, 6 or an
    open bracket, as the ``numeric`` reward reads it:
    :func:`~treecredit.rewards.answers.reads_a_scribble`; a trial's run credited ``011>;15`` for ``6+5=`` until
    2026-12-03; ``11>;a15`` too until fixC). ``literal=false`` lets an expression equal to the answer count (and
    text that stops mid-expression, as math-verify reads it), not a scribble: that is no expression but what
    math-verify dropped after the number it read, so the scribble rule holds either way. ``11:15`` is a time or a
    ratio (math-verify reads 11/15), not 11: it scores 0.0 against 11, either way.

    ``timeout`` (seconds, default 5, math-verify's own; rounded up to whole seconds; ``--reward math:timeout=N``):
    math-verify's wall-clock limit for each parse and each comparison. Where it runs out, the completion gets
    None (no reward: it is left out of training, not scored as wrong), and a ``UserWarning`` says how many ran
    out, on which answer, and how to raise the limit (:mod:`~treecredit.rewards.math_verify_calls`; until
    2026-12-03 such a completion scored 0.0, as a wrong answer, and only math-verify's own log said
    ``Timeout during comparison``). ``FixError`` naming ``timeout`` where it is not a number in (0, 86400] (numpy's
    numbers are numbers), ``literal`` where it is not a bool, ``completions`` where one is neither text nor a list
    of messages.
    """
    from treecredit._validation import FixError, Remedy
    from treecredit.rewards.code_args import completion_list
    from treecredit.rewards.math_verify_calls import MathVerifyTimeout, parse_within, verify_within, whole_seconds

    completions = completion_list(completions)  # (None, 3 or a bare message dict scored 0.0 silently)
    seconds = whole_seconds(timeout)
    if not isinstance(literal, bool):  # (the string "false" was read as True)
        raise FixError("literal", f"is {literal!r}, must be True or False",
                       (Remedy("literal=False", "--reward math:literal=false"), Remedy("literal=True")))
    answers = _column({"answer": answer}, "answer", len(completions))
    out: list[float | None] = []
    golds: dict[str, list] = {}  # the completions of a group share their answer: each parsed once a call
    timed_out: list[tuple[str, str]] = []  # (what ran out, the completion's final answer)
    for completion, gold in zip(completions, answers):
        if gold is None:
            out.append(None)
            continue
        pred_text = final_math_answer(as_text(completion))
        try:
            if str(gold) not in golds:
                golds[str(gold)] = parse_within(_as_math(final_answer(plain_math_text(str(gold)))), seconds)
            gold_parsed = golds[str(gold)]
            pred_parsed = parse_within(_as_math(pred_text, number_answer=is_plain_number(gold_parsed)), seconds)
            if pred_parsed and is_plain_number(gold_parsed) and (
                    literal and (not is_number_literal(pred_parsed) or ends_open(pred_text))
                    or reads_a_scribble(pred_parsed, pred_text, ratios=_RATIO.search(str(gold)) is not None)):
                # (a scribble is no expression: either way; a ratio reference, 2:1, allows a ratio answer)
                out.append(0.0)
                continue
            out.append(1.0 if gold_parsed and pred_parsed and verify_within(gold_parsed, pred_parsed, seconds)
                       else 0.0)
        except MathVerifyTimeout as error:
            out.append(None)
            timed_out.append((error.what, pred_text))
    if timed_out:
        _warn_timeouts(timed_out, len(completions), seconds)
    return out


def _warn_timeouts(timed_out: list[tuple[str, str]], n: int, seconds: int) -> None:
    """Say that math-verify's limit ran out on ``timed_out`` (what, final answer) of ``n`` completions."""
    import warnings

    what, text = timed_out[0]
    warnings.warn(f"reward math: math-verify's time limit ({seconds} s for each parse and comparison) ran out on "
                  f"{len(timed_out)} of the {n} completions (the first during {what}, final answer {text[:80]!r}): "
                  "they get no reward (None, left out of training), not 0.0; on a busy machine raise the limit "
                  f"with --reward math:timeout={4 * seconds} (math_reward(..., timeout={4 * seconds}))",
                  UserWarning, stacklevel=2)


# Prose, which math-verify reads by its own anchors ("the answer is"): two words in a row (not LaTeX commands), a
# contraction (It's, That's), or a leading word before a colon, a comma or a number (No: 10, So 10); not the
# products of symbols of algebra (xy, 2ab).
_PROSE = re.compile(r"(?<![\\A-Za-z])(?:[A-Za-z]{2,}[ ,;:]+[A-Za-z]{2,}|[A-Za-z]{2,}['\u2019][a-z]+\b)"
                    r"|^[A-Za-z]{2,}(?:[:,]|\s+(?=[-+]?\d))"
                    # the one-letter words I and a next to a word (So I got 42, In a week I earn 18, I'd say 7:
                    # trial40 1, each read as a product of symbols and scored 0)
                    # (not where an equation follows: Thus a = 2b, So I get y = 2x + 1 are math: trial41 R1)
                    r"|(?<![\\A-Za-z])(?=[^=]*$)"
                    r"(?:(?:I|a|A) +[A-Za-z]{2,}|[A-Za-z]{2,} +(?:I|a)|I['\u2019][a-z]+)(?![A-Za-z])")
# A unit after the value that ends bare math: 12 dollars, 7 km/h, 7 m^2.
_RATIO = re.compile(r"\d\s*:\s*\d")  # (a reference written as a ratio or a time: 2:1, 3 : 4)
_UNIT_END = re.compile(r"(?<=[\d}])\s+([A-Za-z]+(?:\s*/\s*[A-Za-z]+)*(?:\^\{?\d\}?)?)$")


@functools.lru_cache(maxsize=256)
def _is_unit(word: str) -> bool:
    """A word of three letters or more (``dollars``, ``apples``), or a shorter one that math-verify's own unit
    normalisation drops after a number (``km``, ``h``, ``m``; not ``x``, ``pi``, ``xy``)."""
    from math_verify import parse
    if len(word) >= 3:
        return True
    return [str(v) for v in parse(f"$1 {word}$") if not isinstance(v, str)] == ["1"]


def _as_math(text: str, number_answer: bool = False) -> str:
    """Wrap bare math in ``$…$`` so that math-verify reads LaTeX such as ``\\frac{1}{2}`` as math; prose (two
    words in a row, a contraction such as ``It's``, a leading word as in ``No: 10``) is left as it is: inside
    ``$…$`` its words would be read as symbols (``It is 10!`` as a product with ``10!``), except the math that ends
    it where math-verify reads none outside ``$…$`` (``The answer is \\sqrt{2}``, ``So we get x = a + 1``, ``The
    answer is (11)``: :func:`~treecredit.rewards.math_text.prose_math`). A unit that ends bare math (``12 dollars``,
    ``7 km/h``, ``7 m^2``; where ``number_answer``, the reference being a number, also one capital letter of
    :data:`~treecredit.rewards.math_text.UNIT_LETTERS`, ``11 W``) is marked ``\\text{…}``, which math-verify's unit
    normalisation drops; a letter that is not a unit stays a symbol (``7 x^2``). Where ``number_answer``, thousands
    separators after ``=`` are dropped (``x = 1,200``: :func:`~treecredit.rewards.math_text.without_thousands_commas`;
    against a set such as ``\\{1, 200\\}`` they stay the set math-verify reads)."""
    text = without_thousands_commas(text) if number_answer else text
    if "$" in text or "\\boxed" in text:
        return text
    if _PROSE.search(text):
        return prose_math(text) or text
    unit = _UNIT_END.search(text)
    if unit and all(_is_unit(w) or number_answer and w in UNIT_LETTERS
                    for w in re.findall(r"[A-Za-z]+", unit.group(1))):
        return f"${text[:unit.start()]} \\text{{{unit.group(1)}}}$"
    return f"${text}$"


def exact_reward(prompts, completions, answer=None, ignore_case: bool = False, **_) -> list[float | None]:
    """1.0 where the final answer (:func:`~treecredit.rewards.answers.final_answer`: the ``<answer>…</answer>``
    block that answers, else the last box, else after ``####``, else the text) equals ``answer`` (Markdown
    emphasis removed as the ``math`` reward removes it,
    :func:`~treecredit.rewards.answers.without_emphasis`: ``**Paris**`` is ``Paris``; whitespace collapsed; a chat
    model's end tokens at the end dropped, ``Paris<|im_end|>``:
    :func:`~treecredit.rewards.math_text.without_end_tokens`), else 0.0."""
    def norm(text: str) -> str:
        text = " ".join(final_answer(without_emphasis(without_end_tokens(text))).split())
        return text.lower() if ignore_case else text

    answers = _column({"answer": answer}, "answer", len(completions))
    return [None if gold is None else float(norm(as_text(c)) == norm(str(gold)))
            for c, gold in zip(completions, answers)]


from treecredit.rewards.code import code_reward  # noqa: E402 (after the answer helpers it does not need)
from treecredit.rewards.numeric import numeric_reward  # noqa: E402

BUILTIN_REWARDS = {"math": math_reward, "exact": exact_reward, "numeric": numeric_reward, "code": code_reward}
