"""The tests' checked comparison cannot be rebound by a program that is handed a function of the tests: the
rewritten tests call it as a constant of their code objects, not by a global name (trial34, finding 3), and
the program may not read those code objects while the tests run, so it cannot set the comparison's closure
cells either (trial35 finding 3, review35)."""

import sys

import pytest

from treecredit.sandbox_check import run_check

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the sandbox is Linux/POSIX")

SWAP = "    {reach}.__globals__['__treecredit_compare__'] = lambda *a, **k: True\n"


@pytest.mark.parametrize("program, test, entry", [
    ("def sort_by(xs, key):\n" + SWAP.format(reach="key") + "    return []\n",
     "assert sort_by([(1, 'b'), (2, 'a')], key=lambda p: p[1]) == [(2, 'a'), (1, 'b')]\n", "sort_by"),
    ("def depth(node):\n" + SWAP.format(reach="type(node).__init__") + "    return -1\n",
     "class Node:\n    def __init__(self, left=None, right=None):\n        self.left, self.right = left, right\n"
     "assert depth(Node(Node(), Node(Node()))) == 3\n", "depth"),
    # the first comparison answered right, the swap made then: every later one must still be checked
    ("def sort_by(xs, key):\n" + SWAP.format(reach="key") + "    return sorted(xs, key=key) if len(xs) == 2 else []\n",
     "assert sort_by([(1, 'b'), (2, 'a')], key=lambda p: p[1]) == [(2, 'a'), (1, 'b')]\n"
     "assert sort_by([(1, 'c'), (2, 'b'), (3, 'a')], key=lambda p: p[1]) == [(3, 'a'), (2, 'b'), (1, 'c')]\n",
     "sort_by"),
], ids=["key-function", "tests-class", "swapped-after-first"])
def test_a_program_cannot_rebind_the_checked_comparison_through_a_tests_function(program, test, entry):
    assert not run_check(program, test, entry, timeout=20).passed


def test_a_correct_program_handed_a_tests_function_still_passes():
    program = "def sort_by(xs, key):\n    return sorted(xs, key=key)\n"
    test = ("assert sort_by([(1, 'b'), (2, 'a')], key=lambda p: p[1]) == [(2, 'a'), (1, 'b')]\n"
            "if sort_by([3, 1], key=lambda v: -v) != [3, 1]:\n    raise AssertionError\n")
    result = run_check(program, test, "sort_by", timeout=20)
    assert result.passed, result


HELPER_TEST = ("def expected(xs):\n    return sorted(xs, key=lambda p: p[1])\n"
               "xs = [(1, 'b'), (2, 'a')]\nassert sort_by(xs, key=lambda p: p[1]) == expected(xs)\n")


@pytest.mark.xfail(strict=True, reason="a documented limit (treecredit.sandbox_check's docstring): a program "
                   "handed a function of the tests can rebind the tests' other names through its __globals__, a "
                   "plain dict that the tests' own code reads by name (no audit event, no constant can stand for "
                   "a function the tests make at run time)")
@pytest.mark.parametrize("rebind", [
    "key.__globals__['expected'] = lambda xs: []",
], ids=["name"])
def test_a_program_cannot_rebind_the_tests_own_helpers(rebind):
    program = f"def sort_by(xs, key):\n    {rebind}\n    return []\n"
    assert not run_check(program, HELPER_TEST, "sort_by", timeout=20).passed


def test_a_program_cannot_change_the_code_of_a_tests_helper():
    """The "code" case of the limit above, closed since 2026-12-03 (review37 4c): the verdict hook refuses setting
    the __code__, __defaults__ or __kwdefaults__ of a function of the tests."""
    program = ("def sort_by(xs, key):\n    key.__globals__['expected'].__code__ = (lambda xs: []).__code__\n"
               "    return []\n")
    result = run_check(program, HELPER_TEST, "sort_by", timeout=20)
    assert not result.passed and "changing __code__ of a function of the tests" in result.stderr


# (sets the comparison's cell `one`, the function that compares two operands, to an always-true one: before
# 2026-12-03 each program below passed with it)
KILL = ("def _kill(code):\n    for c in code.co_consts:\n        if hasattr(c, 'co_consts'):\n            _kill(c)\n"
        "        elif callable(c) and getattr(c, '__closure__', None):\n"
        "            for n, cell in zip(c.__code__.co_freevars, c.__closure__):\n"
        "                if n == 'one':\n                    cell.cell_contents = lambda op, a, b: True\n")


@pytest.mark.parametrize("program, test, entry", [
    (KILL + "def sort_by(xs, key):\n    _kill(key.__globals__['check'].__code__)\n    return [0]\n",
     "def check(candidate):\n    assert candidate([3, 1, 2], key=lambda x: x) == [1, 2, 3]\n"
     "    assert candidate([5, 4], key=lambda x: -x) == [5, 4]\n", "sort_by"),
    (KILL + "def add(a, b):\n    import unittest\n    for cls in unittest.TestCase.__subclasses__():\n"
     "        for v in vars(cls).values():\n            if hasattr(v, '__code__'):\n                _kill(v.__code__)\n"
     "    return 0\n",
     "import unittest\nclass T(unittest.TestCase):\n    def test_a(self):\n        self.assertEqual(add(1, 2), 3)\n"
     "    def test_b(self):\n        self.assertEqual(add(2, 2), 4)\n"
     "_treecredit = [T('test_a').test_a(), T('test_b').test_b()]\n", "add"),
    (KILL + "def total(xs):\n    if type(xs).__name__ == 'generator':\n        _kill(xs.gi_code)\n    return 0\n",
     "assert total(x for x in [1, 2] if x > 0) == 3\nassert total([1]) == 1\n", "total"),
], ids=["key-function code", "unittest subclasses", "generator code"])
def test_a_program_cannot_set_the_checked_comparisons_closure_cells(program, test, entry):
    """The comparison is a constant of the tests' code objects, and its closure cells can be set: reading a
    tests' function's __code__ (or a generator's gi_code) is refused while the tests run (until 2026-12-03 a
    program set a cell to an always-true function, and every later comparison passed)."""
    result = run_check(program, test, entry, timeout=20)
    assert not result.passed
    assert "reading the code of a function of the tests is not allowed" in result.stderr
