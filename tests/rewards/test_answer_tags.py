"""The R1/TRL answer format: ``<answer>…</answer>`` (after ``<think>…</think>``) is the final answer of the
``math``, ``exact`` and ``numeric`` rewards, before the other rules; an equation of numbers that ends a sentence of
prose counts by its right-hand side (a new-user trial: each scored 0 before the fix). Every case has a wrong-value
twin that scores 0."""

import pytest

from treecredit.rewards import exact_reward, math_reward, numeric_reward
from treecredit.rewards.answers import answer_block, final_answer, final_math_answer, tagged_answer, unclosed_answer

SECONDS = 60  # math-verify's time limit for these tests (5 s by default; see test_math_literal.py)

TAGGED = [  # (answer, completion, the same shape with a wrong value)
    ("9", "<answer>9</answer>", "<answer>8</answer>"),
    ("9", "<think>hmm</think><answer>9</answer>", "<think>hmm</think><answer>8</answer>"),
    ("1/2", "<answer>1/2</answer>", "<answer>1/3</answer>"),
    ("31", "<answer>31</answer>", "<answer>13</answer>"),
    ("9", "<think>maybe \\boxed{8}, or 10</think>\n<answer>9</answer>",
     "<think>maybe \\boxed{9}</think><answer>8</answer>"),
    ("9", "<answer>\\boxed{9}</answer>", "<answer>\\boxed{8}</answer>"),
    ("9", "<answer>The answer is 9.</answer>\nThat took 3 steps.", "<answer>The answer is 8.</answer>\nOr 9."),
    ("9", "<answer>7</answer> no, <answer>9</answer>", "<answer>9</answer> no, <answer>8</answer>"),
]
EQUATIONS = [
    ("9", "The answer is 1+8=9", "The answer is 1+8=8"),
    ("9", "The answer is 1+8=9.", "The answer is 1+8=10."),
    ("12", "So we get: 3 * 4 = 12.", "So we get: 3 * 4 = 13."),
]


@pytest.mark.parametrize("answer, right, wrong", TAGGED + EQUATIONS)
def test_math_reads_the_answer_block_and_a_prose_equation(answer, right, wrong):
    assert math_reward(None, [right, wrong], answer=[answer, answer], timeout=SECONDS) == [1.0, 0.0]
    conversation = [[{"role": "assistant", "content": right}], [{"role": "assistant", "content": wrong}]]
    # TRL's conversational completions
    assert math_reward(None, conversation, answer=[answer] * 2, timeout=SECONDS) == [1.0, 0.0]


@pytest.mark.parametrize("answer, right, wrong", TAGGED[:4] + TAGGED[5:6])
def test_exact_and_numeric_read_the_answer_block(answer, right, wrong):
    assert exact_reward(None, [right, wrong], answer=[answer] * 2) == [1.0, 0.0]
    if "/" not in answer:
        assert numeric_reward(None, [right, wrong], answer=[answer] * 2) == [1.0, 0.0]


def test_numeric_reads_the_block_not_a_later_number():
    assert numeric_reward(None, ["<answer>9</answer> in 3 steps"], answer=["9"]) == [1.0]  # scored 0 before


def test_what_is_read():
    assert tagged_answer("<think>a</think><answer> 9 </answer>") == "9"
    assert tagged_answer("<answer>9") is None and final_answer("<answer>9") == "9"  # unclosed: up to the end
    assert final_math_answer("<ANSWER>x = 9</ANSWER>") == "x = 9"
    assert final_math_answer("The answer is 1+8=9.") == "1+8=9"
    assert final_math_answer("x = 1+8") == "x = 1+8"  # no prose: as before


@pytest.mark.parametrize("completion", ["The answer is 9 = 1+8", "The answer is x = 1+8", "<answer>1+8</answer>",
                                        "The answer is 3=3=3=", "<answer>9 -</answer>"])
def test_the_literal_rule_holds_inside_the_new_readings(completion):
    assert math_reward(None, [completion], answer=["9"], timeout=SECONDS) == [0.0]


# A box or #### after the block corrects it; a block inside prose (an example, an echoed format) is not the answer.
# (answer, completion, the same shape with a wrong value); each right one scored 0 and each wrong one 1 before.
BOX_AFTER = [
    ("8", "<answer>9</answer> Wait, that's wrong: the answer is \\boxed{8}.",
     "<answer>8</answer> Wait, that's wrong: the answer is \\boxed{9}."),
    ("8", "<think>a</think><answer>9</answer>\n#### 8", "<think>a</think><answer>8</answer>\n#### 9"),
]
PROSE_AROUND = [
    ("8", "Example: <answer>7</answer>. Now, the answer is 8.", "Example: <answer>8</answer>. Now, the answer is 7."),
    ("4", "The format is <answer>X</answer>. So the answer is 4.",
     "The format is <answer>4</answer>. So the answer is 5."),
]


@pytest.mark.parametrize("answer, right, wrong", BOX_AFTER)
def test_a_box_after_the_block_is_the_answer(answer, right, wrong):
    for reward in (math_reward, exact_reward, numeric_reward):
        assert reward(None, [right, wrong], answer=[answer] * 2) == [1.0, 0.0], reward.__name__


@pytest.mark.parametrize("answer, right, wrong", PROSE_AROUND)
def test_a_block_inside_prose_is_not_the_answer(answer, right, wrong):
    for reward in (math_reward, numeric_reward):
        assert reward(None, [right, wrong], answer=[answer] * 2) == [1.0, 0.0], reward.__name__


def test_which_block_answers():
    assert answer_block("<answer>9</answer>.") == "9"  # punctuation after: it ends the text
    assert answer_block("<think>a</think>\n<reasoning>b</reasoning> <answer>9</answer> in 3 steps") == "9"
    assert answer_block("Example: <answer>7</answer>. Now, 8.") is None
    assert answer_block("So: <answer>9</answer>") == "9"
    assert answer_block("<answer>9</answer> no: \\boxed{8}") is None
    assert final_answer("Example: <answer>7</answer>. Now, \\boxed{8}.") == "8"
    assert final_math_answer("Example: <answer>7</answer>. Now, the answer is 8.") == "Now, the answer is 8"


# An unclosed final <answer> (generation stopped at the stop string </answer>, which vLLM and TRL leave out of the
# completion, or cut by the token limit) is the block up to the end of the text (a new-user trial: it was read as no
# tag, so the scratch work answered). (answer, completion, the same shape with a wrong value); before, the first two
# scored their right one 0 and their wrong one 1 under math; the last two pin a statement or box inside the block.
UNCLOSED = [
    ("9", "<think>The answer is 8</think><answer>9", "<think>The answer is 9</think><answer>8"),
    ("9", "<answer>8</answer> no, <answer>9", "<answer>9</answer> no, <answer>8"),
    ("9", "<think>maybe 8</think>\n<answer>The answer is 9.", "<think>maybe 9</think>\n<answer>The answer is 8."),
    ("9", "<think>8</think><answer>so \\boxed{9}", "<think>9</think><answer>so \\boxed{8}"),
]


@pytest.mark.parametrize("answer, right, wrong", UNCLOSED)
def test_an_unclosed_final_answer_block_is_the_answer(answer, right, wrong):
    for reward in (math_reward, numeric_reward) + ((exact_reward,) if "is" not in right else ()):
        assert reward(None, [right, wrong], answer=[answer] * 2) == [1.0, 0.0], reward.__name__


def test_what_an_unclosed_block_reads():
    assert unclosed_answer("<think>a</think><answer> 9 ") == "9"
    assert unclosed_answer("<answer>9</answer>") is None and unclosed_answer("no tag") is None
    assert answer_block("<ANSWER>7</ANSWER> then <answer>9") == "9"
    # cut right after the tag: no answer, not the scratch work (the think block's 9 scored 1 before)
    assert math_reward(None, ["<think>The answer is 9</think><answer>"], answer=["9"], timeout=SECONDS) == [0.0]


def test_a_block_followed_by_prose_without_a_number_answers():
    """reasoning-gym's models close with a remark ("Hope this helps!"): the block before it answers (it scored 0
    on rg tasks since the block had to open or end the text)."""
    said = "Adding the terms gives -51.\n<answer>-51</answer>\nHope this helps!"
    assert answer_block(said) == "-51" and final_answer(said) == "-51"
    assert numeric_reward(None, [said, said.replace("-51</", "-50</")], answer=["-51"] * 2) == [1.0, 0.0]
    assert answer_block("4+5 = 9, so\n<answer>9</answer>\n\nLet me know if you need anything else.") == "9"
    assert answer_block("Example: <answer>7</answer>. Now, the answer is 8.") is None  # a number follows
    assert final_answer("<answer>9</answer> because \\boxed{} is not needed") == "9"  # an empty box corrects nothing


def test_a_block_of_hashes_is_read_whole():
    grid = "<answer>\n####\n#..#\n####\n</answer>"
    assert final_answer(grid) == "####\n#..#\n####"  # read '' before
    assert final_answer("<answer>Steps... #### 42</answer>") == "42"
