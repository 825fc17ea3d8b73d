"""Which of the program's callables run_check wraps with the return-value check, and how lazy results pass
(review 2026-12-03, review34 C and D): classes stay classes (the tests use them in ``isinstance``, ``except``,
``Config.LIMIT``); a generator's ``send``/``throw`` pass through; ``reversed``, ``enumerate``, dict views and
itertools results reach the tests with each value checked.
"""

import sys

import pytest

from treecredit.sandbox_check import run_check

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the sandbox is Linux/POSIX")

PAIR = ("class Pair:\n    def __init__(self, a, b):\n        self.a, self.b = a, b\n"
        "def make_pair(a, b):\n    return Pair(a, b)\n")
CLASSES = {
    "isinstance": (PAIR, "assert isinstance(make_pair(1, 2), Pair)\n", "make_pair"),
    "isinstance-no-entry-point": (PAIR, "assert isinstance(make_pair(1, 2), Pair)\n", None),
    "except": ("class InvalidInput(ValueError):\n    pass\n"
               "def root(x):\n    if x < 0:\n        raise InvalidInput(x)\n    return x ** 0.5\n",
               "assert root(4) == 2.0\ntry:\n    root(-1)\nexcept InvalidInput:\n    pass\nelse:\n    assert False\n",
               "root"),
    "class-attribute": ("class Config:\n    LIMIT = 3\ndef limit():\n    return Config.LIMIT\n",
                        "assert limit() == Config.LIMIT\n", "limit"),
    "class-as-entry-point": (PAIR, "def check(candidate):\n    assert candidate(1, 2).b == 2\n", "Pair"),
    "exception-with-message": ("class Bad(ValueError):\n    def __str__(self):\n        return 'bad'\n"
                               "def f(x):\n    raise Bad(x)\n",
                               "try:\n    f(1)\nexcept Bad as e:\n    assert str(e) == 'bad'\n", None),
}


@pytest.mark.parametrize("case", sorted(CLASSES))
def test_the_programs_classes_reach_the_tests_as_classes(case):
    """review34 C (class_guard.py): every callable the tests named was wrapped, classes included: a correct
    program scored 0."""
    program, test, entry = CLASSES[case]
    result = run_check(program, test, entry, timeout=10)
    assert result.passed, result.stderr[-400:]


ZERO = "class Zero:\n    def __sub__(self, other):\n        return 0.0\n"
FAKES = {  # an answer made up by the class's own special methods: each passed `abs(... - y) < 1e-6` before
    "entry-point-new": (ZERO + "class mad:\n    def __new__(cls, numbers):\n        return Zero()\n", "mad"),
    "entry-point-sub": ("class mad:\n    def __init__(self, numbers):\n        pass\n"
                        "    def __sub__(self, other):\n        return 0.0\n", "mad"),
    "named-new": (ZERO + "class mad:\n    def __new__(cls, numbers):\n        return Zero()\n", None),
    "named-sub": ("class mad(Exception):\n    def __sub__(self, other):\n        return 0.0\n", None),
}


@pytest.mark.parametrize("case", sorted(FAKES))
def test_a_class_whose_own_code_makes_up_the_answer_fails(case):
    """review35 1 (r_class_entry.py): since classes stayed classes, a class entry point (or a class the tests
    call by name) whose ``__new__`` returned an object with ``__sub__`` returning 0.0, or whose objects had
    such a ``__sub__``, passed; it is now called through the check (its result must be plain data)."""
    program, entry = FAKES[case]
    test = ("def check(candidate):\n    assert abs(candidate([1.0, 2.0, 3.0]) - 2.0 / 3.0) < 1e-6\n" if entry else
            "assert abs(mad([1.0, 2.0, 3.0]) - 2.0 / 3.0) < 1e-6\n")
    result = run_check(program, test, entry, timeout=10)
    assert not result.passed and "only plain data counts" in result.stderr, result.stderr[-400:]


def test_a_class_call_that_makes_an_always_equal_object_still_fails_when_compared():
    program = ("class Meta(type):\n    def __call__(cls, *a):\n        return A()\n"
               "class A:\n    def __eq__(self, o):\n        return True\n"
               "class Solution(metaclass=Meta):\n    pass\n")
    result = run_check(program, "assert Solution(1) == [1, 2]\n", None, timeout=10)
    assert not result.passed and "only plain data counts" in result.stderr, result.stderr[-300:]


LAZY = {
    "send": ("def f():\n    total = 0\n    while True:\n        x = yield total\n        total += x\n",
             "g = f()\nnext(g)\nassert g.send(5) == 5\nassert g.send(2) == 7\n"),
    "throw": ("def f():\n    while True:\n        try:\n            yield 1\n        except KeyError:\n"
              "            yield 'caught'\n",
             "g = f()\nassert next(g) == 1\nassert g.throw(KeyError) == 'caught'\ng.close()\n"),
    "return-value": ("def f():\n    yield 1\n    return 5\n",
                     "def outer():\n    r = yield from f()\n    yield r\nassert list(outer()) == [1, 5]\n"),
    "reversed": ("def f(l):\n    return reversed(l)\n", "assert list(f([1, 2, 3])) == [3, 2, 1]\n"),
    "enumerate": ("def f(l):\n    return enumerate(l)\n", "assert list(f('ab')) == [(0, 'a'), (1, 'b')]\n"),
    "dict-items": ("def f(d):\n    return d.items()\n",
                   "assert sorted(f({'a': 1})) == [('a', 1)] and len(f({'a': 1})) == 1\n"),
    "iter-and-itertools": ("import itertools\ndef f(l):\n    return itertools.chain(iter(l), itertools.islice(l, 1))\n",
                           "assert list(f([1, 2])) == [1, 2, 1]\n"),
}


@pytest.mark.parametrize("case", sorted(LAZY))
def test_lazy_results_pass_with_send_and_throw(case):
    """review34 D (gen_send.py, sandbox_cases.py C): send() reached the generator as next(), and reversed,
    enumerate and dict_items results were refused: correct programs scored 0."""
    program, test = LAZY[case]
    result = run_check(program, test, "f", timeout=10)
    assert result.passed, result.stderr[-400:]


@pytest.mark.parametrize("program", [
    "class A:\n    def __eq__(self, o):\n        return True\ndef f(l):\n    return reversed([A()])\n",
    "class A:\n    def __eq__(self, o):\n        return True\ndef f(l):\n    return enumerate([A()])\n",
    "class A:\n    def __eq__(self, o):\n        return True\ndef f(l):\n    x = yield 1\n    yield A()\n",
    "class A:\n    def __eq__(self, o):\n        return True\ndef f(l):\n    yield 1\n    return A()\n",
])
def test_an_always_equal_value_a_lazy_result_yields_or_returns_fails(program):
    test = "g = f(0)\nassert next(g) == 1\nassert g.send(2) == 1\n" if "x = yield" in program else (
        "def outer():\n    r = yield from f(0)\n    yield r\nassert list(outer()) == [1, 1]\n"
        if "return A()" in program else "assert list(f(0)) == [1]\n")
    result = run_check(program, test, "f", timeout=10)
    assert not result.passed and "which is not plain data" in result.stderr, result.stderr[-300:]


COUNTER = ("class Counter2:\n    LIMIT = 10\n    def __init__(self, start=0):\n        self.n = start\n"
           "    def inc(self):\n        self.n += 1\n        return self.n\n    @classmethod\n"
           "    def from_list(cls, xs):\n        return cls(sum(xs))\n")
AS_A_CLASS = {
    "isinstance": ("def check(candidate):\n    c = candidate()\n    assert isinstance(c, candidate)\n"
                   "    assert c.inc() == 1\n"),
    "class attribute": "def check(candidate):\n    assert candidate.LIMIT == 10\n",
    "classmethod": "def check(candidate):\n    assert candidate.from_list([1, 2]).inc() == 4\n",
    "subclass": ("def check(candidate):\n    class Sub(candidate):\n        def twice(self):\n"
                 "            return 2 * self.inc()\n    assert Sub(1).twice() == 4 and issubclass(Sub, candidate)\n"),
}


@pytest.mark.parametrize("case", sorted(AS_A_CLASS))
def test_a_class_entry_point_is_still_a_class_to_the_tests(case):
    """trial36 T2: since the entry point was always wrapped like a function, checks that use it as a class
    (isinstance, its attributes and classmethods, a subclass of it) failed a right class."""
    result = run_check(COUNTER, AS_A_CLASS[case], "Counter2", timeout=10)
    assert result.passed, result.stderr[-600:]


def test_a_class_entry_point_whose_init_swaps_the_objects_class_fails():
    """What wrapping the entry point closed stays closed: its call's result is checked (an object whose class
    its ``__init__`` swapped for one with a ``__sub__`` is not plain data)."""
    program = (ZERO + "class mad:\n    def __init__(self, numbers):\n        self.__class__ = Zero\n"
               "    @classmethod\n    def of(cls, numbers):\n        return cls(numbers)\n")
    for call in ("candidate", "candidate.of"):
        test = f"def check(candidate):\n    assert abs({call}([1.0, 2.0, 3.0]) - 2.0 / 3.0) < 1e-6\n"
        result = run_check(program, test, "mad", timeout=10)
        assert not result.passed and "only plain data counts" in result.stderr, result.stderr[-400:]
