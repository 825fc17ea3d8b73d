"""A row without an entry point whose tests reach no name of the program (``assert max([1, 5, 2]) == 5``: the
tests see the real builtins) is refused before any program runs: every program, ``pass`` included, would score
1.0."""

import sys

import pytest

from treecredit._validation import FixError
from treecredit.rewards import code_reward
from treecredit.rewards.code_tests import reaches_no_program_name

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the sandbox is Linux/POSIX")


def test_tests_that_call_only_builtins_are_refused_naming_the_column():
    # was: [1.0, 1.0] for a right program and for `pass`
    with pytest.raises(FixError, match=r"use only builtins.*no 'entry_point' value.*score 1\.0.*Fix: pass "
                                       r"code_reward\(\.\.\., entry_point_column='fn'\)"):
        code_reward(["Write max.", "Write max."], ["def max(l):\n    return 5\n", "pass\n"],
                    test=["assert max([1, 5, 2]) == 5\n"] * 2, fn=["max"] * 2)


@pytest.mark.parametrize("test,idle", [
    ("assert max([1, 5, 2]) == 5\n", True),
    ("import math\nfor i in range(3):\n    assert math.sqrt(i * i) == i\n", True),
    ("x = [1]\nassert [y for y in x] == [1]\n", True),
    ("assert add(1, 2) == 3\n", False),
    ("assert RESULT == 5\n", False),
    ("def helper(solution):\n    return solution(1)\nassert helper(solution) == 2\n", False),
    ("def check(c):\n    assert c(1) == 2\ncheck(f)\n", False),
    ("assert globals()['f'](1) == 2\n", False),  # reaches the program's namespace by itself
    ("import __main__\nassert __main__.f(1) == 2\n", False),
    ("assert (\n", False),  # does not parse: the run fails on its own
])
def test_which_tests_reach_no_program_name(test, idle):
    assert reaches_no_program_name(test) is idle


def test_tests_that_call_the_program_by_name_still_run_without_an_entry_point():
    assert code_reward(["p", "p"], ["def add(a, b):\n    return a + b\n", "def add(a, b):\n    return 0\n"],
                       test=["assert add(1, 2) == 3\n"] * 2) == [1.0, 0.0]
