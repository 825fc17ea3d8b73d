"""The ``numeric`` reward reads a number inside an expression as no number (a new-user trial: a completion's
``\\sqrt{2}`` scored 1 against the answer 2, and ``2^{10}`` against 10), and a percentage as its number or its
fraction on one side, as ``math`` (math-verify) does (``0.5`` scored 0 against the answer ``50%``)."""

import pytest

from treecredit.rewards import math_reward, numeric_reward
from treecredit.rewards.numbers import Reading, stated_number

SECONDS = 60  # math-verify's time limit for these tests (5 s by default; see test_math_literal.py)


@pytest.mark.parametrize("completion, answer", [
    ("\\sqrt{2}", "2"), ("\\boxed{\\sqrt{2}}", "2"), ("√2", "2"), ("2\\sqrt{2}", "2"), ("\\sqrt[3]{8}", "8"),
    ("3\\pi", "3"), ("2π", "2"), ("2^{10}", "10"), ("2^{10}", "2"), ("10^{3}", "3"), ("x/2", "2"),
    ("\\frac{\\sqrt{2}}{2}", "2"), ("The answer is \\sqrt{4}.", "4"),
])
def test_a_number_inside_an_expression_is_no_number(completion, answer):
    assert numeric_reward(None, [completion], answer=[answer]) == [0.0]
    assert stated_number(completion) is None


@pytest.mark.parametrize("completion, answer", [  # twins: the number stated alone, or after the expression
    ("2", "2"), ("\\boxed{2}", "2"), ("\\sqrt{4} = 2", "2"), ("2^{10} = 1024", "1024"), ("7 m^2", "7"),
    ("x^2 = 9, so x = 3", "3"), ("1.41421356", "1.41421356"), ("The speed is 7 km/h", "7"), ("3/2", "1.5"),
])
def test_the_number_stated_is_read(completion, answer):
    assert numeric_reward(None, [completion], answer=[answer]) == [1.0]


@pytest.mark.parametrize("answer, completion, score", [
    ("50%", "0.5", 1.0), ("50%", "50", 1.0), ("50%", "50%", 1.0), ("50%", "50\\%", 1.0), ("50%", "1/2", 1.0),
    ("50%", "50 percent", 1.0), ("50\\%", "0.5", 1.0), ("0.5", "50%", 1.0), ("50", "50%", 1.0),
    ("50%", "0.5%", 0.0), ("0.5%", "50%", 0.0), ("50%", "5000", 0.0), ("5000", "50%", 0.0), ("50%", "5", 0.0),
    ("12.5%", "0.125", 1.0), ("12.5%", "0.12", 0.0),
])
def test_a_percentage_is_its_number_or_its_fraction_as_math_reads_it(answer, completion, score):
    assert numeric_reward(None, [completion], answer=[answer]) == [score]
    pytest.importorskip("math_verify")
    assert math_reward(None, [completion], answer=[answer], timeout=SECONDS) == [score]  # the two agree


def test_the_tolerance_applies_to_the_reading_compared():
    assert numeric_reward(None, ["0.49", "0.4", "49"], answer=["50%"] * 3, tolerance=0.02) == [1.0, 0.0, 0.0]
    assert numeric_reward(None, ["49"], answer=["50%"], tolerance=1.5) == [1.0]
    assert Reading(0.5).matches(Reading(50.0, percent=True), 0.0, 0.0)
    assert not Reading(0.5, percent=True).matches(Reading(50.0, percent=True), 0.0, 0.0)


@pytest.mark.parametrize("completion, answer", [  # a number joined to an operator, a variable, a function, a factorial
    ("\\boxed{3x^2}", "3"), ("\\boxed{3 + x^2}", "3"), ("\\boxed{2 \\times 3}", "3"), ("\\boxed{2 \\cdot 5}", "5"),
    ("\\boxed{4*5}", "5"), ("\\boxed{\\log 2}", "2"), ("\\boxed{2x}", "2"), ("\\boxed{x+2}", "2"), ("\\boxed{3!}", "3"),
    ("\\boxed{2 × 3}", "3"), ("\\boxed{\\sin(30)}", "30"), ("The meeting is at 3:45", "45"),
    ("It was on 2023-05-12", "12"), ("The answer is 3-4 hours", "4"),
])
def test_a_number_joined_to_an_operator_variable_function_or_factorial_is_no_number(completion, answer):
    assert numeric_reward(None, [completion], answer=[answer]) == [0.0]


@pytest.mark.parametrize("completion, answer", [  # degrees and units, as math reads them
    ("\\boxed{45^\\circ}", "45"), ("\\boxed{30^{\\circ}}", "30"), ("The angle is $30^\\circ$.", "30"),
    ("\\boxed{100^\\circ \\text{F}}", "100"), ("\\boxed{45°}", "45"), ("\\boxed{24 \\text{ cm}^2}", "24"),
    ("\\boxed{5 \\mathrm{~m}^{2}}", "5"), ("The area is 7 \\text{ m}^2", "7"), ("The price is $5/kg", "5"),
    ("The answer is $1,200.50", "1200.5"), ("It takes 5 h", "5"), ("The answer is 42!", "42"),
    ("The answer is **42**.", "42"), ("**Answer:** 42", "42"), ("Total: *42*", "42"), ("- 42", "42"),
    ("The answer is 42 - that's all", "42"), ("42\n* a note", "42"),  # emphasis, a bullet, a dash: no operator
])
def test_a_degree_or_a_unit_after_the_number_is_read_as_that_number(completion, answer):
    assert numeric_reward(None, [completion], answer=[answer]) == [1.0]


@pytest.mark.parametrize("answer, value", [("45^\\circ", 45.0), ("30^{\\circ}", 30.0), ("7 m^2", 7.0),
                                           ("24 \\text{ cm}^2", 24.0)])
def test_an_answer_with_a_degree_or_a_unit_is_one_number(answer, value):
    assert numeric_reward(None, [str(value), "1"], answer=[answer] * 2) == [1.0, 0.0]


@pytest.mark.parametrize("answer", ["2 \\times 3", "4*5", "3x", "\\log 2", "3!", "x+2"])
def test_an_answer_that_is_an_expression_is_not_judged(answer):
    assert numeric_reward(None, ["2"], answer=[answer]) == [None]
