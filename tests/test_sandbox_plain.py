"""Which return values count as plain data under run_check's ``plain_results`` (treecredit.sandbox_plain).

Review 2026-12-03 (3b): only exact plain types counted, so correct programs returning a ``Counter``,
``defaultdict``, namedtuple, ``Fraction``, ``Decimal`` or ``OrderedDict`` scored 0. Standard-library types
taken before the program runs now count while the program has not changed them; subclasses and changed
classes do not.
"""

import sys

import pytest

from treecredit.sandbox_check import run_check

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the sandbox is Linux/POSIX")
ALWAYS = "class A:\n    def __eq__(self, other):\n        return True\n    __hash__ = None\n"

RIGHT = {
    "counter": ("from collections import Counter\ndef f(xs):\n    return Counter(xs)\n",
                "assert f([1, 1, 2]) == {1: 2, 2: 1}\n"),
    "defaultdict": ("from collections import defaultdict\ndef f(xs):\n    d = defaultdict(list)\n"
                    "    for x in xs:\n        d[x % 2].append(x)\n    return d\n",
                    "assert f([1, 2, 3]) == {1: [1, 3], 0: [2]}\n"),
    "ordereddict": ("import collections\ndef f(xs):\n    return collections.OrderedDict((x, 1) for x in xs)\n",
                    "assert f([2, 1]) == {1: 1, 2: 1}\n"),
    "deque": ("from collections import deque\ndef f(xs):\n    return deque(xs)\n",
              "assert list(f([1, 2])) == [1, 2]\n"),
    "namedtuple": ("from collections import namedtuple\nP = namedtuple('P', 'a b')\n"
                   "def f(a, b):\n    return P(a, b)\n",
                   "def check(candidate):\n    assert candidate(1, 2) == (1, 2) and candidate(1, 2).b == 2\n"),
    "typing-namedtuple": ("from typing import NamedTuple\nclass P(NamedTuple):\n    a: int\n    b: int = 0\n"
                          "def f(a, b):\n    return P(a, b)\n", "assert f(1, 2) == (1, 2)\n"),
    "fraction": ("from fractions import Fraction\ndef f(n):\n    return sum(Fraction(1, k) for k in range(1, n + 1))\n",
                 "assert f(2) == 1.5\n"),
    "decimal": ("from decimal import Decimal\ndef f(a):\n    return Decimal(a) * 2\n", "assert f('1.5') == 3\n"),
    "range": ("def f(n):\n    return range(n)\n", "assert list(f(3)) == [0, 1, 2]\n"),
}


@pytest.mark.parametrize("case", sorted(RIGHT))
def test_standard_library_results_of_right_programs_pass(case):
    program, test = RIGHT[case]
    result = run_check(program, test, "f", timeout=10)
    assert result.passed, result.stderr[-400:]


WRONG = {
    "counter-subclass": ALWAYS + "from collections import Counter\nclass C(Counter):\n"
                        "    def __eq__(self, other):\n        return True\n    __hash__ = None\n"
                        "def f(xs):\n    return C()\n",
    "counter-patched": "from collections import Counter\nCounter.__eq__ = lambda self, other: True\n"
                       "Counter.__ne__ = lambda self, other: False\ndef f(xs):\n    return Counter()\n",
    "counter-code-swapped": "from collections import Counter\n"
                            "Counter.__eq__.__code__ = (lambda self, other: True).__code__\n"
                            "def f(xs):\n    return Counter()\n",
    "builtins-all-patched": "import builtins\nfrom collections import Counter\nbuiltins.all = lambda it: True\n"
                            "def f(xs):\n    return Counter()\n",
    "module-name-added": "import collections\ncollections.all = lambda it: True\n"
                         "def f(xs):\n    return collections.Counter()\n",
    "counter-own-attribute": "from collections import Counter\ndef f(xs):\n    c = Counter()\n"
                             "    c.most_common = lambda *a: [(1, 2)]\n    return c\n",
    "ordereddict-own-attribute": "from collections import OrderedDict\ndef f(xs):\n    d = OrderedDict()\n"
                                 "    d.items = lambda: [(1, 2)]\n    return d\n",
    "counter-holding-any": ALWAYS + "from collections import Counter\ndef f(xs):\n    return Counter({1: A()})\n",
    "defaultdict-program-factory": ALWAYS + "from collections import defaultdict\n"
                                   "def f(xs):\n    return defaultdict(A)\n",
    "fraction-numerator": ALWAYS + "from fractions import Fraction\ndef f(xs):\n    x = Fraction(1)\n"
                          "    x._numerator = A()\n    return x\n",
    "namedtuple-eq": "from collections import namedtuple\nP = namedtuple('P', 'a')\nP.__eq__ = lambda s, o: True\n"
                     "def f(xs):\n    return P(0)\n",
    "namedtuple-method": ALWAYS + "from typing import NamedTuple\nclass P(NamedTuple):\n    a: int\n"
                         "    def most_common(self):\n        return A()\ndef f(xs):\n    return P(0)\n",
    "namedtuple-property": ALWAYS + "from collections import namedtuple\nP = namedtuple('P', 'a')\n"
                           "P.a = property(lambda self: A())\ndef f(xs):\n    return P(0)\n",
    "generator": "def f(xs):\n    return (x for x in xs)\n",
}


@pytest.mark.parametrize("case", sorted(WRONG))
def test_changed_or_subclassed_standard_types_do_not_count(case):
    test = ("from collections import Counter\nassert f([1, 1]) == {1: 2}\nassert f([1, 1]) == Counter({1: 5})\n"
            "assert f([1]).most_common() == [(1, 2)]\nassert list(f([1]).items()) == [(1, 2)]\n"
            "assert f([1])[7] == 3\nassert f([1]).a == 1\nassert list(f([3])) == [3]\n")
    result = run_check(WRONG[case], test, "f", timeout=10)
    # (a patch of the standard library is undone before the tests run, or refused: treecredit.sandbox_modules)
    said = ("AssertionError", "PermissionError") if case in UNDONE else ("only plain data counts",)
    assert not result.passed and any(each in result.stderr for each in said), result.stderr[-400:]


UNDONE = {"counter-patched", "counter-code-swapped", "builtins-all-patched", "module-name-added"}
