"""Tests that end by exiting (``sys.exit(0)``, ``exit()``, ``raise SystemExit``) failed every program until
2026-12-03: the harness counted any ``SystemExit`` as a failure. Now the tests' own top-level exit with status
0 or None is their end (``treecredit.sandbox_exits``); any other status fails; and a program that exits, early or
from the function the tests call, still fails (it must not pass by skipping the tests)."""

import sys

import pytest

from treecredit.rewards.code import code_reward
from treecredit.sandbox_check import run_check
from treecredit.sandbox_exits import rewrite_exits

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the sandbox is Linux/POSIX")
RIGHT = "def add(a, b):\n    return a + b\n"
WRONG = "def add(a, b):\n    return 0\n"
ASSERTS = "assert add(2, 3) == 5\nassert add(10, -1) == 9\n"
ENDINGS = {
    "sys.exit(0)": "import sys\n" + ASSERTS + "sys.exit(0)\n",
    "sys.exit()": "import sys\n" + ASSERTS + "sys.exit()\n",
    "sys.exit(False)": "import sys as system\n" + ASSERTS + "system.exit(False)\n",
    "raise SystemExit(0)": ASSERTS + "raise SystemExit(0)\n",
    "raise SystemExit": ASSERTS + "raise SystemExit\n",
    "exit()": ASSERTS + "exit()\n",
    "quit(0)": ASSERTS + "quit(0)\n",
    "from sys import exit": "from sys import exit as leave\n" + ASSERTS + "leave(0)\n",
    "main guard": "import sys\nif __name__ == '__main__':\n    " + ASSERTS.replace("\n", "\n    ") + "sys.exit(0)\n",
    "counted": ("import sys\nfailures = 0\nfor a, b, want in [(2, 3, 5), (10, -1, 9)]:\n"
                "    if add(a, b) != want:\n        failures += 1\nsys.exit(0 if failures == 0 else 1)\n"),
    "try-else": ("import sys\ntry:\n    " + ASSERTS.replace("\n", "\n    ") + "sys.exit(0)\n"
                 "except AssertionError:\n    sys.exit(1)\n"),
}


@pytest.mark.parametrize("test", list(ENDINGS.values()), ids=list(ENDINGS))
def test_tests_that_end_by_exiting_with_status_zero_pass_a_right_program_only(test):
    result = run_check(RIGHT, test, None, timeout=10)
    assert result.passed, result.stderr[-400:]
    assert not run_check(WRONG, test, None, timeout=10).passed
    assert run_check(RIGHT, test, "add", timeout=10).passed


@pytest.mark.parametrize("ending", ["import sys\nsys.exit(1)\n", "raise SystemExit(2)\n", "exit('failed')\n",
                                    "import sys\nsys.exit(0, 1)\n"])
def test_an_exit_with_another_status_fails(ending):
    result = run_check(RIGHT, ASSERTS + ending, None, timeout=10)
    assert not result.passed and "TestsExited" in result.stderr, result.stderr[-400:]


@pytest.mark.parametrize("program", [
    "import sys\nsys.exit(0)\n" + WRONG,
    "import sys\ndef add(a, b):\n    sys.exit(0)\n",
    "def add(a, b):\n    raise SystemExit(0)\n",
    "def add(a, b):\n    exit()\n",
    "import sys\ndef add(a, b):\n    sys.exit = lambda *a: None\n    raise SystemExit\n",
], ids=["top-level", "sys.exit-in-function", "raise-in-function", "exit-in-function", "patched-sys.exit"])
def test_a_program_that_exits_never_skips_the_tests(program):
    for test in (ENDINGS["sys.exit(0)"], ENDINGS["exit()"], ENDINGS["counted"]):
        result = run_check(program, test, None, timeout=10)
        assert not result.passed, (program, test, result.stderr[-300:])


def test_check_is_still_called_after_the_tests_exit():
    test = "import sys\ndef check(candidate):\n    assert candidate(2, 3) == 5\nsys.exit(0)\n"
    assert run_check(RIGHT, test, "add", timeout=10).passed
    assert not run_check(WRONG, test, "add", timeout=10).passed


def test_exits_outside_the_tests_top_level_still_fail():
    """A function of the tests may be handed to the program, so an exit in one is not the tests' end; nor is
    one inside `with` or `finally` (documented in treecredit.sandbox_exits)."""
    for test in ("import sys\ndef main():\n    " + ASSERTS.replace("\n", "\n    ") + "sys.exit(0)\nmain()\n",
                 "import sys, contextlib\nwith contextlib.nullcontext():\n    sys.exit(0)\n",
                 "import sys\ntry:\n    pass\nfinally:\n    sys.exit(0)\n"):
        assert not run_check(RIGHT, test, None, timeout=10).passed, test


def test_rewrite_keeps_lines_and_leaves_the_tests_own_exit_function():
    text = "def exit(code):\n    pass\nimport sys\nexit(0)\nsys.exit(\n    0)\n"
    out = rewrite_exits(text, "('S')")
    assert out == "def exit(code):\n    pass\nimport sys\nexit(0)\n('S')(\n    0)\n"
    assert rewrite_exits("sys.exit(0\n", "('S')") == "sys.exit(0\n"  # (does not parse: unchanged)


def test_the_code_reward_scores_tests_that_end_by_exiting():
    answers = ["```python\n" + RIGHT + "```", "```python\n" + WRONG + "```"]
    test = ENDINGS["sys.exit(0)"]
    assert code_reward(["Write add."] * 2, answers, test=[test] * 2, workers=1) == [1.0, 0.0]


def test_tests_that_exit_with_a_status_are_not_said_to_assert_nothing():
    from treecredit.rewards.code_tests import asserts_nothing

    assert not asserts_nothing(ENDINGS["counted"])
    assert asserts_nothing("print(add(1, 2))\n") and asserts_nothing("import sys\nprint(add(1, 2))\nsys.exit()\n")


def test_an_exit_with_status_zero_is_not_an_assertion():
    from treecredit.rewards.code_tests import asserts_nothing

    for ending in ("sys.exit(0)", "sys.exit(None)", "exit(False)", "raise SystemExit(0)", "raise SystemExit"):
        assert asserts_nothing(f"import sys\nprint(add(1, 2))\n{ending}\n"), ending
    for ending in ("sys.exit(1)", "sys.exit(failures)", "exit('failed')", "raise SystemExit(1)", "sys.exit(0.0)"):
        assert not asserts_nothing(f"import sys\nfailures = 0\nprint(add(1, 2))\n{ending}\n"), ending
