"""trial40 1: a final sentence whose words pair only with ``I`` or ``a`` was not read as prose: wrapped in ``$…$``,
math-verify read its words as symbols multiplied together (``I·think·42``) and the ``math`` reward scored a right
answer 0 (``So we got 42`` scored 1)."""

import pytest

from treecredit.rewards import math_reward

SECONDS = 60  # math-verify's time limit (see test_math_literal.py)


@pytest.mark.parametrize("literal", [True, False])
@pytest.mark.parametrize("completion, answer", [
    ("I think 42", "42"), ("I get 42", "42"), ("So I got 42 marbles.", "42"), ("I have 7 left.", "7"),
    ("Now I have 7.", "7"), ("So I need 7.", "7"), ("I'd say 7.", "7"), ("In a week I earn 18.", "18"),
    ("I made 18 dollars.", "18"), ("We get 42.", "42"),
])
def test_a_sentence_with_i_or_a_answers(completion, answer, literal):
    assert math_reward(["q"], [completion], answer=[answer], literal=literal, timeout=SECONDS) == [1.0]


@pytest.mark.parametrize("completion, answer", [("I think 41", "42"), ("a b", "42"), ("2a", "2")])
def test_wrong_answers_and_symbols_stay_zero(completion, answer):
    assert math_reward(["q"], [completion], answer=[answer], timeout=SECONDS) == [0.0]
