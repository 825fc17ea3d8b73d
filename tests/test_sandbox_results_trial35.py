"""What the wrapper of the program's functions (treecredit.sandbox_results) passes on to the tests (trial35,
2026-12-03): a ``StopIteration`` escaping the program becomes a ``RuntimeError``, and the candidate has the
function's name and docstring."""

import sys

import pytest

from treecredit.rewards.code_unittest import with_runner
from treecredit.sandbox_check import run_check

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the sandbox is Linux/POSIX")

NEXT_WITHOUT_DEFAULT = ("def find_index(l, target):\n"
                        "    return next(i for i, v in enumerate(l) if v == target)\n")
MAP_LOOPS = {
    "check": ("def check(candidate):\n    cases = [(([1, 2, 3], 2), 1), (([1, 2, 3], 5), -1)]\n"
              "    for got, want in zip(map(lambda c: candidate(*c[0]), cases), [w for _, w in cases]):\n"
              "        assert got == want, (got, want)\n", "find_index"),
    "asserts": ("for got, want in zip(map(find_index, [[1, 2], [1, 2]], [2, 5]), [1, -1]):\n"
                "    assert got == want\n", None),
}


@pytest.mark.parametrize("style", sorted(MAP_LOOPS))
def test_a_stopiteration_from_the_program_does_not_end_the_tests_loop(style):
    """trial35 f2: ``next(gen)`` running out inside the program raised StopIteration, which silently ended the
    tests' ``for ... in map(candidate, ...)`` loop before its failing assert: a wrong program passed."""
    test, entry = MAP_LOOPS[style]
    result = run_check(NEXT_WITHOUT_DEFAULT, test, entry, timeout=10)
    assert not result.passed
    assert "StopIteration" in result.stderr


def test_a_stopiteration_the_tests_expect_reaches_them():
    """trial36 T3: the wrapper turned every StopIteration into a RuntimeError, so tests that expect one
    (``assertRaises(StopIteration)``, ``except StopIteration``) failed a right program."""
    take = "def take_next(it):\n    return next(it)\n"
    tests = {"except": ("try:\n    take_next(iter([]))\nexcept StopIteration:\n    pass\nelse:\n"
                        "    assert False\nassert take_next(iter([4])) == 4\n", None),
             "check": ("def check(candidate):\n    try:\n        candidate(iter([]))\n    except StopIteration:\n"
                       "        pass\n    else:\n        assert False\n", "take_next"),
             "assertRaises": ("import unittest\nclass T(unittest.TestCase):\n    def test_a(self):\n"
                              "        with self.assertRaises(StopIteration):\n            take_next(iter([]))\n",
                              None)}
    for test, entry in tests.values():
        assert run_check(take, with_runner(test), entry, timeout=10).passed


METHOD_LOOPS = {  # review36 f3, trial36 T6: a method of the program's object, not wrapped, still ended the loop
    "asserts": ("for got, want in zip(map(lambda x: Solution().double(x), [1, 2, 3]), [2, 4, 6]):\n"
                "    assert got == want\n", None),
    "check": ("def check(candidate):\n    s = candidate()\n    for got, want in zip(map(s.double, [1, 2, 3]), "
              "[2, 4, 6]):\n        assert got == want\n", "Solution"),
    "filter": ("assert list(filter(lambda x: Solution().double(x) > 2, [1, 2, 3])) == [2, 3]\n", None),
}


@pytest.mark.parametrize("style", sorted(METHOD_LOOPS))
def test_a_stopiteration_from_a_method_does_not_end_the_tests_loop(style):
    right = "class Solution:\n    def double(self, x):\n        return 2 * x\n"
    wrong = ("class Solution:\n    def double(self, x):\n        if x == 1:\n            return 2\n"
             "        return next(iter([]))\n")
    test, entry = METHOD_LOOPS[style]
    assert run_check(right, test, entry, timeout=10).passed
    result = run_check(wrong, test, entry, timeout=10)
    assert not result.passed and "StopIteration" in result.stderr


def test_the_candidate_has_the_functions_name_and_docstring():
    """trial35 f8: the candidate passed to ``check`` was the wrapper itself, named 'candidate' with no docstring;
    it is still a wrapper (its results are checked), not the program's function."""
    test = ("def check(candidate):\n    assert candidate.__name__ == 'f' and candidate.__qualname__ == 'f'\n"
            "    assert candidate.__doc__ == 'doc'\n    assert not hasattr(candidate, '__wrapped__')\n"
            "    assert candidate(1) == 1\n")
    assert run_check("def f(x, y=2):\n    'doc'\n    return x\n", test, "f", timeout=10).passed
