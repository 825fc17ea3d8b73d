"""unittest-style tests: a skip counts only where the tests ask for it, and the program cannot choose which tests
run (until 2026-12-03 a program that raised ``unittest.SkipTest``, marked ``unittest.TestCase`` skipped or
expected to fail, or patched ``unittest.TestLoader`` or ``TestCase.debug`` scored 1.0 while wrong; a class the
tests skipped in ``setUpClass`` failed a right program; a ``TestCase`` imported under another name was refused)."""

import sys

import pytest

from treecredit.rewards import code_reward

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the sandbox is Linux/POSIX")

RIGHT = "def add(a, b):\n    return a + b\n"
WRONG = "def add(a, b):\n    return -1\n"
CASE = ("import unittest\n\nclass TestCases(unittest.TestCase):\n    def test_add(self):\n"
        "        self.assertEqual(add(1, 2), 3)\n\n    def test_zero(self):\n        self.assertEqual(add(0, 0), 0)\n")
CHEATS = {
    "SkipTest raised by the program": "import unittest\ndef add(a, b):\n    raise unittest.SkipTest('no')\n",
    "a SkipTest subclass": ("import unittest\nclass S(unittest.SkipTest):\n    pass\n"
                            "def add(a, b):\n    raise S('no')\n"),
    "TestCase marked skipped": "import unittest\nunittest.TestCase.__unittest_skip__ = True\n" + WRONG,
    "TestCase expected to fail": ("import unittest\nunittest.TestCase.__unittest_expecting_failure__ = True\n"
                                  + WRONG),
    "loader patched": "import unittest\nunittest.TestLoader.getTestCaseNames = lambda self, cls: []\n" + WRONG,
    "debug patched": "import unittest\nunittest.TestCase.debug = lambda self: None\n" + WRONG,
    "setUpClass patched": ("import unittest\ndef _skip(cls):\n    raise unittest.SkipTest('no')\n"
                           "unittest.TestCase.setUpClass = classmethod(_skip)\n" + WRONG),
}


def _scores(test, completions):
    n = len(completions)
    return code_reward(["Write add."] * n, list(completions), test=[test] * n, entry_point=["add"] * n, workers=1)


@pytest.mark.parametrize("cheat", list(CHEATS.values()), ids=list(CHEATS))
def test_a_program_cannot_skip_or_hide_the_tests(cheat):
    assert _scores(CASE, [RIGHT, cheat]) == [1.0, 0.0]


def test_skips_the_tests_ask_for_count_and_run_nothing():
    test = ("import unittest\n\n@unittest.skip('later')\nclass Skipped(unittest.TestCase):\n    def test_a(self):\n"
            "        self.fail()\n\nclass Base(unittest.TestCase):\n    pass\n\n@unittest.skipIf(True, 'x')\n"
            "class Inherits(Base):\n    def test_b(self):\n        self.fail()\n\n"
            "class SetUpSkip(unittest.TestCase):\n    @classmethod\n    def setUpClass(cls):\n"
            "        raise unittest.SkipTest('needs network')\n    def test_c(self):\n        self.fail()\n\n"
            "class Calls(unittest.TestCase):\n    def test_d(self):\n        self.skipTest('not here')\n"
            "        self.fail()\n\n    @unittest.skip('no')\n    def test_e(self):\n        self.fail()\n\n"
            "    def test_f(self):\n        self.assertEqual(add(2, 2), 4)\n")
    assert _scores(test, [RIGHT, WRONG]) == [1.0, 0.0]


def test_tests_that_skip_everything_pass_every_program():
    test = "import unittest\n\nclass T(unittest.TestCase):\n    def test_a(self):\n        self.skipTest('off')\n"
    assert _scores(test, [RIGHT, WRONG]) == [1.0, 1.0]


def test_a_skip_test_from_a_function_set_up_class_calls_fails():
    test = ("import unittest\n\nclass T(unittest.TestCase):\n    @classmethod\n    def setUpClass(cls):\n"
            "        add(1, 2)\n    def test_a(self):\n        self.assertEqual(add(1, 2), 3)\n")
    skips = "import unittest\ndef add(a, b):\n    raise unittest.SkipTest('no')\n"
    assert _scores(test, [RIGHT, skips]) == [1.0, 0.0]


@pytest.mark.parametrize("header", ["from unittest import TestCase as Base\n",
                                    "import unittest\nBase = unittest.TestCase\n",
                                    "from unittest import TestCase as Case\nBase = Case\n"],
                         ids=["import as", "assigned", "assigned alias"])
def test_a_test_case_under_another_name_runs(header):
    test = header + "\nclass T(Base):\n    def test_a(self):\n        self.assertEqual(add(1, 2), 3)\n"
    assert _scores(test, [RIGHT, WRONG]) == [1.0, 0.0]


def test_the_refusal_of_tests_that_call_nothing_reads_as_a_sentence():
    from treecredit.rewards.code_tests import refuse_uncalled_tests

    said = str(refuse_uncalled_tests("def helper():\n    pass\n"))
    assert "Fix: name the tests' function check(candidate)" in said and "pass name" not in said
