"""run_check's verdict: only a ``check`` that returned passes; what the program could use to fake the
verdict or reach its token is refused; the parent's pipes do not leak."""

import os
import sys

import pytest

from treecredit.sandbox_check import run_check

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the sandbox is Linux/POSIX")
TEST = "def check(candidate):\n    assert candidate(2) == 4\n"
GOOD = "def double(x):\n    return 2 * x\n"


def _passes(program, test=TEST, **kwargs):
    return run_check(program, test, "double", timeout=5, **kwargs).passed


def test_a_right_program_passes_and_a_wrong_one_says_why():
    assert _passes(GOOD)
    result = run_check("def double(x):\n    return x\n", TEST, "double")
    assert not result.passed and "AssertionError" in result.stderr and "test.py" in result.stderr


def test_standard_library_that_looks_at_frames_still_works():
    program = ("from collections import namedtuple\nfrom typing import TypeVar\nimport signal\nT = TypeVar('T')\n"
               "Pair = namedtuple('Pair', 'a b')\ndef double(x):\n    return sum(Pair(x, x))\n")
    assert _passes(program)


@pytest.mark.parametrize("body", [
    "import signal\nsignal.signal(signal.SIGALRM, lambda *a: None)\n",
    "import sys\nsys.modules.pop('_signal')\nimport _signal\n",
    "import sys\nsys.settrace(lambda *a: None)\n",
    "import sys\nsys.setprofile(lambda *a: None)\n",
    "import gc\ngc.get_objects()\n",
    "import sys\nsys._current_frames()\n",
    "open('/proc/self/mem', 'rb')\n",
])
def test_ways_to_reach_the_token_are_refused(body):
    result = run_check(body + GOOD, TEST, "double")
    assert not result.passed and "not allowed" in result.stderr, result.stderr


def test_a_program_cannot_find_the_token_in_its_descriptors_or_folder():
    hunt = ("import os\nfound = b''\nfor fd in range(3, 256):\n    try:\n        os.set_blocking(fd, False)\n"
            "        found += os.read(fd, 4096)\n    except OSError:\n        pass\n"
            "for name in os.listdir('.'):\n    if os.path.isfile(name):\n        found += open(name, 'rb').read()\n"
            "for fd in range(3, 256):\n    try:\n        os.write(fd, found)\n    except OSError:\n        pass\n"
            "def double(x):\n    return x\n")
    assert not _passes(hunt)


def test_another_audit_hook_is_not_added():
    program = ("import sys\nseen = []\nsys.addaudithook(lambda event, args: seen.append(event))\n"
               "open('x.txt', 'w').close()\nassert seen == [], seen\n" + GOOD)
    assert _passes(program)


def test_bad_entry_point_and_no_leaked_descriptors():
    with pytest.raises(ValueError, match="entry_point"):
        run_check(GOOD, TEST, "double(1)")
    before = len(os.listdir("/proc/self/fd"))
    for _ in range(3):
        run_check(GOOD, TEST, "double")
    assert len(os.listdir("/proc/self/fd")) == before


def test_reaching_the_harness_through_frames_does_not_fake_a_pass():
    find = ("import sys, types\nframe = sys._getframe()\nwhile '_harness' not in frame.f_globals:\n"
            "    frame = frame.f_back\nharness = frame.f_globals['_harness']\n")
    for attack in (
        # swap the tests the harness compiled (in its closure) for ones that pass
        "cells = dict(zip(harness.__code__.co_freevars, harness.__closure__))\n"
        "cells['compiled'].cell_contents[1] = compile('def check(c):\\n    pass\\n', 't', 'exec')\n",
        # run a copy of the harness whose tests pass
        "fake = [c for c in harness.__closure__]\n"
        "cells = dict(zip(harness.__code__.co_freevars, range(99)))\n"
        "fake[cells['compiled']] = types.CellType([compile('def double(x):\\n    return x\\n', 'p', 'exec'),\n"
        "                                          compile('def check(c):\\n    pass\\n', 't', 'exec')])\n"
        "types.FunctionType(harness.__code__, {}, 'h', harness.__defaults__, tuple(fake))()\n",
        # raise the verdict event from a frame of the harness's code... that is not the harness
        "sys.audit('treecredit.passed')\n",
    ):
        result = run_check(find + attack + "def double(x):\n    return x\n", TEST, "double")
        assert not result.passed, attack


@pytest.mark.parametrize("program, test, entry", [
    ("def abs(x):\n    return 0\ndef truncate(x):\n    return 42.0\n",
     "def check(candidate):\n    assert abs(candidate(1.33) - 0.33) < 1e-6\n", "truncate"),
    ("len = lambda x: 3\nsorted = lambda x: [1, 3]\ndef f(x):\n    return None\n",
     "def check(candidate):\n    assert len(candidate([1, 2, 3])) == 3\n"
     "    assert sorted(candidate([3, 1])) == [1, 3]\n", "f"),
    ("all = lambda it: True\nclass set(frozenset):\n    def __eq__(s, o):\n        return True\n"
     "    __hash__ = frozenset.__hash__\ndef g(n):\n    return [-1]\n",
     "def check(candidate):\n    assert all(x > 0 for x in candidate(3))\n"
     "    assert set(candidate(2)) == {1, 2}\n", "g"),
], ids=["abs", "len-sorted", "all-set"])
def test_a_program_shadowing_builtins_the_tests_use_does_not_pass(program, test, entry):
    result = run_check(program, test, entry, timeout=10)
    assert not result.passed and "Error" in result.stderr and "test.py" in result.stderr, result.stderr


def test_a_program_helper_named_like_a_builtin_still_works_for_the_program():
    program = ("def sum(values):\n    total = 0\n    for v in values:\n        total += 2 * v\n    return total\n"
               "def double(x):\n    return sum([x])\n")
    assert _passes(program)
    # the tests' own sum is the builtin one, and an entry point named like a builtin is kept
    assert _passes("def double(x):\n    return sum([x, x])\n", "def check(candidate):\n    assert sum([2]) == 2\n")
    assert run_check("def max(x):\n    return 2 * x\n", TEST, "max", timeout=5).passed
