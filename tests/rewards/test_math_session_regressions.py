"""Right answers the math reward scored 1.0 before two of 2026-12-03's rules and 0 after them (trial41 R1, R2):
an end tag written after the answer read as a scribble's ``<`` and a letter, and an equation in a sentence with the
one-letter words ``I`` or ``a`` read as prose (math-verify then found no expression). Both must score 1.0 again,
while the cases those rules were made for keep their scores."""

import warnings

import pytest

from treecredit.rewards import math_reward


def score(completion: str, answer: str) -> float:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return math_reward(prompts=["q"], completions=[completion], answer=[answer])[0]


@pytest.mark.parametrize("completion, answer", [
    ("11</s>", "11"), ("The answer is 11.</s>", "11"), ("#### 11</s>", "11"), ("-4</s>", "-4"), ("11</b>", "11"),
    ("Thus a = 2b.", "2b"), ("So a = b + 1.", "b+1"), ("So I get y = 2x + 1.", "2x+1"), ("I get f(x) = x^2.", "x^2"),
    ("Thus a = \\sqrt{2}.", "\\sqrt{2}"), ("So I get a = \\frac{b}{2}.", "b/2"),
])
def test_end_tags_and_equations_beside_one_letter_words_score_one(completion, answer):
    assert score(completion, answer) == 1.0


@pytest.mark.parametrize("completion, answer, expected", [
    ("So I got 42 marbles.", "42", 1.0), ("I'd say 7.", "7", 1.0), ("In a week I earn 18.", "18", 1.0),
    ("11>;a15", "11", 0.0), ("11>;15", "11", 0.0), ("x=11]15", "11", 0.0), ("11)15", "11", 0.0),
])
def test_the_rules_cases_keep_their_scores(completion, answer, expected):
    assert score(completion, answer) == expected
