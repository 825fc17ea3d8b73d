"""The ``math`` reward does not credit a scribble of which math-verify reads the first number (trial38 finding 1: a
real run's model wrote ``011>;15`` for ``6+5=`` and got 0.8; math-verify parses ``11>;15`` as 11): the final answer
is the last statement, and the ``numeric`` reward reads 15 there."""

import pytest

from treecredit.rewards import math_reward, numeric_reward
from treecredit.rewards.answers import ends_open, reads_a_scribble

SECONDS = 60  # math-verify's time limit (see test_math_literal.py)

SCRIBBLES = [  # (completion, the answer math-verify read out of it before)
    ("11>;15", "11"), ("11>,15", "11"), ("11<;15", "11"), ("11>:15", "11"), ("11>)15", "11"), ("11>!15", "11"),
    ("x=11>;15", "11"), ("7>;100", "7"), ("011>;15", "11"), ("11=;15", "11"), ("11+;15", "11"), ("11&15", "11"),
    ("11@15", "11"), ("The answer is 11>;15", "11"), ("\\boxed{11>;15}", "11"), ("$11>;15$", "11"),
    ("#### 11>;15", "11"), ("<answer>11>;15</answer>", "11"),
    ("11>", "11"), ("11>;", "11"), ("11 <", "11"), ("11 ->", "11"),  # stops at a comparison sign
]


@pytest.mark.parametrize("completion, answer", SCRIBBLES)
def test_a_scribble_scores_zero(completion, answer):
    assert math_reward(["q"], [completion], answer=[answer], timeout=SECONDS) == [0.0]


def test_numeric_reads_the_last_number_there():
    assert numeric_reward(["q"] * 2, ["11>;15", "11>;15"], answer=["11", "15"]) == [0.0, 1.0]


@pytest.mark.parametrize("completion, answer", [
    ("11", "11"), ("x = 11", "11"), ("\\boxed{11}", "11"), ("11 = 11", "11"), ("6+5=11", "11"),
    ("The answer is 11, not 15", "11"), ("The answer is 11</answer>", "11"), ("11 apples", "11"),
    ("50\\%", "50"), ("1.5\\times 10^{3}", "1500"), ("2\\frac{1}{2}", "2.5"), ("7 m^2", "7"), ("45^\\circ", "45"),
])
def test_answers_still_score_one(completion, answer):
    assert math_reward(["q"], [completion], answer=[answer], timeout=SECONDS) == [1.0]


def test_the_rule_asks_where_the_number_read_stands():
    assert not reads_a_scribble([], "11>;15")
    assert ends_open("11>") and ends_open("11 >;") and not ends_open("11</answer>") and not ends_open("11</s>")


@pytest.mark.parametrize("completion", [  # trial39 R1: the '>' of '|>' read as a comparison sign (4ea67d1)
    "11<|endoftext|>", "11<|im_end|>", "11<|eot_id|>", "11<|end|>", "11<|end_of_text|>",
    "The answer is 11.<|endoftext|>", "11<|im_end|>\n<|im_start|>user",
])
def test_a_special_token_after_the_answer_is_not_an_open_end(completion):
    assert not ends_open(completion)
    assert math_reward(["q"], [completion], answer=["11"], timeout=SECONDS) == [1.0]


@pytest.mark.parametrize("completion", [  # review38: notes after a right answer are not scribbles
    "The answer is 11 (4+7).", "The answer is 11 (15-4).", "The answer is 11 (2 s.f.).", "11 (3 s.f.)",
    "The answer is 11 [1].", "\\boxed{11_{10}}", "Final answer: 11 (~ 10.9)", "The answer is 11, 15 is wrong",
])
def test_a_note_after_the_answer_is_not_a_scribble(completion):
    assert math_reward(["q"], [completion], answer=["11"], timeout=SECONDS) == [1.0]


LETTER_SCRIBBLES = [  # fixC: a letter glued to the number after the sign: math-verify read no second number there
    "11>;a15", "11>;x15", "x=11>;a15", "11>;ab15", "11>;a", "\\boxed{11>;a15}",
]


@pytest.mark.parametrize("completion", LETTER_SCRIBBLES)
def test_a_scribble_with_a_letter_inside_scores_zero(completion):
    assert math_reward(["q"], [completion], answer=["11"], timeout=SECONDS) == [0.0]


@pytest.mark.parametrize("completion", ["11>;15", "11=;15", "11&15", "11>;a15", "x=11>;a"])
def test_literal_false_does_not_credit_a_scribble(completion):
    """``literal=false`` credits an expression equal to the answer (``1+8`` for 9, test_math_literal.py); a scribble
    is no expression: math-verify dropped what followed the number it read. Until fixC each scored 1.0 there."""
    assert math_reward(["q"], [completion], answer=["11"], literal=False, timeout=SECONDS) == [0.0]
    assert math_reward(["q"], ["1+10"], answer=["11"], literal=False, timeout=SECONDS) == [1.0]


@pytest.mark.parametrize("completion", ["11 \\; \\mathrm{m}", "11 \\: \\text{cm}", "11 \\> m", "11;",
                                        "The answer is 11; I checked."])
def test_a_latex_space_or_a_closing_sign_is_not_a_scribble(completion):
    assert math_reward(["q"], [completion], answer=["11"], timeout=SECONDS) == [1.0]


@pytest.mark.parametrize("literal", [True, False])
def test_a_time_or_a_ratio_is_not_its_first_number(literal):
    """``11:15`` is a time (a quarter past eleven) or a ratio (math-verify reads 11/15), not 11: it states another
    quantity, so 0.0 against 11 is right; against the answer ``11:15`` it scores 1.0."""
    assert math_reward(["q"], ["11:15"], answer=["11"], literal=literal, timeout=SECONDS) == [0.0]
    assert math_reward(["q"], ["11:15"], answer=["11:15"], literal=literal, timeout=SECONDS) == [1.0]


BRACKET_SCRIBBLES = [  # trial40 2: a bracket glued to the number read (d5f51c9's note exemption let them through)
    ("11)15", "11"), ("11]12]13]14", "11"), ("11)12)13", "11"), ("x=11]15", "11"), ("11}15", "11"),
    ("11[12", "11"), ("15]2", "15"), ("9[7", "9"), ("3]5pd", "3"), ("2aa)5408", "2"), ("9b 7", "9"),
    ("\n9+]5w", "9"), ("7du]>i", "7"), ("11[12]15", "11"), ("11[1]]", "11"),
]


@pytest.mark.parametrize("literal", [True, False])
@pytest.mark.parametrize("completion, answer", BRACKET_SCRIBBLES)
def test_a_bracket_or_letter_glued_to_the_number_read_is_a_scribble(completion, answer, literal):
    assert math_reward(["q"], [completion], answer=[answer], literal=literal, timeout=SECONDS) == [0.0]


@pytest.mark.parametrize("completion", ["(11)", "f(11) = 11", "The answer is 11 [1].", "The answer is 11 (4+7).",
                                        "11 (3 s.f.)", "7km", "[11]",
                                        # review41 4: a closed citation glued to the number is a note too
                                        "The answer is 11[1].", "Answer: 11[2]", "The answer is 11[1][2]."])
def test_a_bracket_that_closes_or_a_spaced_note_is_not(completion):
    answer = "7" if completion == "7km" else "11"
    assert math_reward(["q"], [completion], answer=[answer], timeout=SECONDS) == [1.0]
