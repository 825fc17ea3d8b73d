"""unittest-style tests run their ``TestCase`` classes, each failure failing the program (until 2026-12-03 tests
without a runner ran nothing, so every program scored 1.0; ``unittest.main()`` failed every program by its
``SystemExit``; ``unittest.main(exit=False)`` found no tests and passed every program). Tests that reach the
program only through ``sys.modules['__main__']`` are not refused as "builtins only" (until 2026-12-03 they were)."""

import sys

import pytest

from treecredit.rewards import code_reward
from treecredit.rewards.code_unittest import with_runner

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the sandbox is Linux/POSIX")

RIGHT = "```python\ndef add(a, b):\n    return a + b\n```"
WRONG = "```python\ndef add(a, b):\n    return a - b\n```"
RAISES = "```python\ndef add(a, b):\n    raise ValueError('no')\n```"
NOTHING = "```python\npass\n```"
CASE = ("import unittest\n\nclass TestCases(unittest.TestCase):\n    def test_add(self):\n"
        "        self.assertEqual(add(1, 2), 3)\n")
ENDINGS = {"no runner": "", "unittest.main()": "\nif __name__ == '__main__':\n    unittest.main()\n",
           "unittest.main(exit=False)": "\nunittest.main(exit=False)\n",
           "main over lines": "\nunittest.main(\n    argv=['x'],\n    exit=False,\n)\n",
           "from unittest import main": "\nfrom unittest import main\nmain()\n"}


def _scores(test, completions=(RIGHT, WRONG, RAISES, NOTHING), entry=True):
    n = len(completions)
    return code_reward(["Write add."] * n, list(completions), test=[test] * n,
                       entry_point=["add"] * n if entry else None, workers=1)


@pytest.mark.parametrize("entry", [True, False], ids=["entry point", "no entry point"])
@pytest.mark.parametrize("ending", list(ENDINGS.values()), ids=list(ENDINGS))
def test_unittest_classes_run_and_a_failure_fails(ending, entry):
    assert _scores(CASE + ending, entry=entry) == [1.0, 0.0, 0.0, 0.0]


def test_assert_raises_subtests_fixtures_skips_and_expected_failures_work():
    test = ("import unittest\n\nclass Base(unittest.TestCase):\n    @classmethod\n    def setUpClass(cls):\n"
            "        cls.pairs = [(1, 2, 3), (2, 2, 4)]\n\n    def setUp(self):\n        self.ready = True\n\n"
            "class TestAdd(Base):\n    def test_pairs(self):\n        for a, b, c in self.pairs:\n"
            "            with self.subTest(a=a):\n                self.assertEqual(add(a, b), c)\n\n"
            "    def test_raises(self):\n        self.assertTrue(self.ready)\n"
            "        with self.assertRaises(TypeError):\n            add(1, 'a')\n\n"
            "    @unittest.skip('not now')\n    def test_skipped(self):\n        self.fail()\n\n"
            "    @unittest.expectedFailure\n    def test_known_bad(self):\n        self.assertEqual(add(1, 1), 3)\n")
    assert _scores(test) == [1.0, 0.0, 0.0, 0.0]


def test_a_failing_test_in_a_second_class_fails():
    test = CASE + ("\n\nclass More(unittest.TestCase):\n    def test_more(self):\n"
                   "        self.assertEqual(add(2, 2), 4)\n")
    only_first = "```python\ndef add(a, b):\n    return 3\n```"
    assert _scores(test, (RIGHT, only_first)) == [1.0, 0.0]


def test_the_runner_keeps_line_numbers_and_leaves_other_tests_alone():
    test = CASE + "\nunittest.main(\n    exit=False)\nx = 1\n"
    rewritten = with_runner(test)
    assert rewritten.split("\n")[:len(test.split("\n")) - 1] == test.replace(
        "unittest.main(\n    exit=False)", "(None\n)").split("\n")[:-1]
    plain = "def check(candidate):\n    assert candidate(1, 2) == 3\n"
    assert with_runner(plain) == plain and with_runner("def broken(:\n") == "def broken(:\n"


def test_tests_that_define_only_a_helper_are_refused_with_an_entry_point():
    with pytest.raises(ValueError, match=r"^test: the row's tests only define things \(helper\) and nothing calls"):
        _scores("def helper(f):\n    assert f(1, 2) == 3\n")


@pytest.mark.parametrize("test", ["import sys\nassert sys.modules['__main__'].add(1, 2) == 3\n",
                                  "import importlib\nassert importlib.import_module('__main__').add(1, 2) == 3\n"],
                         ids=["sys.modules", "import_module"])
def test_tests_that_reach_the_program_through_main_are_run(test):
    assert _scores(test, (RIGHT, WRONG), entry=False) == [1.0, 0.0]


def test_tests_of_builtins_inside_a_main_guard_are_still_refused():
    with pytest.raises(ValueError, match=r"^entry_point_column: the row's tests use only builtins"):
        _scores("if __name__ == '__main__':\n    assert max([1, 5]) == 5\n", entry=False)


GUARDED = {  # TestCase classes defined inside a top-level block: they did not run before 2026-12-03
    "main guard": "import unittest\nif __name__ == '__main__':\n" + "\n".join(
        "    " + line for line in CASE.split("\n")[2:]) + "\n    unittest.main()\n",
    "if True": "import unittest\nif True:\n" + "\n".join("    " + line for line in CASE.split("\n")[2:]) + "\n",
    "try": "import unittest\ntry:\n" + "\n".join("    " + line for line in CASE.split("\n")[2:])
           + "\nexcept ImportError:\n    pass\n",
}


@pytest.mark.parametrize("test", list(GUARDED.values()), ids=list(GUARDED))
def test_test_cases_defined_inside_a_top_level_block_run(test):
    assert _scores(test) == [1.0, 0.0, 0.0, 0.0]
    assert _scores(test, entry=False) == [1.0, 0.0, 0.0, 0.0]


def test_a_block_that_does_not_run_defines_no_test_case():
    test = CASE + ("\nif False:\n    class Never(unittest.TestCase):\n        def test_x(self):\n"
                   "            self.fail()\n")
    assert _scores(test, (RIGHT, WRONG)) == [1.0, 0.0]


@pytest.mark.parametrize("ending", ["\nimport sys\nsys.exit(0)\n", "\nraise SystemExit\n",
                                    "\nif __name__ == '__main__':\n    unittest.main(exit=False)\n"
                                    "    exit(\n        0)\n"],
                         ids=["sys.exit(0)", "raise SystemExit", "exit(0) in main guard"])
def test_a_zero_exit_after_test_cases_does_not_skip_them(ending):
    """With the tests' own exits counted as their end (treecredit.sandbox_exits), a `sys.exit(0)` after the
    classes would end the tests before the appended runner: it does not (every program passed so)."""
    assert _scores(CASE + ending) == [1.0, 0.0, 0.0, 0.0]
    lines = with_runner(CASE + ending).split("\n")  # (lines keep their numbers: the runner comes after them)
    assert lines.index("def _treecredit_run_unittest(classes, required, set_up, tear_down):") == len(
        (CASE + ending).rstrip("\n").split("\n")) + 2


def test_a_nonzero_exit_after_test_cases_fails():
    assert _scores(CASE + "\nimport sys\nsys.exit(1)\n", (RIGHT,)) == [0.0]


def test_a_program_that_replaces_sys_exit_still_fails_a_counted_exit():
    """Tests with a TestCase class that exit with their count of failures: the nonzero exit is the tests' own
    SystemExit, not ``sys.exit``, which the program may replace (until 2026-12-03 it was, and such a wrong program
    passed)."""
    cheat = "```python\nimport sys\nsys.exit = lambda *args: None\ndef add(a, b):\n    return -1\n```"
    test = ("import sys, unittest\n\nclass T(unittest.TestCase):\n    def test_type(self):\n"
            "        self.assertTrue(callable(add))\n\nfailures = 0\nif add(2, 2) != 4:\n    failures += 1\n"
            "sys.exit(failures)\n")
    assert _scores(test, (RIGHT, cheat)) == [1.0, 0.0]
    assert _scores(CASE + "\nimport sys\nsys.exit(0, 1)\n", (RIGHT,)) == [0.0]
