"""The ``math`` reward judges the answer a completion ends on: Markdown emphasis around it is emphasis, and a later
statement (``But wait, 10.``) overrides an earlier ``The answer is 9.``."""

import pytest

from treecredit.rewards import math_reward
from treecredit.rewards.answers import final_math_answer, final_statement, statements, without_emphasis

SECONDS = 60  # math-verify's time limit for these tests (5 s by default; see test_math_literal.py)

EMPHASISED = ["The answer is **9**.", "Final answer: **9**", "**9**", "__9__", "*9*", "The answer is *9*!",
              "**Answer:** 9", "\\boxed{9} (**9**)"]


@pytest.mark.parametrize("completion", EMPHASISED)
def test_a_final_answer_in_markdown_bold_scores_one(completion):
    assert math_reward(["q"], [completion], answer=["9"], timeout=SECONDS) == [1.0]
    assert math_reward(["q"], [completion], answer=["9"], literal=False, timeout=SECONDS) == [1.0]


@pytest.mark.parametrize("completion", ["**9*", "**9 +**", "*9 -*", "**9**\\*"])
def test_emphasis_does_not_hide_an_open_end(completion):
    assert math_reward(["q"], [completion], answer=["9"], timeout=SECONDS) == [0.0]


def test_without_emphasis_leaves_products_and_powers():
    assert without_emphasis("The answer is **9**.") == "The answer is 9."
    assert without_emphasis("a __b__ and *c*") == "a b and c"
    for text in ["2*3*4", "3**2", "2 * 3 * 4", "x_1_2", "9*", "**9", "a*b* c"]:
        assert without_emphasis(text) == text


LATER_WINS = [  # (completion, the answer it ends on, an earlier answer it states)
    ("The answer is 9. But wait, 10.", "10", "9"),
    ("The answer is 9.\nActually it is 10.", "10", "9"),
    ("The answer is 9! No: 10.", "10", "9"),
    ("**The answer is 9.** But wait, 10.", "10", "9"),
    ("1. The answer is 9.\n2. Recheck: it is 12.", "12", "9"),
    ("First 3+4=7. Then 7+2=9.", "9", "7"),
]


@pytest.mark.parametrize("completion, final, earlier", LATER_WINS)
def test_the_last_answer_stated_is_scored(completion, final, earlier):
    assert math_reward(["q"] * 2, [completion] * 2, answer=[final, earlier], timeout=SECONDS) == [1.0, 0.0]
    assert math_reward(["q"] * 2, [completion] * 2, answer=[final, earlier], literal=False,
                       timeout=SECONDS) == [1.0, 0.0]


@pytest.mark.parametrize("completion, answer", [
    ("The answer is 9.\nI hope it is correct.", "9"),  # a closing line without a value does not count
    ("The answer is 9 (see step 2).", "9"),  # one sentence: math-verify's "answer" anchor picks 9
    ("The answer is $\\frac{1}{2}$. Done.", "0.5"),
    ("We get $$\nx = \\frac{1}{2}\n$$", "0.5"),  # display math is not cut at its lines
    ("It is 10!", "10"),  # prose is not wrapped in $…$ (where 'It is 10!' read as a product with 10!)
    ("The result is \\frac{1}{2}.", "0.5"),
    ("The answer is 9.\n\n2. Done", "9"),  # a list marker is not a statement
    ("\\boxed{9}. But wait, 10.", "9"),  # a box (or ####) still decides
    ("#### 9\nThat took 3 steps.", "9"),
])
def test_final_statement_keeps_the_answer(completion, answer):
    assert math_reward(["q"], [completion], answer=[answer], timeout=SECONDS) == [1.0]


def test_statements_and_final_statement():
    assert statements("The answer is 9. But wait, 10.") == ["The answer is 9.", "But wait, 10."]
    assert statements("1. Add $x = 1. y$.\n2. 9") == ["Add $x = 1. y$.", "9"]
    assert final_statement("The answer is 9.\nI hope it is correct.") == "The answer is 9."
    assert final_statement("no value here. none") == "no value here. none"
    assert final_statement("So \\pi. Done.") == "So \\pi."
    assert final_math_answer("**9**") == "9"
    assert final_math_answer("\\boxed{9} then 10") == "9"


def test_a_number_stated_after_the_answer_is_read_as_the_answer():
    """The documented limit of the rule: without \\boxed{} or ####, the last statement with a value decides."""
    assert math_reward(["q"], ["The answer is 9. That took 3 steps."], answer=["9"], timeout=SECONDS) == [0.0]
    assert math_reward(["q"], ["The answer is \\boxed{9}. That took 3 steps."], answer=["9"], timeout=SECONDS) == [1.0]
