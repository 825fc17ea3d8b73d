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
