"""run_check refuses the program every frame while the tests run, so that it cannot rewrite the
harness's variables: from Python 3.13 ``frame.f_locals`` writes through to a running function's
variables (PEP 667), and the harness's ``name``/``test_code`` decide whether ``check`` is called.

Each test runs under this interpreter and, when one is installed, under Python 3.13 (the sandbox starts
programs with ``sys.executable``; its child needs only the standard library)."""

import glob
import os
import shutil
import subprocess
import sys

import pytest

from treecredit.sandbox_check import run_check

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the sandbox is Linux/POSIX")
TEST = "def check(candidate):\n    assert candidate(2) == 4\n"
WRONG = "def double(x):\n    return x\n"


def _python313():
    """A Python 3.13 that runs (a pyenv shim on the PATH may not), or None."""
    found = [os.environ.get("TREECREDIT_PYTHON313", "")]
    found += sorted(glob.glob(os.path.expanduser("~/.pyenv/versions/3.13*/bin/python3.13")))
    found += [shutil.which("python3.13") or ""]
    for path in found:
        try:
            said = subprocess.run([path, "-c", "import sys; print(sys.version_info[:2])"], capture_output=True,
                                  text=True, timeout=30).stdout if path else ""
        except (OSError, subprocess.SubprocessError):
            continue
        if said.strip() == "(3, 13)":
            return path
    return None


PY313 = _python313()


@pytest.fixture(params=["current", "3.13"])
def python(request, monkeypatch):
    """The interpreter the sandboxed program runs under."""
    if request.param == "3.13":
        if sys.version_info[:2] != (3, 13) and PY313 is None:
            pytest.skip("no Python 3.13 interpreter (set TREECREDIT_PYTHON313)")
        if PY313 is not None:
            monkeypatch.setattr(sys, "executable", PY313)
    return request.param


# Each attack rewrites the harness's variables through a frame object it reached some way.
HARNESS_FRAME = {
    "getframe": "import sys\nharness = sys._getframe(1)\n",
    "traceback": "try:\n    1 / 0\nexcept ZeroDivisionError as error:\n"
                 "    harness = error.__traceback__.tb_frame.f_back\n",
    "generator": "def walk():\n    yield running.gi_frame.f_back.f_back\nrunning = walk()\nharness = next(running)\n",
    "inspect": "import inspect\nharness = inspect.currentframe().f_back\n",
}
REWRITE = {
    "skip check": "harness.f_locals['name'] = None\n",
    "swap tests": "harness.f_locals['test_code'] = compile('def check(c):\\n    pass\\n', 't', 'exec')\n",
    "skip exec": "harness.f_locals['exec_'] = lambda *args: None\n",
}


@pytest.mark.parametrize("reach", sorted(HARNESS_FRAME))
@pytest.mark.parametrize("rewrite", sorted(REWRITE))
def test_rewriting_the_harness_through_a_frame_does_not_pass(python, reach, rewrite):
    result = run_check(HARNESS_FRAME[reach] + REWRITE[rewrite] + WRONG, TEST, "double", timeout=5)
    assert not result.passed and "not allowed" in result.stderr, result.stderr


def test_a_frame_from_an_objects_method_does_not_pass(python):
    """Lifting plain_results by rewriting ``guard`` from inside the candidate (an always-equal answer)."""
    program = ("import sys\nclass Same:\n    def __eq__(self, other):\n        return True\n"
               "def double(x):\n    sys._getframe(2).f_locals['guard'] = None\n    return Same()\n")
    result = run_check(program, TEST, "double", timeout=5)
    assert not result.passed and "not allowed" in result.stderr, result.stderr


def test_the_standard_library_that_reads_frames_falls_back(python):
    """logging, namedtuple, typing and enum catch the refusal (a ValueError, as past the stack's bottom)."""
    program = ("import collections, dataclasses, enum, logging, typing, warnings\n"
               "Pair = collections.namedtuple('Pair', 'a b')\nT = typing.TypeVar('T')\n"
               "Color = enum.Enum('Color', 'RED GREEN')\nMovie = typing.TypedDict('Movie', {'name': str})\n"
               "class Point(typing.NamedTuple):\n    x: int\n    y: int\n"
               "@dataclasses.dataclass\nclass Box:\n    side: int\n"
               "logging.warning('a warning from the program')\nwarnings.warn('careful')\n"
               "def double(x: T) -> T:\n    return sum(Pair(x, Box(x).side)) + Point(0, 0).x + Color.RED.value - 1\n")
    result = run_check(program, TEST, "double", timeout=5)
    assert result.passed, result.stderr
    assert "a warning from the program" in result.stderr


def test_a_failure_still_shows_its_traceback(python):
    result = run_check(WRONG, TEST, "double", timeout=5)
    assert not result.passed and 'File "test.py", line 2, in check' in result.stderr, result.stderr


@pytest.mark.parametrize("module", ["_testcapi", "_testinternalcapi"])
def test_test_only_c_modules_are_refused(python, module):
    """They hand out frames' internals (frame_getlocals, ...) and can corrupt memory."""
    result = run_check(f"import {module}\n" + WRONG.replace("x\n", "2 * x\n"), TEST, "double", timeout=5)
    assert not result.passed and "not allowed" in result.stderr, result.stderr


# After a failure the run is spoiled and frames may be read again (its traceback is printed). A program
# took the verdict hook's frame from the traceback of one of its refusals, read the token there and wrote
# it to the result pipe: a wrong program passed.
STEAL = ("import atexit, os, sys\ndef steal():\n    try:\n        sys.settrace(None)\n"
         "    except PermissionError as error:\n        tb = error.__traceback__\n        while tb.tb_next:\n"
         "            tb = tb.tb_next\n        found = [v for v in tb.tb_frame.f_locals.values() if type(v) is bytes]\n"
         "        for fd in range(3, 64):\n            for value in found:\n                try:\n"
         "                    os.write(fd, value)\n                except OSError:\n                    pass\n")
WHEN = {
    "traceback": "class Loud(Exception):\n    def __str__(self):\n        steal()\n        return 'loud'\n"
                 "def double(x):\n    raise Loud()\n",
    "atexit": "atexit.register(steal)\n" + WRONG,
}


@pytest.mark.parametrize("when", sorted(WHEN))
def test_the_token_is_gone_once_the_run_is_spoiled(python, when):
    result = run_check(STEAL + WHEN[when], TEST, "double", timeout=5)
    assert not result.passed, result.stderr


@pytest.mark.parametrize("where", ["program", "tests"])
def test_a_frame_refusal_says_whether_the_program_or_the_tests_ran(where):
    """matplotlib's pyparsing calls sys._getframe while the program imports it: the refusal said 'while the tests
    run' (until 2026-12-03), which sent its readers to the wrong place."""
    program = ("import sys\nsys._getframe()\n" if where == "program" else "") + (
        "def double(x):\n    import sys\n    sys._getframe()\n    return 2 * x\n")
    result = run_check(program, TEST, "double", timeout=20)
    assert not result.passed
    said = "while the program ran, before the tests" if where == "program" else "while the tests ran"
    assert said in result.stderr and "pyparsing" in result.stderr, result.stderr[-600:]


def test_matplotlib_s_refusal_names_the_program_s_import():
    pytest.importorskip("matplotlib")
    result = run_check("import matplotlib\nmatplotlib.use('Agg')\nimport matplotlib.pyplot as plt\n"
                       "def double(x):\n    return 2 * x\n", TEST, "double", timeout=30)
    if result.passed:  # (a pyparsing or matplotlib that reads no frame at import)
        return
    assert "while the program ran, before the tests" in result.stderr, result.stderr[-600:]
