"""trial36 7 and 12: the code and math rewards' arguments. numpy's numbers are numbers; a math timeout past what
signal.alarm takes is refused (it scored every answer 0 without a word), also in a reward spec; ``literal`` must
be a bool; a completion must be text or a list of messages; an entry point may not be a keyword."""

import sys

import numpy as np
import pytest

from treecredit._validation import FixError
from treecredit.rewards import code_reward
from treecredit.rewards.builtin import math_reward
from treecredit.rewards.load import make_reward

RIGHT = "```python\ndef add(a, b):\n    return a + b\n```\n"


@pytest.mark.skipif(sys.platform != "linux", reason="the sandbox is Linux/POSIX")
def test_numpy_numbers_are_taken_as_code_options():
    got = code_reward(["Write add."] * 2, [RIGHT, RIGHT.replace("a + b", "a - b")],
                      test=["assert add(1, 2) == 3\n"] * 2, entry_point=["add"] * 2,
                      timeout=np.int64(10), workers=np.int64(2))
    assert got == [1.0, 0.0]
    assert code_reward(["x"], [RIGHT], test=["assert add(1, 2) == 3\n"], entry_point=["add"], timeout=np.float64(10),
                       workers=1) == [1.0]


def test_numpy_numbers_are_taken_as_the_math_timeout():
    assert math_reward(["x"], ["The answer is 9."], answer=["9"], timeout=np.int64(3)) == [1.0]
    assert math_reward(["x"], ["The answer is 9."], answer=["9"], timeout=np.float32(2.5)) == [1.0]


@pytest.mark.parametrize("timeout", [2**31, 1e10, 86401, np.int64(2**40), float("inf"), 0, -1, "5", True])
def test_a_math_timeout_out_of_range_is_refused(timeout):
    with pytest.raises(FixError, match=r"timeout.*math:timeout=5"):
        math_reward(["x"], ["9"], answer=["9"], timeout=timeout)


@pytest.mark.parametrize("spec", ["math:timeout=1e10", "math:timeout=2147483648", "code:timeout=1e20",
                                  "code:timeout=86401"])
def test_a_timeout_over_a_day_is_refused_when_the_spec_is_read(spec):
    target = spec.split(":")[0]
    shown = 5 if target == "math" else 10
    with pytest.raises(ValueError, match=rf"timeout.*Fix: write e.g. {target}:timeout={shown}\."):
        make_reward(spec)
    make_reward(f"{target}:timeout=86400")


@pytest.mark.parametrize("literal", ["false", "true", 0, None])
def test_math_literal_must_be_a_bool(literal):
    with pytest.raises(FixError, match=r"literal.*math:literal=false"):
        math_reward(["x"], ["9"], answer=["9"], literal=literal)


BAD_COMPLETIONS = {"None": None, "a number": 3, "a bare message": {"role": "assistant", "content": "9"},
                   "a list of numbers": [1], "an empty conversation": []}


@pytest.mark.parametrize("completion", list(BAD_COMPLETIONS.values()), ids=list(BAD_COMPLETIONS))
def test_a_completion_that_is_not_text_or_messages_is_refused(completion):
    with pytest.raises(FixError, match=r"completions: row 0"):
        math_reward(["x"], [completion], answer=["9"])
    with pytest.raises(FixError, match=r"completions: row 0"):
        code_reward(["x"], [completion], test=["assert add(1, 2) == 3\n"], entry_point=["add"])


def test_conversations_are_still_read():
    assert math_reward(["x"], [[{"role": "assistant", "content": "The answer is 9."}]], answer=["9"]) == [1.0]


@pytest.mark.parametrize("entry", ["class", "None", "lambda"])
def test_an_entry_point_that_is_a_keyword_is_refused(entry):
    with pytest.raises(FixError, match=r"entry_point: row 0's value .* is a Python keyword"):
        code_reward(["x"], [RIGHT], test=["assert add(1, 2) == 3\n"], entry_point=[entry])


def test_run_check_refuses_a_keyword_entry_point():
    from treecredit.sandbox_check import run_check

    with pytest.raises(ValueError, match="entry_point.*keyword"):
        run_check("x = 1\n", "assert True\n", "class")
