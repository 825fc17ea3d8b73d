"""How the ``numeric`` reward reads thousands separators, scientific notation, a mixed number joined by ``and``,
a percentage of confidence after the answer and a percentage in a box (a last session's notes: ``1{,}000`` and
``1 000`` read 0, ``1.5\\times 10^{3}`` read no number, ``The answer is 50. I'm 100% sure`` read 100%). Where a
case is ambiguous the reading is math-verify's."""

import pytest
from math_verify import parse, verify

from treecredit.rewards import math_reward, numeric_reward
from treecredit.rewards.numbers import number_values, stated_number
from treecredit.rewards.numeric import read_answer

SECONDS = 60  # math-verify's time limit for these tests (5 s by default; see test_math_literal.py)


@pytest.mark.parametrize("written", ["1{,}000", "\\boxed{1{,}000}", "1 000", "The answer is 1 000.", "1\\,000",
                                     "1\u2009000", "1\u00a0000", "$1\\,000$ dollars", "1{,}000.0"])
def test_latex_and_space_thousands_separators_make_one_number(written):
    assert numeric_reward(None, [written, written.replace("000", "001")], answer=["1000"] * 2) == [1.0, 0.0]


@pytest.mark.parametrize("text, values", [
    ("12 345 678", [12345678.0]), ("1 2", [1.0, 2.0]), ("1 0000", [1.0, 0.0]), ("1,0000", [1.0, 0.0]),
    ("1234 567", [1234.0, 567.0]), ("1, 234", [1.0, 234.0]), ("2 1/2", [2.5]), ("1{,}000{,}000", [1e6]),
    ("3{,}14", [3.0, 14.0]),  # a decimal comma is not a thousands separator: two numbers (refused as an answer)
])
def test_a_separator_joins_groups_of_exactly_three_digits(text, values):
    assert [value for _, value in number_values(text)] == values


def test_an_answer_with_separators_is_one_number():
    assert read_answer("1 000").value == 1000.0 and read_answer("1{,}000").value == 1000.0
    assert numeric_reward(None, ["1000", "1 000", "1"], answer=["1{,}000"] * 3) == [1.0, 1.0, 0.0]


@pytest.mark.parametrize("written", ["1.5\\times 10^{3}", "1.5 \\cdot 10^3", "1.5*10^3", "$1.5 \\times 10^3$",
                                     "\\boxed{15\\times10^{2}}", "The answer is 1.5 × 10^3.", "1.5e3"])
def test_scientific_notation_is_one_number(written):
    assert numeric_reward(None, [written], answer=["1500"]) == [1.0]
    assert numeric_reward(None, [written], answer=["3"]) == [0.0]  # not its exponent
    assert numeric_reward(None, [written], answer=["10"]) == [0.0]  # nor its base


def test_scientific_notation_in_answers_signs_and_expressions():
    assert read_answer("1.5\\times 10^{3}").value == 1500.0
    assert read_answer("-2 \\times 10^{-3}").value == pytest.approx(-0.002)
    assert numeric_reward(None, ["0.002", "-0.002"], answer=["-2 \\times 10^{-3}"] * 2) == [0.0, 1.0]
    assert stated_number("1 + 1.5\\times 10^{3}") is None  # an operand, as before
    assert stated_number("10^{3}") is None  # a power with no mantissa stays an expression


def test_and_between_a_number_and_a_fraction_is_two_numbers_as_math_verify_reads_it():
    """``3 and 1/2`` may be two answers (the roots 3 and 1/2): math-verify reads the set {3, 1/2}, so numeric refuses
    it as an answer and reads a completion's last number, 1/2."""
    assert {float(v) for v in parse("\\boxed{3 and 1/2}")[0]} == {3.0, 0.5}
    assert "holds 2 numbers (3, 1/2)" in str(read_answer("3 and 1/2"))
    assert numeric_reward(None, ["3 and 1/2", "3 1/2", "7/2"], answer=["3.5"] * 3) == [0.0, 1.0, 1.0]


@pytest.mark.parametrize("completion", ["The answer is 50. I'm 100% sure", "The answer is 50. I am 100 percent sure.",
                                        "50, with 100% confidence", "The answer is 50 (99.9% certain)."])
def test_a_percentage_of_confidence_is_no_answer(completion):
    """math-verify reads 50 where ``The answer is`` anchors it; numeric passes over the remark wherever it is, and
    math over a remark that is a sentence of its own (the statement it reads is then the one before)."""
    assert "answer is" not in completion or verify(parse("50"), parse(completion))
    assert numeric_reward(None, [completion, completion], answer=["50", "100"]) == [1.0, 0.0]
    if ". I" in completion:
        assert math_reward(None, [completion, completion], answer=["50", "100"], timeout=SECONDS) == [1.0, 0.0]


def test_a_percentage_that_is_the_answer_is_still_read():
    assert numeric_reward(None, ["The answer is 100%.", "I am sure: 100%"], answer=["100%"] * 2) == [1.0, 1.0]


def test_a_percentage_in_a_box_is_its_number_or_its_fraction_as_math_verify_reads_it():
    """``\\boxed{5000\\%}`` is 5000% = 50, so it scores 1 against the answer 50 (and against 5000, its number),
    0 against 0.5; math-verify agrees on each."""
    for answer, score in (("50", 1.0), ("5000", 1.0), ("0.5", 0.0)):
        assert numeric_reward(None, ["\\boxed{5000\\%}"], answer=[answer]) == [score]
        assert verify(parse(answer), parse("\\boxed{5000\\%}")) == bool(score)


@pytest.mark.parametrize("text, values", [
    ("2 4 8 16 32 64 128 256", [2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0]),
    ("1 8 27 64 125", [1.0, 8.0, 27.0, 64.0, 125.0]),
    ("1,000 000", [1000.0, 0.0]), ("1,234 567", [1234.0, 567.0]),  # one kind of separator within a number
    ("the answer is 1 000 000.", [1e6]), ("100 200", [100200.0]),
])
def test_a_list_of_numbers_separated_by_spaces_is_not_one_number(text, values):
    """A review found 2 4 8 … 64 128 256 read as 64128256 (the sequence's last term scored 0) and 1,000 000 as 1e6."""
    assert [value for _, value in number_values(text)] == values


def test_a_sequence_answer_ends_on_its_last_term():
    assert numeric_reward(None, ["The terms are 2 4 8 16 32 64 128 256"], answer=["256"]) == [1.0]


def test_a_confidence_percentage_alone_is_the_answer():
    """Only a remark after a number is passed over: 'The event is 100% certain' states 100% (= 1), as math reads it."""
    assert stated_number("So the event is 100% certain.").value == 100.0
    assert numeric_reward(None, ["So the event is 100% certain."], answer=["1"]) == [1.0]
    assert numeric_reward(None, ["The answer is 50. I'm 100% sure"], answer=["50"]) == [1.0]
