"""Asserts whose comparisons check their operands (:mod:`treecredit.sandbox_compare`), on their own: the
rewrite of a test's text and the checked comparison, run here in-process (the sandbox wires them together)."""

from __future__ import annotations

import ast
import math
import traceback

import pytest

from treecredit.sandbox_compare import COMPARE, compare_source, make_compare
from treecredit.sandbox_rewrite import rewrite_comparisons


class AlwaysEqual:
    def __eq__(self, other):
        return True

    def __ne__(self, other):
        return False

    __hash__ = object.__hash__


class Int(int):
    def __eq__(self, other):
        return True

    __hash__ = int.__hash__


def _run(test: str, **names) -> dict:
    """Exec the rewritten ``test`` with the checked comparison bound; its namespace."""
    namespace = {COMPARE: make_compare(), **names}
    exec(compile(rewrite_comparisons(test), "test.py", "exec"), namespace)
    return namespace


@pytest.mark.parametrize("test", [
    "assert [1, 2, 3] == [1, 2, 3]",
    "assert {'a': 1} == {'a': 1} != {'a': 2}",
    "assert 1 < 2 <= 2 < 3 > 0 >= 0",
    "assert 2 in [1, 2] and 3 not in (1, 2) and 'a' in {'a': 1} and 1 in {1} and 'b' in 'abc'",
    "assert (1, (2.5, 'x')) == (1, (2.5, 'x')) and frozenset({1}) == {1}",
    "assert None is None and len([]) is not None",
    "assert not (1 == 2)",
    "assert (1 == 1) == True",
    "assert all(x * 2 == y for x, y in [(1, 2), (2, 4)])",
    "assert sorted([3, 1, 2]) == [1, 2, 3]",
    "assert type(1) == int and abs(0.1 + 0.2 - 0.3) < 1e-9",
    "assert b'ab' == b'ab' and 1j == complex(0, 1)",
    "x = float('nan')\nassert [x] == [x] and x != x and not x == x",
    "def f(a):\n    return a\nassert f([1,\n          2]) == [1, 2]  # spans lines\n",
])
def test_plain_data_compares_as_python_does(test):
    _run(test)


@pytest.mark.parametrize("test", [
    "assert [1, 2] == [2, 1]",
    "assert 1 < 2 < 1",
    "assert 3 in [1, 2]",
    "assert {'a': 1} == {'a': 2}",
])
def test_a_false_comparison_still_fails(test):
    with pytest.raises(AssertionError):
        _run(test)


@pytest.mark.parametrize("test,side,kind", [
    ("l = [3, 1, 2]\nl[:] = [E(), E(), E()]\nassert l == [1, 2, 3]", "left", "AlwaysEqual"),
    ("d = {}\nd['a'] = E()\nassert d == {'a': 1}", "left", "AlwaysEqual"),
    ("assert [1, 2] == E()", "right", "AlwaysEqual"),
    ("assert 1 < 2 == E()", "right", "AlwaysEqual"),
    ("assert E() in [1]", "left", "AlwaysEqual"),
    ("assert 1 in [E()]", "right", "AlwaysEqual"),
    ("assert [(1, {'k': {E()}})] != []", "left", "AlwaysEqual"),
    ("assert I(5) == 4", "left", "Int"),  # a subclass of a plain type is not plain
    ("assert all(x == 1 for x in [E(), E()])", "left", "AlwaysEqual"),
])
def test_an_operand_that_is_not_plain_data_fails_the_assert(test, side, kind):
    with pytest.raises(AssertionError, match=rf"^sandbox: the {side} operand of `(==|!=|<|in)` holds an object of "
                                             rf"type '{kind}', which is not plain data"):
        _run(test, E=AlwaysEqual, I=Int)


def test_is_comparisons_stay_and_a_list_holding_itself_fails():
    assert "is not" in rewrite_comparisons("assert x is not None\n")
    assert COMPARE not in rewrite_comparisons("assert x is y\n")
    loop: list = []
    loop.append(loop)
    with pytest.raises(AssertionError, match="nests containers more than 100 deep"):
        _run("assert x == []", x=loop)


def test_a_chain_evaluates_each_operand_once_in_order_and_stops_at_the_first_false():
    seen = []

    def value(name, v):
        seen.append(name)
        return v

    _run("assert not (v('a', 2) < v('b', 1) < v('c', 0))", v=value)
    assert seen == ["a", "b"]  # c is not evaluated, as in Python
    seen.clear()
    _run("assert v('a', 0) < v('b', 1) < v('c', 2) == v('d', 2)", v=value)
    assert seen == ["a", "b", "c", "d"]


def test_a_chain_in_a_class_body_or_with_a_walrus_is_evaluated_first_but_still_checked():
    _run("class K:\n    limit = 3\n    assert 0 < 1 < limit\n")
    ns = _run("assert 0 < 1 < (y := 2)\n")
    assert ns["y"] == 2
    with pytest.raises(AssertionError, match="holds an object of type 'AlwaysEqual'"):
        _run("class K:\n    assert 0 < 1 < E()\n", E=AlwaysEqual)


def test_line_numbers_comments_messages_and_other_code_stay():
    test = ("import math\n"
            "def check(candidate):\n"
            "    x = candidate([1]) == 2  # not an assert: rewritten too (since 2026-12-03)\n"
            "    assert candidate([\n"
            "        1, 2,\n"
            "    ]) == 3, f'{candidate([1, 2]) == 3}'  # comment stays\n"
            "    assert (candidate([1])  # a comment between the operands\n"
            "            ==\n"
            "            1)\n"
            "    assert 'é' + 'ü' == 'éü' == candidate(['éü'])\n"
            "    assert math.isclose(candidate([0.5]), 0.5)\n")
    out = rewrite_comparisons(test)
    assert out.count("\n") == test.count("\n")
    kept = [0, 1, 10]
    assert [out.splitlines()[i] for i in kept] == [test.splitlines()[i] for i in kept]
    assert "# comment stays" in out and "f'{candidate([1, 2]) == 3}'" in out  # the message is not rewritten
    calls = {(n.lineno, ast.unparse(n)) for n in ast.walk(ast.parse(test)) if isinstance(n, ast.Call)
             and getattr(n.func, "id", "") == "candidate"}
    assert calls == {(n.lineno, ast.unparse(n)) for n in ast.walk(ast.parse(out)) if isinstance(n, ast.Call)
                     and getattr(n.func, "id", "") == "candidate"}  # each call on its own line still

    def candidate(xs):
        return sum(xs) if xs and not isinstance(xs[0], str) else (xs[0] if xs else 0)

    ns = _run(test)
    ns["check"](candidate)
    with pytest.raises(AssertionError) as failure:
        ns["check"](lambda xs: 0)
    assert traceback.extract_tb(failure.value.__traceback__)[-1].lineno == 4  # the assert's first line


def test_text_that_does_not_parse_or_has_no_comparison_is_unchanged():
    assert rewrite_comparisons("assert (1 ==\n") == "assert (1 ==\n"
    assert rewrite_comparisons("x = 1\nif x is not None:\n    pass\n") == "x = 1\nif x is not None:\n    pass\n"


def test_a_rewrite_the_text_edit_gets_wrong_falls_back_to_the_tree(monkeypatch):
    from treecredit import sandbox_rewrite

    monkeypatch.setattr(sandbox_rewrite, "_render_compare", lambda *a, **k: "(((")
    out = rewrite_comparisons("def check(c):\n    assert c(1) == 1 < c(2)\n")
    assert f"{COMPARE}(('==', '<'), c(1), 1, lambda: c(2), lazy=True)" in out
    ns = {COMPARE: make_compare()}
    exec(out, ns)
    ns["check"](lambda x: x)
    with pytest.raises(AssertionError, match="holds an object of type 'AlwaysEqual'"):
        ns["check"](lambda x: AlwaysEqual())


def test_the_source_defines_the_same_function_elsewhere_bound_to_the_builtins_of_then():
    import builtins

    namespace: dict = {"__builtins__": dict(vars(builtins))}
    exec(compile(compare_source(), "harness", "exec"), namespace)
    compare = namespace["make_compare"]()
    namespace["__builtins__"].clear()  # what a program could change later: nothing is looked up there any more
    assert compare(("==",), [1, 2], [1, 2]) is True and compare(("<", "<"), 1, 2, lambda: 3, lazy=True) is True
    assert compare(("==",), math.nan, math.nan) is False and compare(("in",), "a", {"a": (1,)}) is True
    with pytest.raises(AssertionError, match="right operand of `==` holds an object of type 'AlwaysEqual'"):
        compare(("==",), [1], [AlwaysEqual()])
    with pytest.raises(AssertionError, match="nests containers more than 100 deep"):
        compare(("==",), eval("[" * 150 + "]" * 150, {}), [])


def test_a_wider_plain_check_is_asked_about_other_types_and_named_in_the_error():
    from collections import Counter

    asked = []

    def is_plain(value, depth):
        asked.append((type(value).__name__, depth))
        return type(value) is Counter

    compare = make_compare(is_plain, "only plain data counts (see sandbox_plain)")
    assert compare(("==",), [Counter("ab")], [Counter("ba")]) is True
    assert asked == [("Counter", 1), ("Counter", 1)]
    with pytest.raises(AssertionError, match=r"left operand of `==` holds an object of type 'AlwaysEqual', which is "
                                             r"not plain data; only plain data counts \(see sandbox_plain\)\. "
                                             r"A comparison .* turn the check off: --reward code:plain_results=false"):
        compare(("==",), {"k": AlwaysEqual()}, {"k": 1})


def test_comparisons_outside_asserts_and_routed_calls_are_checked_and_keep_their_lines():
    """review34 F: only the asserts' comparisons were checked; ``if``/``while`` conditions, helpers,
    ``operator.eq`` and ``unittest``'s assertEqual family compared an always-equal object unchecked."""
    test = ("import operator as op, unittest\nfrom operator import ne\n"
            "def check(c):\n"
            "    l = c()\n"
            "    if l != [1, 2]:\n"
            "        raise AssertionError('if')\n"
            "    assert op.eq(l,\n"
            "                 [1, 2]) and not ne(l, [1, 2])\n"
            "    unittest.TestCase().assertEqual(\n"
            "        l, [1, 2], 'message')\n"
            "    unittest.TestCase().assertIn(1, l, msg='m')\n"
            "    return [x for x in l if x > 1]\n")
    out = rewrite_comparisons(test)
    assert out.count("\n") == test.count("\n") and "op.eq" not in out and "assertEqual" not in out
    assert "assertTrue" in out and "'message'" in out and "msg='m'" in out
    ns = _run(test)
    assert ns["check"](lambda: [1, 2]) == [2]
    with pytest.raises(AssertionError, match="if"):
        ns["check"](lambda: [2, 1])
    with pytest.raises(AssertionError, match="holds an object of type 'AlwaysEqual'") as failure:
        ns["check"](lambda: [AlwaysEqual(), AlwaysEqual()])
    lines = [f.lineno for f in traceback.extract_tb(failure.value.__traceback__) if f.filename == "test.py"]
    assert lines[-1] == 5  # the `if`'s own line
    with pytest.raises(AssertionError):  # unittest's assertTrue fails on a wrong value
        _run("import unittest\nunittest.TestCase().assertLess(2, 1)\n")


@pytest.mark.parametrize("test", [
    "import unittest\nunittest.TestCase().assertEqual(1, 1, 'm', 'extra')\n",  # (too many: stays, and fails)
    "import operator\nassert operator.contains([1], 1)\n",
    "x = [1]\nassert x.count(1) == 1\n",
    "class T:\n    def assertEqual(self, a, b):\n        pass\nT().assertEqual(1, 2)\n",  # (no unittest: its own)
])
def test_what_stays_unrouted(test):
    out = rewrite_comparisons(test)
    assert "assertEqual" in out or "contains" in out or "x.count(1)" in out


def test_an_assert_method_call_that_is_a_statement_becomes_an_assert():
    """review36: ``self.assertEqual(a, b)`` became ``self.assertTrue(COMPARE(...))``, and a program that set
    ``unittest.TestCase.assertTrue = lambda *a, **k: None`` passed every such comparison; as a statement of its own
    it is now an ``assert`` (lines kept; the message kept, with its own comparisons rewritten)."""
    test = ("import unittest\nclass T(unittest.TestCase):\n    def test_a(self):\n        self.assertEqual(f(), 3)\n"
            "        self.assertEqual(\n            f(),\n            3, 'm' + str(1 == 1)\n        )\n"
            "        self.assertIn(1, [1], msg='x'); x = self.assertLess(1, 2)\n")
    out = rewrite_comparisons(test)
    assert out.count("\n") == test.count("\n")
    lines = out.split("\n")
    assert lines[3].strip().startswith("assert (") and lines[8].strip().startswith("assert (")
    assert "x = self.assertTrue(" in lines[8] and "'x'" in lines[8] and "assertTrue" not in "".join(lines[:8])
    tree = ast.parse(test)  # the same by the tree (the fallback)
    from treecredit.sandbox_rewrite import _find, _rewrite_tree, _Routes

    routes = _Routes(tree)
    assert _rewrite_tree(tree, COMPARE, routes, _find(tree, routes)).count("assert ") == 3
    assert _run("import unittest\nclass T(unittest.TestCase):\n    pass\nT().assertLess(1, 2)\n") is not None
    with pytest.raises(AssertionError, match="^m$"):
        _run("import unittest\nself = unittest.TestCase()\nself.assertEqual(1, 2, 'm')\n")


def test_map_and_filter_calls_draw_from_a_generator_unless_the_tests_bind_the_name():
    """review36 f3: a StopIteration raised by the function a tests' ``map`` calls is a RuntimeError (PEP 479)."""
    def double_or_stop(x):
        if x == 1:
            return 2
        raise StopIteration

    test = "for got, want in zip(map(f, [1, 2]), [2, 4]):\n    assert got == want\n"
    with pytest.raises(RuntimeError):
        _run(test, f=double_or_stop)
    assert _run("out = list(map(lambda a, b: a + b, [1, 2], [3]))\nkept = list(filter(None, [0, 1]))\n"
                "odd = list(filter(lambda x: x % 2, [1, 2, 3]))\n")["out"] == [4]
    assert _run("odd = list(filter(lambda x: x % 2, [1, 2, 3]))\n")["odd"] == [1, 3]
    for own in ("def map(f, x):\n    return x\n", "zip = 1\n", "def g(map):\n    pass\n"):
        assert "_treecredit_f" not in rewrite_comparisons(own + "assert list(map(f, [1])) == [1]\n")
