"""The ``code`` reward refuses bad arguments before any program runs, naming the argument and the fix (until
2026-12-03 a string ``test`` or ``entry_point`` was read one character per completion, a short ``test`` list left
the rest unscored, and ``timeout="abc"`` raised Python's own message)."""

import pytest

from treecredit.rewards import code_reward

PROMPT = 'def add(a, b):\n    """Add."""\n'
TEST = "def check(candidate):\n    assert candidate(1, 2) == 3\n"
RIGHT = "    return a + b\n"


@pytest.fixture(autouse=True)
def no_program_runs(monkeypatch):
    """Every case is refused before any program runs."""
    import treecredit.sandbox_check

    def refuse(*args, **kwargs):
        raise AssertionError("a program ran")

    monkeypatch.setattr(treecredit.sandbox_check, "run_check", refuse)


CASES = {
    "test a string": (dict(test=TEST, entry_point=["add"]), r"^test: is one str .*Fix: pass test=\[value\] \* len"),
    "entry_point a string": (dict(test=[TEST] * 2, entry_point="add"), r"^entry_point: is one str \('add'\).*Fix:"),
    "test shorter": (dict(test=[TEST], entry_point=["add", "add"]), r"^test: has 1 values for 2 completions.*Fix:"),
    "entry points longer": (dict(test=[TEST, TEST], entry_point=["add"] * 3), r"^entry_point: has 3 values for 2"),
    "timeout not a number": (dict(test=[TEST] * 2, entry_point=["add"] * 2, timeout="abc"),
                             r"^timeout: is 'abc', must be a finite number of seconds > 0.*code:timeout=10"),
    "timeout 0": (dict(test=[TEST] * 2, entry_point=["add"] * 2, timeout=0), r"^timeout: is 0, must be"),
    "plain_results a string": (dict(test=[TEST] * 2, entry_point=["add"] * 2, plain_results="false"),
                               r"^plain_results: is 'false', must be True or False"),
    "tests a list of asserts": (dict(test=[["assert add(1, 2) == 3"]] * 2),
                                r"^test: row 0's tests are a list .*'\\n'\.join\(t\)"),
    "entry point not a name": (dict(test=[TEST] * 2, entry_point=["add", "add(a, b)"]),
                               r"^entry_point: row 1's value 'add\(a, b\)' is not a Python name"),
    "column entry points a string": (dict(test=[TEST] * 2, fn="add", entry_point_column="fn"), r"^fn: is one str"),
}


@pytest.mark.parametrize("options, message", list(CASES.values()), ids=list(CASES))
def test_a_bad_argument_is_refused_before_any_program_runs(options, message):
    with pytest.raises(ValueError, match=message):
        code_reward([PROMPT] * 2, [RIGHT] * 2, workers=1, **options)


def test_prompts_of_another_length_are_refused():
    with pytest.raises(ValueError, match=r"^prompts: has 1 values for 2 completions"):
        code_reward([PROMPT], [RIGHT] * 2, test=[TEST] * 2, entry_point=["add"] * 2)


@pytest.mark.parametrize("prompts", [["Write add."], ["p"] * 3])
def test_completions_as_one_string_are_refused_by_name(prompts):
    """Until 2026-12-03 ``completions`` was measured by ``len`` unchecked: one string was read one completion a
    character, so the error blamed ``prompts`` (first case) or "abc" with 3 prompts was scored (second)."""
    with pytest.raises(ValueError, match=r"^completions: is one str .*completions=\[completion\]"):
        code_reward(prompts, "abc", test=["assert add(1, 2) == 3\n"] * len(prompts), workers=1)
