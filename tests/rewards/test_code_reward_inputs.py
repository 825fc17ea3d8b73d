"""The ``code`` reward refuses bad arguments before any program runs, naming the argument and the fix (until
2026-12-03 a string ``test`` or ``entry_point`` was read one character per completion, a short ``test`` list left
the rest unscored, and ``timeout="abc"`` raised Python's own message)."""

import pytest

from treecredit.rewards import code_reward

PROMPT = 'def add(a, b):\n    """Add."""\n'
TEST = "def check(candidate):\n    assert candidate(1, 2) == 3\n"
RIGHT = "    return a + b\n"


@pytest.fixture(autouse=True)
def no_program_runs(monkeypatch):
    """Every case is refused before any program runs."""
    import treecredit.sandbox_check

    def refuse(*args, **kwargs):
        raise AssertionError("a program ran")

    monkeypatch.setattr(treecredit.sandbox_check, "run_check", refuse)


CASES = {
    "test a string": (dict(test=TEST, entry_point=["add"]), r"^test: is one str .*Fix: pass test=\[value\] \* len"),
    "entry_point a string": (dict(test=[TEST] * 2, entry_point="add"), r"^entry_point: is one str \('add'\).*Fix:"),
    "test shorter": (dict(test=[TEST], entry_point=["add", "add"]), r"^test: has 1 values for 2 completions.*Fix:"),
    "entry points longer": (dict(test=[TEST, TEST], entry_point=["add"] * 3), r"^entry_point: has 3 values for 2"),
    "timeout not a number": (dict(test=[TEST] * 2, entry_point=["add"] * 2, timeout="abc"),
                             r"^timeout: is 'abc', must be a number of seconds .*code:timeout=10"),
    "timeout 0": (dict(test=[TEST] * 2, entry_point=["add"] * 2, timeout=0), r"^timeout: is 0, must be"),
    # trial35 f16: 1e20 passed as "finite > 0", then the sandbox could not set its CPU limit: every program 0
    "timeout huge": (dict(test=[TEST] * 2, entry_point=["add"] * 2, timeout=1e20),
                     r"^timeout: is 1e\+20, must be a number of seconds per program with 0 < timeout <= 86400"),
    "plain_results a string": (dict(test=[TEST] * 2, entry_point=["add"] * 2, plain_results="false"),
                               r"^plain_results: is 'false', must be True or False"),
    "tests a list of asserts": (dict(test=[["assert add(1, 2) == 3"]] * 2),
                                r"^test: row 0's tests are a list .*'\\n'\.join\(t\)"),
    "entry point not a name": (dict(test=[TEST] * 2, entry_point=["add", "add(a, b)"]),
                               r"^entry_point: row 1's value 'add\(a, b\)' is not a Python name"),
    "column entry points a string": (dict(test=[TEST] * 2, fn="add", entry_point_column="fn"), r"^fn: is one str"),
}


@pytest.mark.parametrize("options, message", list(CASES.values()), ids=list(CASES))
def test_a_bad_argument_is_refused_before_any_program_runs(options, message):
    with pytest.raises(ValueError, match=message):
        code_reward([PROMPT] * 2, [RIGHT] * 2, workers=1, **options)


def test_prompts_of_another_length_are_refused():
    with pytest.raises(ValueError, match=r"^prompts: has 1 values for 2 completions"):
        code_reward([PROMPT], [RIGHT] * 2, test=[TEST] * 2, entry_point=["add"] * 2)


@pytest.mark.parametrize("prompts", [["Write add."], ["p"] * 3])
def test_completions_as_one_string_are_refused_by_name(prompts):
    """Until 2026-12-03 ``completions`` was measured by ``len`` unchecked: one string was read one completion a
    character, so the error blamed ``prompts`` (first case) or "abc" with 3 prompts was scored (second)."""
    with pytest.raises(ValueError, match=r"^completions: is one str .*completions=\[completion\]"):
        code_reward(prompts, "abc", test=["assert add(1, 2) == 3\n"] * len(prompts), workers=1)


def test_numpy_strings_are_taken_as_plain_text(monkeypatch):
    """trial35 f5: ``entry_point=np.array(["add", "add"])`` (np.str_, a str subclass) passed the checks and its
    repr ``np.str_('add')`` reached the sandbox's boot code, where every program failed with a NameError."""
    np = pytest.importorskip("numpy")
    import treecredit.rewards.code as code

    seen = []
    monkeypatch.setattr(code, "run_tests", lambda program, test, entry, *rest: seen.append((test, entry)) or True)
    assert code_reward([PROMPT] * 2, [RIGHT] * 2, test=np.array([TEST] * 2), entry_point=np.array(["add"] * 2),
                       workers=1) == [1.0, 1.0]
    assert [(type(t), type(e)) for t, e in seen] == [(str, str)] * 2


def test_a_sandbox_that_cannot_start_is_an_error_not_a_zero(monkeypatch):
    """trial35 f16: a program the sandbox could not start scored 0.0, so every program scored 0 silently."""
    import treecredit.sandbox_check
    from treecredit.sandbox import SandboxResult

    monkeypatch.setattr(treecredit.sandbox_check, "run_check", lambda *a, **k: SandboxResult(
        False, None, False, "", "sandbox: could not start (Exception occurred in preexec_fn.)", 0.0, ()))
    with pytest.raises(RuntimeError, match=r"^code reward: sandbox: could not start \(Exception occurred"):
        code_reward([PROMPT], ["    return a - b  # trial35 f16\n"], test=[TEST], entry_point=["add"], workers=1)
