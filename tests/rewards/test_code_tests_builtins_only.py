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
    # review34 E: a class body's names are not visible in its methods (builtins_only.py), nor in a comprehension
    # there but for its first iterable; a default value is read in the enclosing scope
    ("class T:\n    double = None\n    def run(self):\n        assert double(2) == 4\nT().run()\n", False),
    ("class T:\n    f = 1\n    y = [f for _ in range(1)]\n", False),
    ("def g(double=double):\n    return double\nassert g() == 2\n", False),
    ("class T:\n    x = 1\n    assert x == 1\n", True),
    ("class T:\n    xs = [1]\n    ys = [y for y in xs]\n", True),
    ("def g(x):\n    return [x for _ in range(2)]\nassert g(1) == [1, 1]\n", True),
])
def test_which_tests_reach_no_program_name(test, idle):
    assert reaches_no_program_name(test) is idle


def test_tests_that_call_the_program_by_name_still_run_without_an_entry_point():
    assert code_reward(["p", "p"], ["def add(a, b):\n    return a + b\n", "def add(a, b):\n    return 0\n"],
                       test=["assert add(1, 2) == 3\n"] * 2) == [1.0, 0.0]


def test_a_method_that_calls_the_program_by_name_in_a_class_with_that_name_runs():
    """review34 E (builtins_only.py): refused as builtins-only, though the program's function is called."""
    test = "class T:\n    double = None\n    def run(self):\n        assert double(2) == 4\nT().run()\n"
    assert code_reward(["p", "p"], ["def double(x):\n    return 2 * x\n", "def double(x):\n    return x\n"],
                       test=[test] * 2) == [1.0, 0.0]
