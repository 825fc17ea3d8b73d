"""Both styles of tests run_check takes (a new-user trial, 2026-12-03; each failed before its fix):
HumanEval style (the tests define ``check(candidate)``, called with the entry point) and MBPP style (bare
asserts that call the program's function by name).

- An entry point named like a builtin (``def max``) replaced that builtin in the tests' namespace, so
  tests that use ``max`` themselves compared the wrong answer with itself.
- MBPP-style asserts saw the program's functions unwrapped: an answer whose ``__eq__`` always says True
  passed.
- MBPP-style tests with an entry point failed every program (``KeyError: 'check'``), silently.
"""

import sys

import pytest

from treecredit.rewards.code import code_reward
from treecredit.sandbox_check import run_check, style_of

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the sandbox is Linux/POSIX")
MAX_TEST = "def check(candidate):\n    for xs in ([3, 1, 2], [5, 4]):\n        assert candidate(xs) == max(xs)\n"
MBPP = "assert add(2, 3) == 5\nassert add(10, -1) == 9\n"
RIGHT = "def add(a, b):\n    return a + b\n"
ALWAYS_EQUAL = "class A:\n    def __eq__(self, other):\n        return True\n    __hash__ = None\n"


def test_an_entry_point_named_like_a_builtin_does_not_replace_it_in_the_tests():
    right = ("def max(xs):\n    best = xs[0]\n    for x in xs:\n        if x > best:\n            best = x\n"
             "    return best\n")
    assert run_check(right, MAX_TEST, "max", timeout=10).passed
    result = run_check("def max(xs):\n    return 0\n", MAX_TEST, "max", timeout=10)
    assert not result.passed, result.stderr[-300:]


def test_the_programs_own_check_is_never_called():
    """Tests that call check() without defining it called the program's check."""
    for entry in (None, "add"):
        result = run_check("def check(candidate):\n    pass\ndef add(a, b):\n    return 0\n", "check(add)\n",
                           entry, timeout=10)
        assert not result.passed and "NameError" in result.stderr, result.stderr[-300:]


@pytest.mark.parametrize("wrong", [
    ALWAYS_EQUAL + "def add(a, b):\n    return A()\n",
    ALWAYS_EQUAL + "class Add:\n    def __call__(self, a, b):\n        return A()\nadd = Add()\n",
    ALWAYS_EQUAL + "class add:\n    def __new__(cls, a, b):\n        return A()\n",
    "import functools\n" + ALWAYS_EQUAL + "def _add(a, b):\n    return A()\nadd = functools.partial(_add)\n",
], ids=["function", "callable-object", "class", "partial"])
@pytest.mark.parametrize("entry", [None, "add"], ids=["no-entry-point", "entry-point"])
def test_mbpp_style_results_are_plain_data(wrong, entry):
    result = run_check(wrong, MBPP, entry, timeout=10)
    assert not result.passed, result.stderr[-300:]
    assert "only plain data counts" in result.stderr, result.stderr[-300:]
    assert run_check(RIGHT, MBPP, entry, timeout=10).passed
    assert run_check(wrong, MBPP, entry, timeout=10, plain_results=False).passed


@pytest.mark.parametrize("entry", [None, "add"], ids=["no-entry-point", "entry-point"])
def test_asserts_by_name_next_to_a_check_see_plain_results_too(entry):
    """Tests that define check() and also call the function by name at the top level (or call check(add)
    themselves) saw the program's function unwrapped."""
    wrong = ALWAYS_EQUAL + "def add(a, b):\n    return A()\n"
    for test in (MBPP + "def check(candidate):\n    pass\n", "def check(f):\n    assert f(2, 3) == 5\ncheck(add)\n"):
        result = run_check(wrong, test, entry, timeout=10)
        assert not result.passed and "only plain data counts" in result.stderr, (test, result.stderr[-300:])
        assert run_check(RIGHT, test, entry, timeout=10).passed


def test_mbpp_style_with_an_entry_point_runs_the_asserts():
    """KeyError 'check' before: every program failed. Now the asserts run, the entry point bound to the
    candidate; the program's other names (a class the tests build) are as the program made them."""
    assert run_check(RIGHT, MBPP, "add", timeout=10).passed
    assert not run_check("def add(a, b):\n    return 0\n", MBPP, "add", timeout=10).passed
    assert not run_check("def plus(a, b):\n    return a + b\n", MBPP, "add", timeout=10).passed  # no `add`
    pair = ("class Pair:\n    def __init__(self, a, b):\n        self.a, self.b = a, b\n"
            "def longest(pairs):\n    return max(p.b - p.a for p in pairs)\n")
    test = "assert longest([Pair(1, 4), Pair(2, 3)]) == 3\n"
    assert run_check(pair, test, "longest", timeout=10).passed
    # the tests name the entry point `max`: there it is the candidate
    assert run_check("def max(xs):\n    return sorted(xs)[-1]\n", "assert max([1, 3, 2]) == 3\n", "max",
                     timeout=10).passed


def test_the_code_reward_scores_mbpp_style_rows_with_and_without_an_entry_point():
    prompt = ["Write add(a, b)."] * 2
    answers = ["```python\n" + RIGHT + "```", "```python\n" + ALWAYS_EQUAL + "def add(a, b):\n    return A()\n```"]
    assert code_reward(prompt, answers, test=[MBPP] * 2, workers=1) == [1.0, 0.0]
    assert code_reward(prompt, answers, test=[MBPP] * 2, entry_point=["add"] * 2, workers=1) == [1.0, 0.0]


def test_style_of():
    assert style_of(MAX_TEST)[0] and "max" in style_of(MAX_TEST)[1]
    with_check, names = style_of("import math\ndef helper(x):\n    return x\nassert add(helper(1), 2) == 3\n"
                                 "assert math.isclose(add(0.1, 0.2), 0.3)\n")
    assert not with_check and "add" in names and "math" not in names and "helper" not in names
    assert style_of("def check(:\n") == (False, ())


ANY_TARGET = ALWAYS_EQUAL + "def helper(x):\n    return x\ndef target(x):\n    return A()\n"


@pytest.mark.parametrize("test", [
    "assert target(1) == 5\nassert target(2) == [9]\n",
    "def check(candidate):\n    assert candidate(1) == 1\n    assert target(3) == 7\n",
], ids=["mbpp", "check"])
def test_program_functions_other_than_the_entry_point_see_plain_results(test):
    """Review 2026-12-03 (3a): with an entry point only it was wrapped; the tests' calls of the program's
    other functions by name kept raw results, so an always-equal object passed."""
    result = run_check(ANY_TARGET, test, "helper", timeout=10)
    assert not result.passed and "only plain data counts" in result.stderr, result.stderr[-300:]
    right = "def helper(x):\n    return x\ndef target(x):\n    return {1: 5, 2: [9], 3: 7}[x]\n"
    assert run_check(right, test, "helper", timeout=10).passed


PAIR = "class Pair:\n    def __init__(self, a, b):\n        self.a, self.b = a, b\n"


@pytest.mark.parametrize("entry", [None, "longest"], ids=["no-entry-point", "entry-point"])
def test_the_programs_inert_objects_count_as_plain(entry):
    """Objects of the program's classes that define no special method but __init__ (== is identity) pass
    through the tests (MBPP's ``Pair``); their attributes must be plain, and a class with ``__eq__``,
    ``__bool__``, ``__str__`` or a property does not count."""
    program = PAIR + "def longest(pairs):\n    return max(p.b - p.a for p in pairs)\n"
    test = "assert longest([Pair(1, 4), Pair(2, 3)]) == 3\nassert Pair(1, 2).b == 2\n"
    assert run_check(program, test, entry, timeout=10).passed
    nodes = ("class Node:\n    __slots__ = ('v', 'nxt')\n    def __init__(self, v, nxt=None):\n"
             "        self.v, self.nxt = v, nxt\n    def total(self):\n"
             "        return self.v + (self.nxt.total() if self.nxt else 0)\n"
             "def longest(n):\n    return Node(n, Node(n))\n")
    assert run_check(nodes, "assert longest(2).nxt.v == 2\n", entry, timeout=10).passed
    for wrong in (
            ALWAYS_EQUAL + "class Pair:\n    def __init__(self, a, b):\n        self.a, self.b = A(), A()\n",
            "class Pair:\n    def __init__(self, a, b):\n        pass\n    def __eq__(self, other):\n"
            "        return True\n",
            "class Pair:\n    def __init__(self, a, b):\n        pass\n    b = property(lambda self: 2)\n",
            "class Pair:\n    def __init__(self, a, b):\n        self.b = b\n    __str__ = lambda self: '2'\n",
            "class Base:\n    __eq__ = lambda self, other: True\nclass Pair(Base):\n    def __init__(self, a, b):\n"
            "        self.b = b\n",
            "class Meta(type):\n    pass\nclass Pair(metaclass=Meta):\n    def __init__(self, a, b):\n"
            "        self.b = b\n",
            "class Pair(int):\n    def __new__(cls, a, b):\n        return int.__new__(cls, b)\n"):
        program = wrong + "def longest(pairs):\n    return 3\n"
        # (the class itself reaches the tests unwrapped since 2026-12-03: its objects are checked when compared)
        result = run_check(program, "p = Pair(1, 2)\nassert [p] == [p]\n", entry, timeout=10)
        assert not result.passed and "only plain data counts" in result.stderr, (wrong, result.stderr[-300:])
    inert = "p = Pair(1, 2)\nassert [p] == [p] != [Pair(1, 2)]\n"  # (equal to itself only)
    assert run_check(PAIR + "def longest(pairs):\n    return 3\n", inert, entry, timeout=10).passed


def test_style_of_reads_names_by_scope():
    """style_of and code_tests read the tests' names with one parser (sandbox_names) since 2026-12-03: before,
    style_of took every loaded name, a function's parameters and a comprehension's variables too."""
    test = ("def check(candidate):\n    assert candidate(1) == add(1)\n"
            "assert all(solve(x) for x in range(3))\nsolve = timed(solve)\n")
    with_check, names = style_of(test)
    assert with_check and names == ("add", "all", "range", "solve", "timed")
