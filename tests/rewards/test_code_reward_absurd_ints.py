"""fixC (2026-12-03): an absurd int in any argument of ``code_reward`` is the refusal naming that argument, not
Python's ValueError ("Exceeds the limit (4300 digits) for integer string conversion", from the message's repr)."""

import pytest

from treecredit._validation import FixError
from treecredit.rewards.code import code_reward

BIG = 10**5000
ROW = {"prompts": ["def f(x):"], "completions": ["    return x\n"], "test": ["assert f(1) == 1\n"],
       "entry_point": ["f"]}
CASES = {  # id -> (the arguments changed, the argument the refusal names, a word of its message)
    "workers=-10**5000": ({"workers": -BIG}, "workers", "negative int"),
    "workers=-10**400": ({"workers": -10**400}, "workers", "whole number"),
    "timeout=-10**5000": ({"timeout": -BIG}, "timeout", "negative int"),
    "timeout=[10**5000]": ({"timeout": [BIG]}, "timeout", "list"),
    "plain_results=10**5000": ({"plain_results": BIG}, "plain_results", "True or False"),
    "entry_point_column=10**5000": ({"entry_point_column": BIG}, "entry_point_column", "int"),
    "a row's entry point": ({"entry_point": [BIG]}, "entry_point", "not a Python name"),
    "a row's tests": ({"test": [BIG]}, "test", "source text"),
    "a row's tests as a list": ({"test": [[BIG]]}, "test", "source text"),
    "a row's completion": ({"completions": [BIG]}, "completions", "not text"),
    "a row's prompt": ({"prompts": [BIG]}, "prompts", "not text"),
    "a row's prompt, a small int": ({"prompts": [3]}, "prompts", "not text"),
    "a tests column": ({"test": None, "tests": [BIG]}, "test", "'tests'"),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_an_absurd_int_is_refused_naming_the_argument(case):
    changed, argument, word = CASES[case]
    with pytest.raises(FixError) as error:
        code_reward(**{**ROW, **changed})
    assert error.value.argument == argument and word in str(error.value), str(error.value)
