"""The ``math`` reward does not credit a restated question: where the answer is a plain number, the completion's
final answer must be a number as written (math-verify alone finds ``1+8`` equal to ``9``)."""

import json

import pytest

from treecredit.rewards import math_reward
from treecredit.rewards.load import make_reward

SOLVED = [  # (completion, answer): legitimate final answers, 1.0 with and without the rule
    ("9", "9"), ("\\boxed{9}", "9"), ("The answer is 9.", "9"), ("9.0", "9"), ("$9$", "9"), ("#### 9", "9"),
    ("... so \\boxed{9}", "#### 9"), ("x = 9", "9"), ("0+6=6", "6"), ("1+8=9", "9"), ("1,000", "1000"),
    ("-3", "-3"), ("0.5", "\\frac{1}{2}"), ("\\frac{1}{2}", "0.5"), ("1/2", "0.5"), ("-\\frac{1}{2}", "-0.5"),
    ("2\\frac{1}{2}", "2.5"), ("50\\%", "50"), ("1.5\\times 10^{3}", "1500"), ("9^{\\circ}", "9"),
    ("\\boxed{x^2+2x}", "x(x+2)"), ("\\sqrt{2}", "\\sqrt{2}"),  # answers that are not plain numbers: as before
    ("(9)", "9"), ("[9]", "9"), ("so 1) gives 9", "9"), ("9\n", "9"), ("9 .", "9"),  # brackets closed, or prose
]
RESTATED = [  # (completion, answer): expressions math-verify evaluates to the answer; 0.0 under the rule
    ("1+8", "9"), ("\\boxed{1+8}", "9"), ("10-1", "9"), ("3^2", "9"), ("2*3+3", "9"), ("4.5*2", "9"),
    ("18/2", "9"), ("\\frac{18}{2}", "9"), ("\\frac{2}{4}", "0.5"), ("x = 1+8", "9"), ("9 = 1+8", "9"),
    ("9\n1+8", "9"),
    # text that stops mid-expression (a trial's run credited "1+7= → 8*"; a random model wrote "3=3=3=")
    ("9*", "9"), ("9+", "9"), ("9 -", "9"), ("9)", "9"), ("9]", "9"), ("9=", "9"), ("3=3=3=", "3"),
    ("9 \\times", "9"), ("9*.", "9"),
]
WRONG = [("8", "9"), ("1+7", "9"), ("\\frac{1}{3}", "0.5")]
SECONDS = 60  # math-verify's time limit (5 s by default): 1.5\times 10^{3} ran out of it once under heavy load (a
# first comparison of its kind takes about 1 s on an idle machine), and a limit that runs out gives None
# (test_math_timeout.py): these tests check the verdicts, not the machine's speed


@pytest.mark.parametrize("completion, answer", SOLVED)
def test_correct_final_answers_score_one(completion, answer):
    assert math_reward(["q"], [completion], answer=[answer], timeout=SECONDS) == [1.0]
    assert math_reward(["q"], [completion], answer=[answer], literal=False, timeout=SECONDS) == [1.0]


@pytest.mark.parametrize("completion, answer", RESTATED)
def test_an_expression_equal_to_a_plain_number_answer_is_not_an_answer(completion, answer):
    assert math_reward(["q"], [completion], answer=[answer], timeout=SECONDS) == [0.0]
    assert math_reward(["q"], [completion], answer=[answer], literal=False,
                       timeout=SECONDS) == [1.0]  # math-verify's own verdict


@pytest.mark.parametrize("completion, answer", WRONG)
def test_wrong_answers_score_zero_either_way(completion, answer):
    assert math_reward(["q"], [completion], answer=[answer], timeout=SECONDS) == [0.0]
    assert math_reward(["q"], [completion], answer=[answer], literal=False, timeout=SECONDS) == [0.0]


def test_the_rule_is_an_option_of_the_spec():
    _, fn, _ = make_reward("math:literal=false")
    assert fn(["q"], ["1+8"], answer=["9"]) == [1.0]
    with pytest.raises(ValueError, match=r"option literal='no' of 'math' is not true or false"):
        make_reward("math:literal=no")


def test_held_out_pass_at_1_does_not_count_an_echoed_question(tmp_path):
    from treecredit.tasks.dataset import DatasetTask

    path = tmp_path / "d.jsonl"
    path.write_text("".join(json.dumps({"prompt": f"{i}+8", "answer": str(i + 8)}) + "\n" for i in range(6)))
    task = DatasetTask(path=str(path), held_out=0)
    problems = task.generate(__import__("numpy").random.default_rng(0), 3)
    echoes = [p.data[1] for p in problems]  # the prompt itself, e.g. "3+8"
    assert task.success_of(problems, echoes) == [False] * 3
    assert task.success_of(problems, [p.answer for p in problems]) == [True] * 3
    assert task.score_batch(problems, echoes) == [0.0] * 3
