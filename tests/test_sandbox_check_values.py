"""What the compare-time check of run_check (``plain_results``) accepts and how it compares it (review 2026-12-03,
review34): an object it accepts is compared as a copy made by trusted code, with the garbage collector off
and no thread of the program; values the tests build themselves (a ``Fraction``, a dict view, a ``date``)
count; the refusal says what was refused and how to turn the check off.
"""

import sys

import pytest

from treecredit.sandbox_check import run_check

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the sandbox is Linux/POSIX")

GC_SWAP = r'''
import gc
class Inert:
    pass
class Eq:
    def __eq__(self, other):
        return True
    __hash__ = None
obj = Inert()
class Trigger:
    def __del__(self):
        obj.__class__ = Eq
def answer(x):
    gc.collect()
    t = Trigger(); t.me = t; del t
    gc.set_threshold(30)
    return obj
'''


@pytest.mark.parametrize("test", ["assert answer(1) == [1, 2, 3]\n", "assert answer(1) == {'a': (1, 2)}\n",
                                  "assert answer(1) == [(1, 2), (3, 4), (5, 6), (7, 8), (9, 10), (11, 12)]\n"])
def test_a_del_run_by_the_collector_cannot_swap_an_accepted_objects_class_before_it_is_compared(test):
    """review34 A (gc_swap.py): the inert object was compared as it was, after its check; a ``__del__`` of
    cyclic garbage (gc.set_threshold(30)) set its ``__class__`` to an always-equal class in between."""
    result = run_check(GC_SWAP, test, "answer", timeout=10)
    assert not result.passed, result.stderr[-300:]


def test_code_of_the_program_in_a_later_operand_of_a_chain_changes_no_earlier_copy():
    """A chain's operands were copied once: the program's code run by a later operand swapped the class of an
    accepted object in an earlier one, which was then compared as it was."""
    program = ("class Inert:\n    pass\nclass Eq:\n    def __eq__(self, other):\n        return True\n"
               "    __hash__ = None\nobj = Inert()\ndef answer(x):\n    return obj\n"
               "def swap():\n    obj.__class__ = Eq\n    return [(1, 2)]\n")
    result = run_check(program, "assert [1] != answer(1) == swap()\n", "answer", timeout=10)
    assert not result.passed and "only plain data counts" in result.stderr, result.stderr[-300:]


THREADED = r'''
import sys, threading
sys.setswitchinterval(1e-6)
class Inert:
    pass
class Eq:
    def __eq__(self, o):
        return True
obj = Inert()
def flip():
    while True:
        obj.__class__ = Eq
        obj.__class__ = Inert
threading.Thread(target=flip, daemon=True).start()
def answer(x):
    return obj
'''


@pytest.mark.parametrize("start", [
    "import threading\nthreading.Thread(target=print).start()\n",
    "import sys\nfor m in ('_thread', 'threading'):\n    sys.modules.pop(m, None)\nimport _thread\n"
    "_thread.start_new_thread(print, ())\n",
    "import importlib, _thread\nimportlib.reload(_thread)\n_thread.start_new_thread(print, ())\n",
    "import importlib.util\nspec = importlib.util.find_spec('_thread')\nm = importlib.util.module_from_spec(spec)\n"
    "spec.loader.exec_module(m)\nm.start_new_thread(print, ())\n",
    "from concurrent.futures import ThreadPoolExecutor\nThreadPoolExecutor().submit(print).result()\n",
], ids=["threading", "fresh-import", "reload", "module-from-spec", "executor"])
def test_the_program_starts_no_thread_while_comparisons_are_checked(start):
    """review34 A (race2.py): a thread toggling an accepted object's ``__class__`` won 3 of 20 runs. Threads
    are refused (``_thread``'s functions are replaced in place before the program runs); no import brings
    them back. With ``plain_results=False`` threads run."""
    result = run_check(start + "def f():\n    return 1\n", "assert f() == 1\n", "f", timeout=10)
    assert not result.passed and "starting a thread is not allowed" in result.stderr, result.stderr[-300:]
    assert "code:plain_results=false" in result.stderr
    assert run_check(start + "def f():\n    return 1\n", "assert f() == 1\n", "f", timeout=10,
                     plain_results=False).passed
    raced = run_check(THREADED, "assert answer(1) == list(range(20000))\n", "answer", timeout=10)
    assert not raced.passed and "starting a thread is not allowed" in raced.stderr


RIGHT = {  # review34 B: values the tests build themselves (all passed at 70713fa)
    "fraction-in-tests": ("def half(a, b):\n    return a / b\n",
                          "from fractions import Fraction\nassert half(1, 2) == Fraction(1, 2)\n"),
    "decimal-in-tests": ("def f(a, b):\n    return a + b\n",
                         "from decimal import Decimal\nassert f(1, 2) == Decimal(3)\n"),
    "dict-keys": ("def f(s):\n    return {c: s.count(c) for c in s}\n", "assert f('ab').keys() == {'a', 'b'}\n"),
    "dict-items": ("def f(s):\n    return {c: s.count(c) for c in s}\n",
                   "assert f('ab').items() == {('a', 1), ('b', 1)} and ('a', 1) in f('a').items()\n"),
    "dict-values": ("def f(s):\n    return {c: s.count(c) for c in s}\n",
                    "v = f('ab').values()\nassert v == v and v != f('ab').values() and sorted(v) == [1, 1]\n"),
    "datetime-in-tests": ("def f(s):\n    return {c: s.count(c) for c in s}\n",
                          "import datetime\nassert f('a') != datetime.date(2020, 1, 1)\n"),
    "datetime-result": ("import datetime\ndef f(d):\n    return d + datetime.timedelta(days=1)\n",
                        "import datetime\nassert f(datetime.date(2020, 1, 1)) == datetime.date(2020, 1, 2)\n"
                        "tz = datetime.timezone.utc\nday = datetime.datetime(2020, 1, 1, tzinfo=tz)\n"
                        "assert f(day) > day\n"),
    "counter-copy": ("from collections import Counter, OrderedDict, deque, defaultdict, namedtuple\n"
                     "P = namedtuple('P', 'a')\ndef f(x):\n"
                     "    return [Counter(x), OrderedDict([(1, 2)]), deque([1], 3), defaultdict(int, {1: 2}), P(1)]\n",
                     "from collections import Counter, OrderedDict, deque\n"
                     "assert f('aab') == [Counter('aba'), OrderedDict([(1, 2)]), deque([1]), {1: 2}, (1,)]\n"
                     "assert f('a')[1] != OrderedDict([(1, 2), (3, 4)])\n"),
}


@pytest.mark.parametrize("case", sorted(RIGHT))
def test_values_the_tests_build_count_as_plain(case):
    program, test = RIGHT[case]
    result = run_check(program, test, "f" if "def f" in program else "half", timeout=10)
    assert result.passed, result.stderr[-400:]


WRONG = {  # what the wider check accepts must still hold plain data only
    "keys-of-always-equal": ("class A:\n    def __eq__(self, o):\n        return True\n    __hash__ = object.__hash__\n"
                             "def f(s):\n    return {A(): 1}.keys()\n", "assert f('ab') == {'a'}\n"),
    "values-of-always-equal": ("class A:\n    def __eq__(self, o):\n        return True\n"
                               "def f(s):\n    return {1: A()}.values()\n", "assert list(f('ab')) == [2]\n"),
    "program-tzinfo": ("import datetime\nclass Z(datetime.tzinfo):\n    def utcoffset(self, d):\n"
                       "        return datetime.timedelta(0)\n"
                       "def f(s):\n    return datetime.datetime(2020, 1, 1, tzinfo=Z())\n",
                       "import datetime\nassert f(1) == datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc)\n"),
}


@pytest.mark.parametrize("case", sorted(WRONG))
def test_views_and_datetimes_holding_objects_of_the_program_do_not_count(case):
    program, test = WRONG[case]
    result = run_check(program, test, "f", timeout=10)
    assert not result.passed and "only plain data counts" in result.stderr, result.stderr[-400:]


def test_the_refusal_names_the_type_with_its_article_and_the_option_that_turns_it_off():
    """review34 G: "holds a E", "returned a enumerate", no fix, and the tests' own values blamed on the program."""
    program = "class E:\n    def __eq__(self, o):\n        return True\ndef f(x):\n    return E()\n"
    result = run_check(program, "assert f(1) == 1\n", "f", timeout=10)
    assert "the program's function 'f' returned an object of type 'E', which is not plain data" in result.stderr
    assert "--reward code:plain_results=false (code_reward(..., plain_results=False))" in result.stderr
    test = "class T:\n    def __eq__(self, o):\n        return False\nassert f(1) != T()\n"
    result = run_check("def f(x):\n    return x\n", test, "f", timeout=10)
    assert "the right operand of `!=` holds an object of type 'T', which is not plain data" in result.stderr
    assert "If the tests themselves compare such values, turn the check off: --reward code:plain_results=false" \
        in result.stderr
    assert "a " + "E," not in result.stderr
