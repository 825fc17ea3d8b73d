"""review37's findings on the ``code`` reward's own modules (rewards/code.py, code_args.py, code_tests.py): each
test failed before its fix."""

import pytest

from treecredit.rewards import code_reward

PROMPT = 'def add(a, b):\n    """Add."""\n'
TEST = "def check(candidate):\n    assert candidate(1, 2) == 3\n"
RIGHT = "    return a + b\n"
WRONG = "    return a - b\n"


def test_a_parser_race_in_the_runners_parse_is_tried_again(monkeypatch):
    """review37 7: with_runner's parse (CPython 3.11's SystemError 'AST constructor recursion depth mismatch', a
    race with a parse in another thread) sat outside run_tests' retry: the whole batch raised."""
    import treecredit.rewards.code_unittest as code_unittest
    from treecredit.rewards.code import run_tests

    real, calls = code_unittest.with_runner, []

    def racing(test):
        calls.append(1)
        if len(calls) == 1:
            raise SystemError("AST constructor recursion depth mismatch (before=30, after=24)")
        return real(test)

    monkeypatch.setattr(code_unittest, "with_runner", racing)
    assert run_tests("def add(a, b):\n    return a + b\n", "assert add(1, 2) == 3 # runner race\n", "add") is True
    assert len(calls) == 2


def test_the_rows_parses_hold_the_text_lock(monkeypatch):
    """review37 7: code_reward's own parses of the rows' tests (unrun_test_cases, with_runner, runs_nothing, ...)
    ran without sandbox_check.TEXT_LOCK, so another code_reward call's workers could race with them."""
    import treecredit.rewards.code_unittest_classes as classes
    from treecredit.sandbox_check import TEXT_LOCK

    real, held = classes.unrun_test_cases, []
    monkeypatch.setattr(classes, "unrun_test_cases", lambda test: held.append(TEXT_LOCK.locked()) or real(test))
    assert code_reward([PROMPT] * 2, [RIGHT, WRONG], test=[TEST] * 2, entry_point=["add"] * 2, workers=2) == [1.0, 0.0]
    assert held == [True, True]


@pytest.mark.parametrize("timeout", [10**400, -10**400, 10**5000], ids=["1e400", "-1e400", "1e5000"])
def test_a_huge_int_timeout_is_refused_by_name(timeout):
    """review37 8: timeout=10**400 raised OverflowError (math.isfinite), not a FixError naming timeout."""
    with pytest.raises(ValueError, match=r"^timeout: is .*must be a number of seconds per program .*code:timeout=10"):
        code_reward([PROMPT], [RIGHT], test=[TEST], entry_point=["add"], timeout=timeout)


@pytest.mark.parametrize("column, value, fix", [
    ("tests", TEST, r"test=tests .*rename_column\('tests', 'test'\)"),
    ("test_list", ["assert add(1, 2) == 3", "assert add(2, 2) == 4"], r"'\\n'\.join\(row\['test_list'\]\)"),
], ids=["tests", "test_list"])
def test_tests_under_another_column_are_refused_by_name(monkeypatch, column, value, fix):
    """review37 9: code_reward(P, C, tests=[...]) (the column misnamed) or MBPP's test_list gave [None] per row
    without a word: every row unscored."""
    import treecredit.sandbox_check

    monkeypatch.setattr(treecredit.sandbox_check, "run_check", lambda *a, **k: pytest.fail("a program ran"))
    with pytest.raises(ValueError, match=rf"^test: no row has tests .*the column {column!r} holds them.*Fix: .*{fix}"):
        code_reward([PROMPT] * 2, [RIGHT] * 2, entry_point=["add"] * 2, **{column: [value] * 2})


@pytest.mark.parametrize("column, value, fix", [
    ("tests", TEST, r"row\['test'\] or row\['tests'\]"),
    ("test_list", ["assert add(1, 2) == 3", "assert add(2, 2) == 4"], r"'\\n'\.join\(row\['test_list'\]\)"),
], ids=["tests", "test_list"])
def test_some_rows_with_tests_under_another_column_warn_by_name(column, value, fix):
    """fixC: the refusal above fired only when every row lacked ``test``; a batch where some rows have their tests
    under another column (two datasets joined) left those rows unscored without a word. Now a warning names the
    column; the rows with ``test`` are scored as before."""
    with pytest.warns(UserWarning, match=rf"no tests in the column 'test'.*the column {column!r} holds.*{fix}"):
        out = code_reward([PROMPT] * 2, [RIGHT] * 2, test=[TEST, None], entry_point=["add"] * 2,
                          **{column: [None, value]})
    assert out == [1.0, None]


def test_no_warning_where_the_other_column_is_empty_on_the_rows_without_tests(recwarn):
    assert code_reward([PROMPT] * 2, [RIGHT] * 2, test=[TEST, None], entry_point=["add"] * 2,
                       tests=[TEST, None]) == [1.0, None]
    assert not [w for w in recwarn if "column 'test'" in str(w.message)]


def test_rows_without_tests_and_no_other_test_column_stay_unscored():
    assert code_reward([PROMPT] * 2, [RIGHT] * 2, entry_point=["add"] * 2, other=["x", "y"]) == [None, None]
    assert code_reward([PROMPT] * 2, [RIGHT] * 2, entry_point=["add"] * 2, tests=[None, None]) == [None, None]


def test_a_missing_value_as_pandas_writes_it_is_a_row_without_tests():
    """review37 9: a pandas NaN for a row's missing tests (and entry point) refused the whole batch as "tests are
    a float ('nan')", whereas None leaves that row unscored."""
    np = pytest.importorskip("numpy")
    pd = pytest.importorskip("pandas")
    tests = [TEST, float("nan"), np.float64("nan"), np.float32("nan"), pd.NA]
    entries = ["add", float("nan"), "add", np.nan, None]
    assert code_reward([PROMPT] * 5, [RIGHT, RIGHT, RIGHT, WRONG, WRONG], test=tests, entry_point=entries,
                       workers=1) == [1.0, None, None, None, None]
    frame = pd.DataFrame({"test": [TEST, np.nan], "entry_point": ["add", np.nan]})
    assert code_reward([PROMPT] * 2, [WRONG] * 2, test=frame["test"], entry_point=frame["entry_point"],
                       workers=1) == [0.0, None]


ADD_RIGHT = "```python\ndef add(a, b):\n    return a + b\n```"
ADD_WRONG = "```python\ndef add(a, b):\n    return a - b\n```"
CHECK_A = "    def check_a(self):\n        self.assertEqual(add(1, 2), 3)\n"
PREFIXED = ("import unittest\n\nclass T(unittest.TestCase):\n" + CHECK_A
            + "\nloader = unittest.TestLoader()\nloader.testMethodPrefix = 'check'\n")
UNFOLLOWED = {
    "types.new_class": ("import types, unittest\n\ndef body(ns):\n    ns['test_a'] = lambda self: self.assertEqual("
                        "add(1, 2), 3)\n\nT = types.new_class('T', (unittest.TestCase,), exec_body=body)\n"),
    "exec": ("import unittest\n\nexec('class T(unittest.TestCase):\\n    def test_a(self):\\n'\n"
             "     '        self.assertEqual(add(1, 2), 3)\\n')\n"),
    "testMethodPrefix with unittest.main": PREFIXED + "unittest.main(testLoader=loader)\n",
    "testMethodPrefix under a main guard": (PREFIXED + "if __name__ == '__main__':\n"
                                            "    unittest.main(testLoader=loader)\n"),
    "testMethodPrefix in a loader class": ("import unittest\n\nclass T(unittest.TestCase):\n" + CHECK_A
                                           + "\nclass L(unittest.TestLoader):\n    testMethodPrefix = 'check'\n\n"
                                           "unittest.main(testLoader=L())\n"),
    "load_tests": ("import unittest\n\ndef t():\n    assert add(1, 2) == 3\n\ndef load_tests(loader, tests, pattern):\n"
                   "    return unittest.TestSuite([unittest.FunctionTestCase(t)])\n\nunittest.main()\n"),
}


@pytest.mark.parametrize("test", list(UNFOLLOWED.values()), ids=list(UNFOLLOWED))
def test_unittest_tests_the_runner_does_not_follow_are_refused(test):
    """fixW's item 3 (review36/trial36 T5's other forms): TestCase classes made by types.new_class or exec, a
    loader's testMethodPrefix, a load_tests hook: the runner ran none of their tests, and a wrong program scored
    1.0 (the ones here did before)."""
    with pytest.raises(ValueError, match=r"^test: row 0's tests make or pick their unittest tests by .*which the "
                                         r"runner does not follow.*Fix: define the TestCase classes"):
        code_reward(["Write add."] * 2, [ADD_RIGHT, ADD_WRONG], test=[test] * 2, entry_point=["add"] * 2, workers=1)


@pytest.mark.parametrize("test", [
    "import unittest, re\n\nclass T(unittest.TestCase):\n    def test_a(self):\n"
    "        self.assertEqual(add(1, 2), 3)\n\n\nPATTERN = re.compile('TestCase')\n"
    "loader = unittest.TestLoader()\nloader.testMethodPrefix = 'test'\n",
    "import unittest\n\nclass T(unittest.TestCase):\n    def test_a(self):\n        self.assertEqual(add(1, 2), 3)\n\n"
    "def load_tests(loader, tests, pattern):\n    return tests\n\nexec('x = \"TestCase\"')\n",
], ids=["re.compile and the default prefix", "load_tests beside a class the runner runs"])
def test_unittest_tests_the_runner_follows_still_run(test):
    assert code_reward(["Write add."] * 2, [ADD_RIGHT, ADD_WRONG], test=[test] * 2, entry_point=["add"] * 2,
                       workers=1) == [1.0, 0.0]


def test_a_lone_surrogate_in_a_code_prompt_is_refused_by_name():
    """fixW's item 4: a lone surrogate in a HumanEval-style prompt (the program is prompt + completion) made the
    prompt fail to parse, so it was read as an instruction and every completion scored 0.0 without a word."""
    prompt = 'def add(a, b):\n    """Add \udcff."""\n'
    with pytest.raises(ValueError, match=r"^prompts: row 1's prompt holds a lone surrogate \('\\udcff' at character "
                                         r"26.*every completion would score 0\.0\. Fix: mend the row's text"):
        code_reward([PROMPT, prompt], [RIGHT, RIGHT], test=[TEST] * 2, entry_point=["add"] * 2, workers=1)


def test_a_lone_surrogate_in_an_instruction_prompt_does_nothing():
    """An instruction is never part of the program: its lone surrogate does not matter."""
    block = "```python\ndef add(a, b):\n    return a + b\n```"
    assert code_reward(["Write add \udcff.", PROMPT], [block, RIGHT], test=[TEST] * 2, entry_point=["add"] * 2,
                       workers=1) == [1.0, 1.0]


def test_tests_under_another_column_that_are_not_source_get_a_fix_that_fits(monkeypatch):
    """A 'tests' column of input/output pairs is not Python source: the fix is not a join of asserts."""
    with pytest.raises(ValueError, match=r"^test: no row has tests .*'tests' holds them \(dict .*Fix: put each row's "
                                         r"tests, as Python source text .* in the column 'test'\.$"):
        code_reward([PROMPT], [RIGHT], entry_point=["add"], tests=[{"input": ["1 2"], "output": ["3"]}])
