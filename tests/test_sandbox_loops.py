"""With ``plain_results=False`` too, a ``StopIteration`` raised by the program does not silently end the tests'
``for ... in map(candidate, ...)`` loop (:mod:`treecredit.sandbox_loops`): until 2026-12-03 only the check's
rewrite of the tests made their ``map``/``filter`` calls draw from a generator, and with the check off a wrong
program whose ``next()`` ran out passed."""

import ast
import sys

import pytest

from treecredit.rewards.code_unittest import with_runner
from treecredit.sandbox_loops import rewrite_loops

NEXT_WITHOUT_DEFAULT = ("def find_index(l, target):\n"
                        "    return next(i for i, v in enumerate(l) if v == target)\n")
RIGHT = "def find_index(l, target):\n    return next((i for i, v in enumerate(l) if v == target), -1)\n"
LOOPS = {
    "check": ("def check(candidate):\n    cases = [(([1, 2, 3], 2), 1), (([1, 2, 3], 5), -1)]\n"
              "    for got, want in zip(map(lambda c: candidate(*c[0]), cases), [w for _, w in cases]):\n"
              "        assert got == want, (got, want)\n", "find_index"),
    "asserts": ("for got, want in zip(map(find_index, [[1, 2], [1, 2]], [2, 5]), [1, -1]):\n"
                "    assert got == want\n", None),
    "filter": ("assert list(filter(lambda t: find_index([1, 2], t) >= 0, [2, 5])) == [2]\n", None),
}


@pytest.mark.skipif(sys.platform != "linux", reason="the sandbox is Linux/POSIX")
@pytest.mark.parametrize("style", sorted(LOOPS))
def test_without_the_check_a_stopiteration_does_not_end_the_tests_loop(style):
    from treecredit.sandbox_check import run_check

    test, entry = LOOPS[style]
    wrong = run_check(NEXT_WITHOUT_DEFAULT, test, entry, timeout=10, plain_results=False)
    assert not wrong.passed and "StopIteration" in wrong.stderr  # was: passed
    assert run_check(RIGHT, test, entry, timeout=10, plain_results=False).passed


@pytest.mark.skipif(sys.platform != "linux", reason="the sandbox is Linux/POSIX")
def test_without_the_check_a_stopiteration_the_tests_expect_still_reaches_them():
    from treecredit.sandbox_check import run_check

    take = "def take_next(it):\n    return next(it)\n"
    test = ("import unittest\nclass T(unittest.TestCase):\n    def test_a(self):\n"
            "        with self.assertRaises(StopIteration):\n            take_next(iter([]))\n"
            "        self.assertEqual(list(map(take_next, [iter([1]), iter([2])])), [1, 2])\n")
    assert run_check(take, with_runner(test), None, timeout=10, plain_results=False).passed


def test_the_rewrite_keeps_lines_and_leaves_what_it_cannot_rewrite():
    test = "xs = list(map(f,\n  [1, 2]))\nys = list(filter(None, [0, 1]))\ns = f'{map(f, [1])}'\n"
    out = rewrite_loops(test)
    assert out.count("\n") == test.count("\n") and "_treecredit_f" in out.split("\n")[0]
    assert "filter(" not in out.split("\n")[2] and out.split("\n")[3] == test.split("\n")[3]  # (f-string: as is)
    ast.parse(out)
    env = {"f": lambda x: x * 2}
    exec(compile(out, "t", "exec"), env)
    assert env["xs"] == [2, 4] and env["ys"] == [1]
    bound = "def map(f, xs):\n    return xs\n\nassert map(abs, [-1]) == [-1]\n"
    assert rewrite_loops(bound) == bound  # the tests' own map: theirs
    assert rewrite_loops("assert (\n") == "assert (\n"  # does not parse: as is
