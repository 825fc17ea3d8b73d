"""The ``math`` reward reads a correct answer however a completion types it: the period that ends the sentence
(``1/2.``), a contraction (``It's 9``), a unit (``12 dollars``, ``7 km/h``), an escaped dollar (``\\$12``), inline
code (`` `9` ``), the Unicode minus and a closing remark in brackets; a wrong answer in the same shape still
scores 0 (a new-user trial)."""

import pytest

from treecredit.rewards import math_reward
from treecredit.rewards.answers import plain_math_text, without_closing

SECONDS = 60  # math-verify's time limit for these tests (5 s by default; see test_math_literal.py)

WRITTEN = [  # (answer, completion): each scored 0 before the fix
    ("1/2", "The answer is 1/2."), ("1/2", "The answer is 1/2"), ("3/4", "The answer is 3/4."), ("2/3", "x = 2/3."),
    ("9", "It's 9"), ("9", "That's 9"), ("12", "12 dollars"), ("7", "7 km/h"), ("7", "7 m^2"),
    ("12", "The answer is \\$12."), ("12", "\\boxed{\\$12}"), ("9", "The answer is `9`."),
    ("-3", "The answer is \u22123."), ("12", "The answer is 12 (3 boxes of 4)."), ("10", "No: 10"),
    ("9", "9 (see step 2)"), ("0.5", "\\frac{1}{2}."),
]
STILL_ONE = [  # scored 1 before too
    ("9", "It's 9."), ("9", "It is 9"), ("9", "It\u2019s 9"), ("12", "12 dollars."), ("12", "12 apples"),
]
WRONG = [  # (answer, completion): a wrong value in the same shape
    ("1/2", "The answer is 1/3."), ("3/4", "The answer is 3/5"), ("2/3", "x = 3/2."), ("9", "It's 8"),
    ("9", "That's 8"), ("12", "13 dollars"), ("8", "7 km/h"), ("8", "7 m^2"), ("12", "\\$13"),
    ("12", "\\boxed{\\$13}"), ("9", "The answer is `8`."), ("3", "The answer is \u22123."),
    ("12", "The answer is 13 (3 boxes of 4)."), ("7", "7 x"), ("3", "3 pi"),
]
NOT_LITERAL = [  # (answer, completion): the literal rule holds through the new readings
    ("9", "The answer is 18/2."), ("0.5", "The answer is 2/4."), ("9", "The answer is `1+8`."), ("12", "\\$12 +"),
    ("7", "7 x^2"), ("9", "It's 9 +"), ("9", "So 1+8"),
]


@pytest.mark.parametrize("answer, completion", WRITTEN + STILL_ONE)
def test_a_correct_answer_as_typed_scores_one(answer, completion):
    assert math_reward(["q"], [completion], answer=[answer], timeout=SECONDS) == [1.0]
    assert math_reward(["q"], [completion], answer=[answer], literal=False, timeout=SECONDS) == [1.0]


@pytest.mark.parametrize("answer, completion", WRONG)
def test_a_wrong_answer_in_the_same_shape_scores_zero(answer, completion):
    assert math_reward(["q"], [completion], answer=[answer], timeout=SECONDS) == [0.0]
    assert math_reward(["q"], [completion], answer=[answer], literal=False, timeout=SECONDS) == [0.0]


@pytest.mark.parametrize("answer, completion", NOT_LITERAL)
def test_an_expression_still_is_not_an_answer(answer, completion):
    assert math_reward(["q"], [completion], answer=[answer], timeout=SECONDS) == [0.0]


def test_the_answer_column_is_read_the_same_way():
    assert math_reward(["q"] * 2, ["-3", "3"], answer=["\u22123", "\\$3"], timeout=SECONDS) == [1.0, 1.0]


def test_plain_math_text_and_without_closing():
    assert plain_math_text("It costs \\$12, `x = 9`, \u22123") == "It costs 12, x = 9, -3"
    assert plain_math_text("```\n9\n```") == "```\n9\n```"  # a fenced block is not inline code
    assert without_closing("The answer is 1/2.") == "The answer is 1/2"
    assert without_closing("The answer is 12 (3 boxes of 4).") == "The answer is 12"
    for kept in ["9...", "10!", "f(x)", "2 (\\frac{1}{2})", "(9)", "x (a+b)"]:
        assert without_closing(kept) == kept


def test_a_short_unit_is_one_that_math_verify_drops():
    """Units of one or two letters are those of math-verify's unit normalisation (km, h, m), so a symbol stays a
    symbol (7 x); one it does not know (mL) is not read: the documented limit."""
    assert math_reward(["q"] * 3, ["7 km", "7 h", "7 mL"], answer=["7"] * 3, timeout=SECONDS) == [1.0, 1.0, 0.0]
