"""Always-equal objects placed where the tests compare, after the return-time plain-data check (into an
argument, a dict the tests pass, a list returned earlier), score 0.0: in plain-results mode (the default) the
tests' asserts compare only plain data (:mod:`treecredit.sandbox_compare`, wired in by
:func:`treecredit.sandbox_check.run_check`)."""

import sys

import pytest

from treecredit.rewards import code_reward
from treecredit.sandbox_check import run_check

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the sandbox is Linux/POSIX")

ALWAYS = "class E:\n    def __eq__(s, o):\n        return True\n"


def test_an_argument_filled_with_always_equal_objects_fails():
    # was: [1.0] (the program returns None, plain; the test then compared the list it had filled)
    wrong = f"```python\n{ALWAYS}def s(l):\n    l[:] = [E(), E(), E()]\n```"
    right = "```python\ndef s(l):\n    l.sort()\n```"
    test = "l=[3,1,2]\ns(l)\nassert l==[1,2,3]\n"
    assert code_reward(["p", "p"], [wrong, right], test=[test] * 2, entry_point=["s"] * 2) == [0.0, 1.0]


def test_a_dict_the_check_passes_in_filled_with_an_always_equal_value_fails():
    wrong = f"```python\n{ALWAYS}def fill(d):\n    d['a'] = E()\n```"
    right = "```python\ndef fill(d):\n    d['a'] = 1\n```"
    test = "def check(c):\n    d = {}\n    c(d)\n    assert d == {'a': 1}\n"
    assert code_reward(["p", "p"], [wrong, right], test=[test] * 2, entry_point=["fill"] * 2) == [0.0, 1.0]


def test_a_returned_list_changed_by_the_next_call_fails():
    wrong = (f"```python\n{ALWAYS}_last = []\n\ndef f(x):\n    global _last\n    if _last:\n        _last[0] = E()\n"
             "    _last = [x * 0]\n    return _last\n```")
    right = "```python\ndef f(x):\n    return [x]\n```"
    test = "def check(c):\n    a = c(1)\n    b = c(2)\n    assert a == [1]\n    assert b == [2] or b == [0]\n"
    assert code_reward(["p", "p"], [wrong, right], test=[test] * 2, entry_point=["f"] * 2) == [0.0, 1.0]


def test_the_failure_says_why_and_points_at_the_tests_line():
    program = f"{ALWAYS}def s(l):\n    l[:] = [E()]\n"
    result = run_check(program, "l = [1]\ns(l)\n\nassert l == [2]\n", "s")
    assert not result.passed
    assert 'test.py", line 4' in result.stderr, result.stderr[-600:]
    said = "the left operand of `==` holds an object of type 'E', which is not plain data"
    assert said in result.stderr, result.stderr[-600:]


def test_a_program_global_named_like_the_comparison_does_not_replace_it():
    from treecredit.sandbox_compare import COMPARE

    program = f"{ALWAYS}def {COMPARE}(*a, **k):\n    return True\ndef s(l):\n    l[:] = [E()]\n"
    assert not run_check(program, "l = [1]\ns(l)\nassert l == [2]\n", "s").passed


def test_without_plain_results_the_tests_run_as_written():
    program = f"{ALWAYS}def s(l):\n    l[:] = [E()]\n"
    assert run_check(program, "l = [1]\ns(l)\nassert l == [2]\n", "s", plain_results=False).passed


@pytest.mark.parametrize("body", ["    yield from range(n)", "    return map(int, range(n))",
                                  "    return filter(lambda x: x >= 0, range(n))", "    return zip(range(n))"])
def test_a_lazy_result_the_tests_consume_is_checked_value_by_value(body):
    # was: 0.0 for every lazy result (the return-time check refused the generator itself)
    right = f"```python\ndef g(n):\n{body}\n```"
    want = "[(0,), (1,), (2,)]" if "zip" in body else "[0, 1, 2]"
    assert code_reward(["p"], [right], test=[f"assert list(g(3)) == {want}\n"], entry_point=["g"]) == [1.0]


def test_a_lazy_result_yielding_always_equal_objects_fails_also_outside_an_assert():
    wrong = f"```python\n{ALWAYS}def g(n):\n    for _ in range(n):\n        yield E()\n```"
    outside = "if list(g(2)) != [0, 1]:\n    raise AssertionError('wrong')\n"  # not rewritten: no assert
    inside = "assert list(g(2)) == [0, 1]\n"
    assert code_reward(["p", "p"], [wrong, wrong], test=[outside, inside], entry_point=["g"] * 2) == [0.0, 0.0]
