"""Right answers the math reward scored 0 and scribbles it credited, until fixG of 2026-12-04: a chat end token after
the answer (``3/4<|im_end|>`` read as 3), a label glued to its value (``Answer:11``), thousands separators in an
equation (``So x = 1,200.``: math-verify reads ``x = {1, 200}``), math that ends a sentence of prose and that
math-verify reads only inside ``$…$`` (``The answer is \\sqrt{2}.``, ``The answer is (11).``, ``So we get x = a +
1.``), a unit of one capital letter (``11 W``); and scribbles of an equal number (``6)6``), a bracket opened on
nothing (``2[``) and a time in prose (``Answer: 11:15``). The cases around each rule keep their scores."""

import warnings

import pytest

from treecredit.rewards import exact_reward, math_reward

END_TOKENS = ["<|im_end|>", "<|eot_id|>", "</s>", "<|endoftext|>", "<|im_end|><|endoftext|>", " <|im_end|>\n",
              "<\uff5cend\u2581of\u2581sentence\uff5c>", "<eos>", "<end_of_turn>"]


def scores(completion: str, answer: str) -> list:
    """The score with literal=True and with literal=False."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return [math_reward(["q"], [completion], answer=[answer], literal=literal)[0] for literal in (True, False)]


@pytest.mark.parametrize("completion, answer", [
    ("Answer:11", "11"), ("Final answer:-4", "-4"), ("No:10", "10"), ("Answer:(11)", "11"),
    ("So x = 1,200.", "1200"), ("x = 1,200", "1200"), ("y = -1,234,567", "-1234567"), ("x = 1,200.5", "1200.5"),
    ("The answer is (11).", "11"), ("The answer is (-3).", "-3"), ("The answer is (x+1).", "x+1"),
    ("11 W", "11"), ("11 W.", "11"), ("P = 11 W", "11"), ("7 N", "7"), ("\\frac{1}{2} W", "1/2"),
    ("The answer is \\sqrt{2}.", "\\sqrt{2}"), ("The answer is 2\\pi.", "2\\pi"),
    ("The value is \\dfrac{7}{2}.", "7/2"),
    ("The answer is 1.5\\times 10^{3}.", "1500"), ("The answer is: \\sqrt{2}", "\\sqrt{2}"),
    ("So we get x = a + 1.", "a + 1"), ("So we have f(x) = x^2.", "x^2"), ("Hence we obtain k = n - 1.", "n-1"),
    ("So we get x=a+1.", "a+1"),
])
def test_right_answers_score_one(completion, answer):
    assert scores(completion, answer) == [1.0, 1.0]


@pytest.mark.parametrize("token", END_TOKENS)
@pytest.mark.parametrize("completion, answer", [
    ("3/4", "3/4"), ("x = 2\\sqrt{3}", "2\\sqrt{3}"), ("The answer is 1+8=9", "9"), ("11", "11"),
    ("The answer is 11.", "11"), ("\\boxed{11}", "11"), ("<answer>11</answer>", "11"), ("Answer:11", "11"),
])
def test_an_end_token_after_a_right_answer_changes_nothing(completion, answer, token):
    assert scores(completion + token, answer) == [1.0, 1.0]


@pytest.mark.parametrize("token", END_TOKENS)
@pytest.mark.parametrize("completion, answer, expected", [
    ("12", "11", [0.0, 0.0]), ("11)15", "11", [0.0, 0.0]), ("6)6", "6", [0.0, 0.0]), ("1+8", "9", [0.0, 1.0]),
    ("8*", "8", [0.0, 1.0]),
])
def test_an_end_token_after_a_wrong_answer_changes_nothing(completion, answer, expected, token):
    assert scores(completion + token, answer) == expected


@pytest.mark.parametrize("completion, answer", [
    ("6)6", "6"), ("11)11", "11"), ("6]6", "6"), ("6[6", "6"), ("x=6)6", "6"), ("2[", "2"), ("2{", "2"),
    ("x = 2[", "2"), ("\\boxed{2[}", "2"), ("Answer: 11:15", "11"), ("The answer is 11:15.", "11"),
    ("The ratio is 3:4.", "3"), ("So we get x = 11)15", "11"), ("Thus we get x = 11>;15", "11"),
])
def test_scribbles_score_zero_either_way(completion, answer):
    assert scores(completion, answer) == [0.0, 0.0]


@pytest.mark.parametrize("completion, answer", [
    ("2(", "2"), ("2 (", "2"), ("2 [", "2"), ("The answer is 9 \\cdot 1.", "9"),
])
def test_open_ends_and_expressions_score_zero_under_literal(completion, answer):
    assert scores(completion, answer) == [0.0, 1.0]  # (as 8) and 9 \cdot 1 score: math-verify's reading without)


@pytest.mark.parametrize("completion, answer, expected", [
    ("7 x", "7", [0.0, 0.0]), ("11 x", "11", [0.0, 0.0]), ("7 mL", "7", [0.0, 0.0]), ("3 N", "3N", [1.0, 1.0]),
    ("x = 1,200", "\\{1,200\\}", [1.0, 1.0]), ("x = 1, 200", "1200", [0.0, 0.0]), ("11 [1]", "11", [0.0, 0.0]),
    ("11[1][2]", "11", [0.0, 0.0]), ("(6)6", "6", [0.0, 0.0]), ("6 (6)", "6", [0.0, 0.0]),
    ("11 = 11", "11", [1.0, 1.0]), ("11:15", "11", [0.0, 0.0]), ("At 11:15 we had 11.", "11", [1.0, 1.0]),
    ("So I got 42 marbles.", "42", [1.0, 1.0]), ("The answer is \\frac{1}{2}.</b>", "1/2", [1.0, 1.0]),
    ("The answer is \\sqrt{2}, not 2.", "\\sqrt{2}", [0.0, 0.0]), ("So we get x = a + 1 apples.", "a+1", [0.0, 0.0]),
    ("2)", "2", [0.0, 1.0]), ("The answer is (12).", "11", [0.0, 0.0]),
])
def test_the_cases_around_the_rules_keep_their_scores(completion, answer, expected):
    assert scores(completion, answer) == expected


@pytest.mark.parametrize("token", END_TOKENS)
def test_exact_reads_an_answer_before_an_end_token(token):
    assert exact_reward(["q"] * 3, ["Paris" + token, "11" + token, "Lyon" + token], answer=["Paris", "11", "Paris"]) \
        == [1.0, 1.0, 0.0]


@pytest.mark.parametrize("completion, answer, expected", [
    ("2:1", "2:1", 1.0), ("\\boxed{2:1}", "2:1", 1.0), ("Answer: 2:1", "2:1", 1.0), ("The ratio is 2:1.", "2:1", 1.0),
    ("The answer is 3:1", "3:1", 1.0),
    ("Answer: 11 (at 11:15)", "11", 1.0), ("The answer is 11, i.e., 11:00 am", "11", 1.0),
    ("The answer is 11:00", "11", 1.0),
    ("Answer: 11:15", "11", 0.0), ("Answer:11:15", "11", 0.0), ("11:05", "11", 0.0), ("The ratio is 3:4.", "3", 0.0),
])
def test_ratios_and_times_against_the_reference(completion, answer, expected):
    """review43 1 (a regression of 2a81fca): the time/ratio rule scored right ratio answers 0 (``2:1`` against
    ``2:1``: math-verify reads both as 2) and a right answer beside a time (``11 (at 11:15)``, ``11:00``); a time
    or ratio where a number is the reference still scores 0 (``Answer: 11:15`` against 11)."""
    assert scores(completion, answer) == [expected, expected]
