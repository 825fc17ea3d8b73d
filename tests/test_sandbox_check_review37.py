"""review37 (2026-12-03): wrong programs that scored 1.0 by changing the check's own functions (1), unittest's
functions' code (2), raising the runner's own skip (3), or changing the tests' own classes and methods (4)."""

import sys

import pytest

from treecredit.rewards.code_unittest import with_runner
from treecredit.sandbox_check import run_check

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the sandbox is Linux/POSIX")
RIGHT = "def add(a, b):\n    return a + b\n"
CASES = ("import unittest\n\nclass T(unittest.TestCase):\n    def test_a(self):\n"
         "        self.assertEqual(add(1, 2), 3)\n    def test_b(self):\n        self.assertEqual(add(2, 2), 4)\n")
CHECK = "def check(candidate):\n    assert candidate(1, 2) == 3\n    assert candidate(2, 2) == 4\n"


def _unittest(program, test=CASES):
    return run_check(program, with_runner(test), None, timeout=20)


def test_3_a_program_cannot_raise_the_runner_s_own_skip():
    wrong = ("import unittest\ndef add(a, b):\n    for c in unittest.SkipTest.__subclasses__():\n"
             "        if c.__name__ == 'TestsSkipped':\n            raise c('x')\n    return 0\n")
    assert _unittest(RIGHT).passed
    assert not _unittest(wrong).passed


EVIL = "class Evil:\n    def __eq__(self, other):\n        return True\n    __hash__ = object.__hash__\n"
WIDEN = EVIL + '''
def _find():
    todo = [f for c in object.__subclasses__() if c.__name__ == "ClassStandIn" for f in vars(c).values()
            if callable(f)]
    seen = set()
    while todo:
        f = todo.pop()
        if id(f) in seen or not hasattr(f, "__closure__"):
            continue
        seen.add(id(f))
        for cell in f.__closure__ or ():
            try:
                v = cell.cell_contents
            except ValueError:
                continue
            if type(v) is tuple and bool in v and int in v and str in v:
                cell.cell_contents = v + (Evil,)
            elif callable(v) and hasattr(v, "__closure__"):
                todo.append(v)
def add(a, b):
    _find()
    return Evil()
'''
FAKE_TYPE = EVIL + '''
def _hack():
    for c in object.__subclasses__():
        if c.__name__ == "Same" and "__init__" in vars(c):
            for cell in c.__init__.__closure__ or ():
                if cell.cell_contents is type:
                    real = type
                    cell.cell_contents = lambda v, *r: (int if real(v) is Evil else real(v)) if not r else real(v, *r)
def add(a, b):
    _hack()
    return Evil()
'''


@pytest.mark.parametrize("wrong", [WIDEN, FAKE_TYPE], ids=["plain types widened", "the copies' type faked"])
def test_1_a_program_cannot_change_the_plain_data_check_s_own_cells(wrong):
    assert run_check(RIGHT, CHECK, "add", timeout=20).passed
    result = run_check(wrong, CHECK, "add", timeout=20)
    assert not result.passed and "changed the plain-data check's own functions" in result.stderr, result.stderr[-400:]


def test_2_a_program_cannot_empty_unittest_s_asserts_by_their_code():
    wrong = ("import unittest\ndef _noop(*a, **k):\n    pass\nfor k, v in list(vars(unittest.TestCase).items()):\n"
             "    if k.startswith('assert') and callable(v) and hasattr(v, '__code__'):\n"
             "        v.__code__ = _noop.__code__\ndef add(a, b):\n    return 0\n")
    result = _unittest(wrong)
    assert not result.passed and "changing __code__ of a library's function" in result.stderr


@pytest.mark.parametrize("change", [
    "v.__unittest_skip__ = True",
    "v.__code__ = (lambda self: None).__code__",
], ids=["skip mark", "code"])
def test_4_a_program_cannot_skip_or_empty_the_tests_own_methods(change):
    wrong = ("import unittest\ndef add(a, b):\n    for c in unittest.TestCase.__subclasses__():\n"
             "        for k, v in list(vars(c).items()):\n            if k.startswith('test') and callable(v):\n"
             f"                {change}\n    return a + b if a == 1 else 0\n")
    assert not _unittest(wrong).passed


def test_4_a_program_cannot_shadow_an_assert_on_the_tests_own_class():
    test = ("import unittest\nclass T(unittest.TestCase):\n    def test_a(self):\n        self.assertTrue(is_even(2))\n"
            "    def test_b(self):\n        self.assertFalse(is_even(3))\n        self.assertTrue(is_even(4))\n")
    wrong = ("import unittest\ndef is_even(n):\n    if n == 2:\n"
             "        noop = property(lambda self: (lambda *a, **k: None))\n"
             "        for c in unittest.TestCase.__subclasses__():\n"
             "            for k in ('assertTrue', 'assertFalse'):\n"
             "                setattr(c, k, noop)\n    return True\n")
    assert _unittest("def is_even(n):\n    return n % 2 == 0\n", test).passed
    assert not _unittest(wrong, test).passed


def test_a_class_attribute_set_up_class_gives_stays_for_each_test():
    test = ("import unittest\nclass T(unittest.TestCase):\n    @classmethod\n    def setUpClass(cls):\n"
            "        cls.test_dir = 'x'\n        cls.maxDiff = None\n    def test_a(self):\n"
            "        self.assertEqual(self.test_dir, 'x')\n        self.assertEqual(add(1, 2), 3)\n"
            "    def test_b(self):\n        self.assertEqual(self.test_dir, 'x')\n")
    assert _unittest(RIGHT, test).passed


def test_6_a_thread_refusal_is_not_said_to_be_the_plain_data_check_s(monkeypatch):
    import warnings

    from treecredit import sandbox_check

    monkeypatch.setattr(sandbox_check, "_PLAIN_WARNED", [])
    thread = ("PermissionError: sandbox: starting a thread is not allowed while the tests' comparisons are checked (a "
              "thread could change a value between its check and its comparison); for tests that need threads turn "
              "the check off: --reward code:plain_results=false (code_reward(..., plain_results=False))\n")
    plain = ("TypeError: sandbox: the program's function 'f' returned an object of type 'int64', which is not plain "
             "data; ... turn the check off: --reward code:plain_results=false\n")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        sandbox_check.warn_plain_refusal(thread)
        assert not caught
        sandbox_check.warn_plain_refusal(plain)
    assert len(caught) == 1 and "int64" in str(caught[0].message)
