"""Why ``code_blocks.FENCE`` (the regex fallback of ``fenced_blocks``) stays: fences that are not lines of their own
(a closing fence at the end of a code line, an opening fence after prose on its line) give the line scanner no
closed block (a block never closed that takes the fence and the prose after it, or none); the fallback finds them,
so these answers are still scored on their code. (A closing fence followed by prose on its line: since
2026-12-03 the scanner finds it too.)"""

import re
import sys

import pytest

from treecredit.rewards import code_blocks, code_reward
from treecredit.rewards.code_blocks import choose_code, fenced_blocks

BODY = "def square(x):\n    return x * x"
SHAPES = {
    "closing fence ends a code line": f"```python\n{BODY}```\nDone.",
    "closing fence followed by prose": f"```python\n{BODY}\n``` That is all.",
    "opening fence after prose on its line": f"Here it is: ```python\n{BODY}\n```\n",
}


@pytest.mark.parametrize("answer", SHAPES.values(), ids=SHAPES.keys())
def test_the_fallback_finds_blocks_the_line_scanner_does_not(answer, monkeypatch):
    assert choose_code(answer, "square").rstrip("\n") == BODY
    monkeypatch.setattr(code_blocks, "FENCE", re.compile(r"(?!)"))  # the line scanner alone
    alone = choose_code(answer, "square")
    if answer == SHAPES["closing fence followed by prose"]:  # (since 2026-12-03 a fence with an info string
        assert alone.rstrip("\n") == BODY  # ends the block it stands in; the pattern is not needed there)
    else:  # no block, or a block never closed that runs to the end: the fence and what follows in its code
        assert alone is None or alone.rstrip("\n") != BODY


def test_the_fallback_is_not_used_where_the_scanner_finds_a_block(monkeypatch):
    answer = f"```python\n{BODY}\n```\nand ```python\nprint(1)```"  # a block by lines, then one the regex alone sees
    monkeypatch.setattr(code_blocks, "FENCE", re.compile(r"(?!)"))
    assert fenced_blocks(answer) == [BODY + "\n"]
    monkeypatch.undo()
    assert fenced_blocks(answer) == [BODY + "\n"]


@pytest.mark.skipif(sys.platform != "linux", reason="the sandbox is Linux/POSIX")
def test_answers_fenced_so_score_on_their_code():
    answers = list(SHAPES.values())
    wrong = SHAPES["closing fence ends a code line"].replace("x * x", "x + x")
    scores = code_reward(["Write square(x)."] * 4, answers + [wrong], test=["assert square(3) == 9\n"] * 4,
                         entry_point=["square"] * 4, workers=1)
    assert scores == [1.0, 1.0, 1.0, 0.0]
