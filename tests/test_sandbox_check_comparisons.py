"""Comparisons the tests make outside ``assert`` statements are checked too (review 2026-12-03, review34 F):
``if l != [1, 2, 3]: raise AssertionError``, ``unittest``'s ``assertEqual`` and ``operator.eq`` passed a wrong
in-place sort that filled the list with always-equal objects (sandbox_cases.py, cases B)."""

import sys

import pytest

from treecredit.sandbox_check import run_check

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the sandbox is Linux/POSIX")

WRONG = ("class E:\n    def __eq__(self, o):\n        return True\n    def __ne__(self, o):\n        return False\n"
         "    def __lt__(self, o):\n        return True\n    def __gt__(self, o):\n        return False\n"
         "    __le__, __ge__ = __lt__, __gt__\n"
         "def sort_in_place(l):\n    l[:] = [E() for _ in l]\n")
RIGHT = "def sort_in_place(l):\n    l.sort()\n"
TESTS = {
    "if-raise": "def check(candidate):\n    l = [3, 1, 2]\n    candidate(l)\n    if l != [1, 2, 3]:\n"
                "        raise AssertionError\n",
    "unittest": "import unittest\ndef check(candidate):\n    l = [3, 1, 2]\n    candidate(l)\n"
                "    unittest.TestCase().assertEqual(l, [1, 2, 3])\n",
    "unittest-class": "import unittest\nclass T(unittest.TestCase):\n    def test(self):\n        l = [3, 1, 2]\n"
                      "        sort_in_place(l)\n        self.assertListEqual(l, [1, 2, 3], 'sorted')\n"
                      "        self.assertIn(1, l)\n        self.assertLess(l[0], l[1])\n"
                      "result = unittest.TestResult()\nT('test').run(result)\n"
                      "if result.failures or result.errors:\n"
                      "    raise AssertionError(result.failures + result.errors)\n",
    "operator-eq": "import operator\ndef check(candidate):\n    l = [3, 1, 2]\n    candidate(l)\n"
                   "    assert operator.eq(l, [1, 2, 3])\n",
    "from-operator": "from operator import eq as same\ndef check(candidate):\n    l = [3, 1, 2]\n    candidate(l)\n"
                     "    assert same(l, [1, 2, 3])\n",
    "while-helper": "def ordered(l):\n    i = 0\n    while i + 1 < len(l):\n        if l[i] > l[i + 1]:\n"
                    "            return False\n        i += 1\n    return True\n"
                    "def check(candidate):\n    l = [3, 1, 2]\n    candidate(l)\n"
                    "    assert ordered(l) and len(l) == 3\n",
}


@pytest.mark.parametrize("case", sorted(TESTS))
def test_comparisons_outside_asserts_check_their_operands(case):
    test = TESTS[case]
    entry = "sort_in_place"
    wrong = run_check(WRONG, test, entry, timeout=10)
    assert not wrong.passed, wrong.stderr[-300:]
    assert "holds an object of type 'E'" in wrong.stderr or "AssertionError" in wrong.stderr, wrong.stderr[-300:]
    right = run_check(RIGHT, test, entry, timeout=10)
    assert right.passed, right.stderr[-400:]


def test_tests_that_compare_sys_version_info_still_run():
    test = "import sys\nif sys.version_info >= (3, 8):\n    assert f(2) == 4\nassert sys.version_info[:1] == (3,)\n"
    assert run_check("def f(x):\n    return 2 * x\n", test, "f", timeout=10).passed
