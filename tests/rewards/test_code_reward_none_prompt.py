"""A None prompt (``prompts=None``, or a row's null prompt) is no prompt: until 2026-12-04 the code reward read it as
the text ``'None'``, glued before the completion, so the refusal of tests that only define ``check`` could no longer
find the tested function's name (``Nonedef add``) and named no column. The tests' compile check is a public name of
the module that checks tests (``code_tests.compile_error``; it was ``code._compile_error``, imported privately)."""

import pytest

from treecredit._validation import FixError
from treecredit.rewards import code_tests
from treecredit.rewards.code import code_reward

PROGRAM = "def add(a, b):\n    return a + b\n"
IDLE_TEST = "def check(candidate):\n    assert candidate(1, 2) == 3\n"


@pytest.mark.parametrize("prompts", [None, [None], [""]])
def test_a_none_prompt_is_no_prompt_and_the_refusal_names_the_column(prompts):
    with pytest.raises(FixError) as caught:
        code_reward(prompts=prompts, completions=[PROGRAM], test=[IDLE_TEST], fn=["add"], workers=1)
    assert "entry_point_column='fn'" in str(caught.value)


@pytest.mark.parametrize("prompts", [None, [None, None]])
def test_a_none_prompt_scores_as_an_empty_one(prompts):
    test = "def check(candidate):\n    assert candidate(1, 2) == 3\n"
    assert code_reward(prompts=prompts, completions=[PROGRAM, "def add(a, b):\n    return a - b\n"],
                       test=[test] * 2, entry_point=["add"] * 2, workers=1) == [1.0, 0.0]


def test_compile_error_is_public_in_code_tests():
    assert isinstance(code_tests.compile_error("def f(:\n"), SyntaxError)
    assert isinstance(code_tests.compile_error("x = 1\x00"), (SyntaxError, ValueError))  # (by Python version)
    assert code_tests.compile_error("x = 1\n") is None
