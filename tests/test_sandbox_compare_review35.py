"""The checked comparisons (review35 5, 6, 7, 9, 10): ``assertSequenceEqual`` compares item by item whatever
the sequence types, ``x in d.values()`` works, plain data of C types is compared without a copy, a test nested
too deeply fails its row instead of the batch, and a chained comparison in a class body's default value sees
the class's names."""

from __future__ import annotations

import sys

import pytest

from test_sandbox_compare import AlwaysEqual
from treecredit.sandbox_check import run_check
from treecredit.sandbox_compare import COMPARE, make_compare
from treecredit.sandbox_rewrite import TOO_DEEP, rewrite_comparisons

linux = pytest.mark.skipif(sys.platform != "linux", reason="the sandbox is Linux/POSIX")


def _run(test: str, **names) -> dict:
    namespace = {COMPARE: make_compare(), **names}
    exec(compile(rewrite_comparisons(test), "t", "exec"), namespace)
    return namespace


SEQUENCE = ("import unittest\nclass T(unittest.TestCase):\n    def test(self):\n"
            "        self.assertSequenceEqual(got, expected)\nT('test').debug()\n")


@pytest.mark.parametrize("got, expected", [([1, 3], (1, 3)), ((1, 3), [1, 3]), ("ab", ["a", "b"]), ([1], [1])])
def test_assert_sequence_equal_compares_items_whatever_the_types(got, expected):
    # was: rewritten as `==`, so a correct program's [1, 3] failed against the tests' (1, 3)
    _run(SEQUENCE, got=got, expected=expected)


@pytest.mark.parametrize("got, expected", [([1, 3], (1, 4)), ([1, 3], (1, 3, 5)), ([AlwaysEqual()], (1,))])
def test_assert_sequence_equal_still_fails_what_differs_or_is_not_plain(got, expected):
    with pytest.raises(AssertionError):
        _run(SEQUENCE, got=got, expected=expected)


def test_membership_in_a_dicts_values():
    # was: the values view became an identity stand-in: TypeError "argument of type 'Same' is not iterable"
    compare = make_compare()
    assert compare(("in",), 2, {"a": 1, "b": 2}.values()) and compare(("not in",), 3, {"a": 1}.values())
    with pytest.raises(AssertionError, match="right operand of `in` holds an object of type 'AlwaysEqual'"):
        compare(("in",), 2, {"a": AlwaysEqual()}.values())


@linux
def test_membership_in_a_dicts_values_in_the_sandbox():
    tests = "def check(candidate):\n    d = candidate(['a', 'bb'])\n    assert 2 in d.values()\n"
    right = "def lengths(words):\n    return {w: len(w) for w in words}\n"
    result = run_check(right, tests, "lengths", timeout=10)
    assert result.passed, result.stderr[-400:]


def _python_calls(function) -> int:
    """How many Python-level function calls ``function()`` makes."""
    calls = 0

    def count(frame, event, arg):
        nonlocal calls
        calls += event == "call"

    sys.setprofile(count)
    try:
        function()
    finally:
        sys.setprofile(None)
    return calls


@pytest.mark.parametrize("container", [set(range(5000)), list(range(5000)), {i: str(i) for i in range(5000)},
                                       frozenset(map(str, range(5000))), tuple([1, "a", None, 2.0] * 1000)])
def test_plain_data_of_c_types_is_compared_without_a_copy(container):
    # was: each comparison copied both operands item by item in Python (20,000 `assert i * i in squares` on a
    # 20,000-set timed out); now they are checked by C code and compared as they are
    compare = make_compare()
    assert compare(("in",), 7, container) == (7 in container)
    assert _python_calls(lambda: compare(("in",), 7, container)) < 50
    assert _python_calls(lambda: compare(("==",), container, container)) < 50


@pytest.mark.parametrize("container", [[1, AlwaysEqual()], {1, AlwaysEqual()}, {1: AlwaysEqual()},
                                       {AlwaysEqual(): 1}, (1, [AlwaysEqual()])])
def test_the_fast_path_lets_no_object_of_the_programs_through(container):
    with pytest.raises(AssertionError, match="holds an object of type 'AlwaysEqual'"):
        make_compare()(("in",), 2, container)


def test_a_deep_expression_without_a_comparison_is_rewritten():
    # was: the recursive visitor raised RecursionError, and code_reward stopped for the whole batch
    test = "TOTAL = " + " + ".join(["1"] * 1500) + "\nassert TOTAL == 1500\n"
    namespace = _run(test)
    assert namespace["TOTAL"] == 1500


def test_a_comparison_nested_too_deeply_fails_its_row_saying_why():
    test = "assert 1500 == " + " + ".join(["1"] * 1500) + "\n"
    assert rewrite_comparisons(test) == TOO_DEEP
    with pytest.raises(AssertionError, match="nest a comparison too deeply .* code:plain_results=false"):
        _run(test)


@pytest.mark.parametrize("test", [
    "class T:\n    LIMIT = 3\n    def f(self, ok=0 < 1 < LIMIT):\n        return ok\nassert T().f()\n",
    "class T:\n    LIMIT = 3\n    def f(self, *, ok=0 < 1 < LIMIT):\n        return ok\nassert T().f()\n",
    "def mark(flag):\n    return lambda f: f\nclass T:\n    LIMIT = 3\n    @mark(0 < 1 < LIMIT)\n"
    "    def f(self):\n        return True\nassert T().f()\n",
])
def test_a_chain_in_a_class_bodys_default_or_decorator_sees_the_class_names(test):
    # was: the function's scope was entered before its defaults and decorators, so the chain's third operand
    # became `lambda: (LIMIT)`, which cannot see the class's names (NameError)
    _run(test)
