"""The ``numeric`` reward reads a fraction or a mixed number as its value on both sides (a new-user trial: against
the answer ``1/2`` it compared the denominator, so ``2``, ``3/2``, ``5/2``, ``The answer is 7/2`` and
``\\frac{3}{2}`` scored 1 and ``0.5`` scored 0), and refuses an answer that is not one number rather than compare
one part of it."""

import re

import pytest

from treecredit.rewards import numeric, numeric_reward
from treecredit.rewards.answers import last_value, number_values, one_number
from treecredit.rewards.combine import RewardSet
from treecredit.rewards.numeric import read_answer

HALF = ["0.5", "1/2", "\\frac{1}{2}", "\\dfrac{1}{2}", "<answer>0.5</answer>", "The answer is 1/2.", "x = 1/2",
        "\\boxed{\\frac12}", "<think>hmm</think><answer>\\tfrac{1}{2}</answer>"]
NOT_HALF = ["<answer>2</answer>", "<answer>3/2</answer>", "5/2", "The answer is 7/2", "\\frac{3}{2}", "2",
            "-1/2", "1/0", "2 1/2"]


@pytest.mark.parametrize("answer", ["1/2", "\\frac{1}{2}", "0.5", "#### 1/2", "**1/2**"])
def test_a_fraction_is_read_as_its_value_on_both_sides(answer):
    assert numeric_reward(None, HALF + NOT_HALF, answer=[answer] * 18) == [1.0] * 9 + [0.0] * 9


@pytest.mark.parametrize("answer, right, wrong", [
    ("2 1/2", "2.5", "2"), ("2\\frac{1}{2}", "The answer is 2 1/2.", "2 1/4"), ("5/2", "2\\frac{1}{2}", "1/2"),
    ("-3/2", "-1.5", "3/2"), ("1,000", "#### 1,000", "1,001"), ("12 dollars", "12", "\\frac{1}{12}")])
def test_mixed_numbers_signs_and_thousands(answer, right, wrong):
    assert numeric_reward(None, [right, wrong], answer=[answer] * 2) == [1.0, 0.0]


def test_the_tolerance_applies_to_the_value():
    assert numeric_reward(None, ["0.333", "0.34"], answer=["1/3"] * 2, tolerance=1e-3) == [1.0, 0.0]
    assert numeric_reward(None, ["0.333"], answer=["1/3"]) == [0.0]  # default tolerance 1e-6


@pytest.mark.parametrize("answer, what", [
    ("(1, 2)", "2 numbers (1, 2)"), ("2^{10}", "2 numbers (2, 10)"), ("\\sqrt{2}", "an expression, not a number"),
    ("3\\pi", "an expression, not a number"), ("1/0", "a fraction over 0"), ("2 3/2", "2 numbers (2, 3/2)")])
def test_an_answer_that_is_not_one_number_is_not_judged(answer, what, monkeypatch):
    assert re.match(f"^reward: numeric reads one number from each answer, but the answer {re.escape(repr(answer))} "
                    f"holds {re.escape(what)}: comparing one part of it would score wrong answers 1\\. Fix: write that "
                    r"answer as one number \(9, -0\.5, 1/2, .*\), or use --reward math, which compares expressions",
                    str(read_answer(answer)))
    monkeypatch.setattr(numeric, "_noted", [True])  # its note: test_numeric_unreadable_answers
    assert numeric_reward(None, ["1"], answer=[answer]) == [None]  # not judged (was: raised for the whole call)
    assert numeric_reward(None, ["1"], answer=["Paris"]) == [None]  # no number: does not apply, as before


def test_the_reward_check_refuses_answers_that_are_not_one_number():
    """The check before any work (worked solutions of training problems) names the reason when every answer probed
    is not one number; in training such a row is not judged (None: no advantage), said once."""
    rewards = RewardSet(["numeric"])
    with pytest.raises(ValueError, match=r"^reward: numeric reads one number from each answer, but the answer "
                                         r"'\(1, 2\)' holds 2 numbers \(1, 2\): .* or use --reward math, which "
                                         r"compares expressions, tuples and sets\.$"):  # its own fix, not 'fix numeric'
        with rewards.probing(2, solutions=True):
            rewards(["q", "q"], ["(1, 2)", "(1, 2)"], answer=["(1, 2)"] * 2)
    with rewards.probing(2, solutions=True):  # one number: no refusal
        assert rewards(["q", "q"], ["1/2", "3/2"], answer=["0.5"] * 2) == [1.0, 0.0]


def test_what_is_read():
    assert number_values("2 3/2 and (1,2), 1,000") == [("2", 2.0), ("3/2", 1.5), ("1", 1.0), ("2", 2.0),
                                                       ("1,000", 1000.0)]
    assert [v for _, v in number_values("-\\frac{1}{2} \\frac{-1}{2} -2 1/2 1e-3")] == [-0.5, -0.5, -2.5, 0.001]
    assert one_number("x = 1/2 km") == 0.5 and one_number("2, 3") is None and one_number("no number") is None
    assert last_value("The answer is 7/2") == 3.5 and last_value("nothing") is None


@pytest.mark.parametrize("answer, completion, score", [
    ("-3", "\u22123", 1.0), ("\u22123", "-3", 1.0), ("-3", "The answer is \u22123.", 1.0), ("-1/2", "\u22120.5", 1.0),
    ("3", "\u22123", 0.0), ("\u22123", "3", 0.0), ("1/2", "\u22121/2", 0.0),  # twins: the sign is read, not dropped
])
def test_the_unicode_minus_is_a_sign(answer, completion, score):
    assert numeric_reward(prompts=["q"], completions=[completion], answer=[answer]) == [score]
