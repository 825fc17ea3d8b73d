"""trial37 (2026-12-03): a ``StopIteration`` escaping the program is a ``RuntimeError`` unless the tests name
``StopIteration`` (loops the map/filter rewrite does not reach: ``itertools.starmap``, ``builtins.map``, a tests'
iterator), and an exception class entry point reaches the tests as the class itself (``except candidate``)."""

import sys

import pytest

from treecredit.sandbox_check import run_check

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the sandbox is Linux/POSIX")

WRONG = "def sq(x):\n    if x > 1:\n        raise StopIteration\n    return x * x\n"
RIGHT = "def sq(x):\n    return x * x\n"
LOOPS = {
    "starmap": "from itertools import starmap\n    pairs = zip(starmap(candidate, [(1,), (2,), (3,)]), WANT)\n",
    "builtins.map": "import builtins\n    pairs = zip(builtins.map(candidate, [1, 2, 3]), WANT)\n",
    "filterfalse": ("from itertools import filterfalse\n"
                    "    pairs = zip(filterfalse(lambda x: candidate(x) == 0, [1, 2, 3]), [1, 2, 3])\n"),
    "iter callable": ("xs = iter([1, 2, 3])\n    pairs = zip(iter(lambda: candidate(next(xs, 3)), None), WANT)\n"
                      "    pairs = list(pairs)[:3]\n"),
    "own iterator": ("class It:\n        def __init__(self):\n            self.xs = iter([1, 2, 3])\n"
                     "        def __iter__(self):\n            return self\n"
                     "        def __next__(self):\n            return candidate(next(self.xs))\n"
                     "    pairs = zip(It(), WANT)\n"),
}


@pytest.mark.parametrize("shape", sorted(LOOPS))
def test_a_stopiteration_from_the_program_ends_no_loop_of_the_tests(shape):
    """trial37 1: since cb55cb3 a StopIteration passed on as it was, and ended these loops: a wrong program
    scored 1.0."""
    test = ("WANT = [1, 4, 9]\ndef check(candidate):\n    " + LOOPS[shape]
            + "    seen = 0\n    for got, want in pairs:\n        assert got == want\n        seen += 1\n"
            "    assert seen == 3 or " + repr(shape == "filterfalse") + "\n")
    assert run_check(RIGHT, test, "sq", timeout=10).passed
    result = run_check(WRONG, test, "sq", timeout=10)
    assert not result.passed and "StopIteration" in result.stderr


def test_an_exception_class_entry_point_is_caught_as_itself():
    """trial37 2(a): the entry point reached the tests as a stand-in (not a class), and ``except candidate``
    raised TypeError: a right program scored 0."""
    program = ("class InvalidInput(ValueError):\n    pass\ndef parse(x):\n    if not x.isdigit():\n"
               "        raise InvalidInput(x)\n    return int(x)\n")
    test = ("def check(candidate):\n    try:\n        parse('a')\n    except candidate:\n        pass\n    else:\n"
            "        assert False\n    assert parse('12') == 12\n")
    assert run_check(program, test, "InvalidInput", timeout=10).passed
    wrong = program.replace("raise InvalidInput(x)", "raise ValueError(x)")
    assert not run_check(wrong, test, "InvalidInput", timeout=10).passed


def test_the_candidate_has_the_function_s_signature():
    """inspect.signature(candidate) said (*args, **kwargs) (until 2026-12-03)."""
    program = "def sq(x, *, power=2):\n    return x ** power\n"
    test = ("import inspect\ndef check(candidate):\n    assert str(inspect.signature(candidate)) == '(x, *, power=2)'\n"
            "    assert list(inspect.signature(candidate).parameters) == ['x', 'power']\n"
            "    assert candidate(3) == 9\n")
    result = run_check(program, test, "sq", timeout=20)
    assert result.passed, result.stderr[-400:]
    assert not run_check(program.replace("x ** power", "x"), test, "sq", timeout=20).passed
