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
    import treecredit.rewards.code_unittest as code_unittest
    from treecredit.sandbox_check import TEXT_LOCK

    real, held = code_unittest.unrun_test_cases, []
    monkeypatch.setattr(code_unittest, "unrun_test_cases", lambda test: held.append(TEXT_LOCK.locked()) or real(test))
    assert code_reward([PROMPT] * 2, [RIGHT, WRONG], test=[TEST] * 2, entry_point=["add"] * 2, workers=2) == [1.0, 0.0]
    assert held == [True, True]


@pytest.mark.parametrize("timeout", [10**400, -10**400, 10**5000], ids=["1e400", "-1e400", "1e5000"])
def test_a_huge_int_timeout_is_refused_by_name(timeout):
    """review37 8: timeout=10**400 raised OverflowError (math.isfinite), not a FixError naming timeout."""
    with pytest.raises(ValueError, match=r"^timeout: is .*must be a number of seconds per program .*code:timeout=10"):
        code_reward([PROMPT], [RIGHT], test=[TEST], entry_point=["add"], timeout=timeout)
