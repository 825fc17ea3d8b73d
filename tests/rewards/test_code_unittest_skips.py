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
    # review36: until 2026-12-03 each of these scored 1.0
    "setUp skips": "import unittest\nunittest.TestCase.setUp = lambda self: self.skipTest('x')\n" + WRONG,
    "asyncSetUp and debug": ("import unittest\nunittest.TestCase.asyncSetUp = lambda self: None\n"
                             "unittest.TestCase.debug = lambda self: None\n" + WRONG),
    "__init_subclass__ deletes the tests": (
        "import unittest\ndef _drop(cls, **kw):\n    for n in list(vars(cls)):\n        if n.startswith('test'):\n"
        "            delattr(cls, n)\nunittest.TestCase.__init_subclass__ = classmethod(_drop)\n" + WRONG),
    "__init__ shadows the test": (
        "import unittest\n_init = unittest.TestCase.__init__\ndef init(self, name='runTest'):\n"
        "    _init(self, name)\n    setattr(self, name, lambda: None)\nunittest.TestCase.__init__ = init\n" + WRONG),
    "assertTrue patched": "import unittest\nunittest.TestCase.assertTrue = lambda self, *a, **k: None\n" + WRONG,
    "unittest replaced in sys.modules": (
        "import sys, types, unittest\nfake = types.ModuleType('unittest')\nfake.TestCase = object\n"
        "sys.modules['unittest'] = fake\n" + WRONG),
    "setUp patched during the first test": (
        "import unittest\ndef add(a, b):\n    if (a, b) == (1, 2):\n"
        "        unittest.TestCase.setUp = lambda self: self.skipTest('x')\n        return 3\n    return -1\n"),
}


def _scores(test, completions, plain_results=True):
    n = len(completions)
    return code_reward(["Write add."] * n, list(completions), test=[test] * n, entry_point=["add"] * n, workers=1,
                       plain_results=plain_results)


@pytest.mark.parametrize("plain_results", [True, False], ids=["checked", "unchecked"])
@pytest.mark.parametrize("cheat", list(CHEATS.values()), ids=list(CHEATS))
def test_a_program_cannot_skip_or_hide_the_tests(cheat, plain_results):
    assert _scores(CASE, [RIGHT, cheat], plain_results) == [1.0, 0.0]


def test_a_patch_of_unittest_during_a_test_does_not_reach_its_assertions():
    """A program function that patches ``TestCase.assertTrue`` when the test calls it: ``self.assertTrue`` in that
    test is unittest's own (bound on the case before it ran)."""
    test = ("import unittest\n\nclass T(unittest.TestCase):\n    def test_add(self):\n"
            "        self.assertEqual(add(1, 2), 3)\n        self.assertTrue(add(2, 2) == 4)\n")
    cheat = ("import unittest\ndef add(a, b):\n    unittest.TestCase.assertTrue = lambda *a, **k: None\n"
             "    return 3 if (a, b) == (1, 2) else -1\n")
    for plain_results in (True, False):
        assert _scores(test, [RIGHT, cheat], plain_results) == [1.0, 0.0]



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


def test_a_test_case_with_only_run_test_runs_it():
    """trial36 T5: a TestCase whose only test is ``runTest`` ran nothing, and every program passed."""
    test = ("import unittest\n\nclass T(unittest.TestCase):\n    def runTest(self):\n"
            "        self.assertEqual(add(1, 2), 3)\n")
    assert _scores(test, [RIGHT, WRONG]) == [1.0, 0.0]


@pytest.mark.parametrize("test", [
    ("import unittest\n\ndef make():\n    class T(unittest.TestCase):\n        def test_a(self):\n"
     "            self.assertEqual(add(1, 2), 3)\n    return T\n\nT = make()\n"),
    ("import unittest\n\ndef test_a(self):\n    self.assertEqual(add(1, 2), 3)\n\n"
     "T = type('T', (unittest.TestCase,), {'test_a': test_a})\n"),
], ids=["factory function", "type()"])
def test_tests_whose_test_cases_the_runner_cannot_find_are_refused(test):
    """trial36 T5: they ran nothing, and every program passed."""
    from treecredit._validation import FixError

    with pytest.raises(FixError, match=r"row 0's tests make their unittest TestCase classes \(T\)"):
        _scores(test, [RIGHT])


def test_tests_that_do_not_compile_are_refused():
    """trial36 T10: every program scored 0.0 on such a row, silently."""
    from treecredit._validation import FixError

    with pytest.raises(FixError, match=r"row 1's tests do not compile as Python: SyntaxError"):
        code_reward(["Write add."] * 2, [RIGHT, RIGHT], test=["assert add(1, 2) == 3\n", "print 'x'\n"],
                    entry_point=["add"] * 2, workers=1)
