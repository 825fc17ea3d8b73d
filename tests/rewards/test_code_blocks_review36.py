"""review36 5, 6 and trial36 8 on which code of an answer is its program (treecredit.rewards.code_blocks): prose
that parses as Python before a bare fence, a block whose closing fence is missing, a fenced example inside a
docstring."""

import sys

import pytest

from treecredit.rewards import code_reward
from treecredit.rewards.code_blocks import choose_code, fenced_blocks

CODE = "def add(a, b):\n    return a + b\n"
WRONG = CODE.replace("a + b", "a - b")


@pytest.mark.parametrize("prose", ["Approach: recursion", "Answer: add\n", "x"])
@pytest.mark.parametrize("entry, names", [("add", ()), (None, ("add",)), (None, ())])
def test_prose_that_parses_before_a_bare_fence_is_not_the_program(prose, entry, names):
    # review36 5: the code before a bare first fence was read as the program, the fence as its closing one
    answer = prose + "\n```\n" + CODE + "```\n"
    assert choose_code(answer, entry, names) == CODE


def test_code_before_a_bare_first_fence_still_closes_there():
    body = "    return a + b\n"
    answer = body + "```\n\nExample usage:\n```python\nprint(add(1, 2))\n```\n"
    assert choose_code(answer, "add") == body and choose_code(answer) == body
    assert fenced_blocks(CODE + "```\nThat is it.\n")[0] == CODE
    assert choose_code(CODE + "```\nprint(add(1, 2))\n```\n", "add") == CODE


UNCLOSED = {
    "next block opens": "```python\n" + CODE + "\n```python\nprint(add(1, 2))\n```\n",
    "never closed": "```python\n" + CODE,
    "never closed, prose before": "Here you go:\n```python\n" + CODE,
    "never closed, bare": "```\n" + CODE,
    "never closed, after a closed block": "```python\nimport math\n```\nThen:\n```python\n" + CODE,
    "never closed, ~~~": "~~~python\n" + CODE,
}


@pytest.mark.parametrize("answer", list(UNCLOSED.values()), ids=list(UNCLOSED))
def test_a_block_without_its_closing_fence_is_read(answer):
    # review36 6, trial36 8: the next block's ```python line was code of the first (a SyntaxError); a block never
    # closed (stop=["```"], a length cut) gave no program
    program = choose_code(answer, "add")
    assert program is not None and "```" not in program and "~~~" not in program
    assert CODE.strip() in program
    assert compile(program, "main.py", "exec")


def test_an_unclosed_block_with_nothing_in_it_is_no_block():
    assert fenced_blocks("```python\n" + CODE + "```\nDone.\n```\n") == [CODE]
    assert fenced_blocks("```python\n" + CODE + "```\n```python\n\n") == [CODE]


def test_a_fenced_example_in_a_docstring_does_not_close_the_block():
    code = 'def add(a, b):\n    """Example:\n    ```\n    add(1, 2)\n    ```\n    """\n    return a + b\n'
    assert choose_code("```python\n" + code + "```\n", "add") == code


@pytest.mark.skipif(sys.platform != "linux", reason="the sandbox is Linux/POSIX")
def test_such_answers_score_on_their_code():
    answers = [UNCLOSED["next block opens"], UNCLOSED["never closed, prose before"],
               "Approach: recursion\n```\n" + CODE + "```\n", "```python\n" + WRONG]
    got = code_reward(["Write add."] * 4, answers, test=["assert add(1, 2) == 3\n"] * 4, entry_point=["add"] * 4,
                      workers=2)
    assert got == [1.0, 1.0, 1.0, 0.0]
