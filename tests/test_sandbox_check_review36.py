"""review36/trial36 findings on the harness (treecredit.sandbox_harness): the tests' module dunders, and the
standard library's reads of the tests' code objects."""

import sys

import pytest

from treecredit.rewards.code import code_reward
from treecredit.sandbox_check import run_check

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the sandbox is Linux/POSIX")
RIGHT = "def add(a, b):\n    return a + b\n"
WRONG = "def add(a, b):\n    return -1\n"
RENAMED = "__name__ = 'solution'\n" + WRONG
MAIN_GUARDED = {
    "asserts": "if __name__ == '__main__':\n    assert add(1, 2) == 3\n    assert add(0, 0) == 0\n",
    "TestCase": ("import unittest\nif __name__ == '__main__':\n    class T(unittest.TestCase):\n"
                 "        def test_add(self):\n            self.assertEqual(add(1, 2), 3)\n    unittest.main()\n"),
    "check": "def check(candidate):\n    assert candidate(1, 2) == 3\nif __name__ == '__main__':\n    check(add)\n",
}


@pytest.mark.parametrize("test", list(MAIN_GUARDED.values()), ids=list(MAIN_GUARDED))
@pytest.mark.parametrize("entry", ["add", None])
def test_a_program_that_sets_its_name_does_not_switch_off_the_tests_main_block(test, entry):
    # review36 1: the tests ran in a copy of the program's namespace with the program's __name__ in it
    programs = [RIGHT, RENAMED] + [dunder + "\n" + WRONG for dunder in (
        "__spec__ = 1", "__doc__ = 'x'", "__package__ = 'p'", "__loader__ = None", "__file__ = 'f'")]
    got = code_reward(["Write add."] * len(programs), programs, test=[test] * len(programs),
                      entry_point=[entry] * len(programs), workers=2)
    assert got == [1.0] + [0.0] * (len(programs) - 1)

def test_the_tests_see_the_module_dunders_of_main():
    test = ("assert __name__ == '__main__'\nassert __doc__ is None\nassert __spec__ is None\n"
            "assert __package__ is None\nassert add(1, 2) == 3\n")
    program = "__name__ = 'x'\n__doc__ = 'y'\n__spec__ = 3\n__package__ = 'z'\n" + RIGHT
    assert run_check(program, test, "add", timeout=10).passed


GET_RIGHT = "import os\ndef get():\n    return os.environ.get('X', '')\n"
GET_WRONG = "import os\ndef get():\n    return 'nope'\n"
MOCKING = {
    "patch": ("import unittest, os\nfrom unittest.mock import patch\nclass T(unittest.TestCase):\n"
              "    @patch('os.listdir')\n    def test_a(self, listdir):\n        os.environ['X'] = 'yes'\n"
              "        self.assertEqual(get(), 'yes')\n"),
    "patch.dict": ("import unittest, os\nfrom unittest.mock import patch\nclass T(unittest.TestCase):\n"
                   "    @patch.dict(os.environ, {'X': 'yes'})\n    def test_a(self):\n"
                   "        self.assertEqual(get(), 'yes')\n"),
    "patch.object": ("import unittest, os\nfrom unittest.mock import patch\nclass T(unittest.TestCase):\n"
                     "    @patch.object(os.environ, 'get', return_value='yes')\n    def test_a(self, m):\n"
                     "        self.assertEqual(get(), 'yes')\n"),
    "create_autospec": ("import os\nfrom unittest import mock\ndef ref():\n    return 'yes'\n"
                        "m = mock.create_autospec(ref, return_value='yes')\nos.environ['X'] = m()\n"
                        "assert get() == 'yes'\n"),
    "inspect.signature": ("import inspect, os\ndef helper(a, b=2):\n    return a\n"
                          "os.environ['X'] = str(inspect.signature(helper))\nassert get() == '(a, b=2)'\n"),
    "iscoroutinefunction": ("import inspect, os\ndef helper():\n    return 1\n"
                            "os.environ['X'] = 'yes' if not inspect.iscoroutinefunction(helper) else 'no'\n"
                            "assert get() == 'yes'\n"),
}


@pytest.mark.parametrize("test", list(MOCKING.values()), ids=list(MOCKING))
def test_tests_that_mock_or_inspect_their_own_functions_pass_a_right_program_only(test):
    # trial36 1: since ed78626 inspect and unittest.mock could not read the tests' functions' code, and every
    # program failed
    got = code_reward(["Write get."] * 2, [GET_RIGHT, GET_WRONG], test=[test] * 2, entry_point=["get"] * 2,
                      workers=2)
    assert got == [1.0, 0.0]


KILL = ("def _kill(code):\n    for c in code.co_consts:\n        if hasattr(c, 'co_consts'):\n            _kill(c)\n"
        "        elif callable(c) and getattr(c, '__closure__', None):\n"
        "            for n, cell in zip(c.__code__.co_freevars, c.__closure__):\n"
        "                if n == 'one':\n                    cell.cell_contents = lambda op, a, b: True\n")
SORT_TEST = ("def check(candidate):\n    assert candidate([3, 1, 2], key=lambda x: x) == [1, 2, 3]\n"
             "    assert candidate([5, 4], key=lambda x: -x) == [5, 4]\n")
THROUGH_THE_STANDARD_LIBRARY = {
    "getmembers": "import inspect\n    _kill(dict(inspect.getmembers(f))['__code__'])\n",
    "dis": "import dis\n    _kill(dis.Bytecode(f).codeobj)\n",
    "a reader's copy": ("import inspect, types\n"
                        "    g = types.FunctionType(inspect._has_code_flag.__code__, {'bool': _kill, "
                        "'ismethod': lambda f: False, 'isfunction': lambda f: True, 'functools': "
                        "types.SimpleNamespace(_unwrap_partial=lambda f: f)})\n    g(f, Flag())\n"),
    "a reader's name": ("import inspect\n    d = {}\n"
                        "    exec(compile('def _has_code_flag(f):\\n    return f.__code__\\n', inspect.__file__, "
                        "'exec'), d)\n    _kill(d['_has_code_flag'](f))\n"),
    "signature": "import inspect\n    inspect.signature(f)\n    _kill(f.__code__)\n",
}


@pytest.mark.parametrize("route", list(THROUGH_THE_STANDARD_LIBRARY.values()), ids=list(THROUGH_THE_STANDARD_LIBRARY))
def test_the_standard_librarys_readers_do_not_hand_the_tests_code_to_the_program(route):
    flag = "class Flag:\n    def __rand__(self, other):\n        _kill(other)\n        return 0\n"
    body = "\n".join("        " + line.strip() for line in route.splitlines())
    program = (KILL + flag + "def sort_by(xs, key):\n    f = key.__globals__['check']\n    try:\n" + body
               + "\n    except Exception as e:\n        print(type(e).__name__, e)\n    return [0]\n")
    compile(program, "main.py", "exec")
    result = run_check(program, SORT_TEST, "sort_by", timeout=20)
    assert not result.passed  # (the always-true comparison would have passed it)
    assert "AssertionError" in result.stderr, result.stderr[-600:]


def test_a_plain_data_refusal_is_said_once(monkeypatch):
    # trial36 11: a correct program returning np.int64 or a dataclass scored 0, and only the sandbox's stderr
    # named code:plain_results=false
    import warnings

    from treecredit import sandbox_check

    monkeypatch.setattr(sandbox_check, "_PLAIN_WARNED", [])
    programs = ["import numpy as np\ndef add(a, b):\n    return np.int64(a + b)\n",
                "import dataclasses\n@dataclasses.dataclass\nclass P:\n    x: int\n"
                "def add(a, b):\n    return P(a + b)\n"]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        got = code_reward(["Write add."] * 2, programs, test=["assert add(1, 2) == 3\n"] * 2,
                          entry_point=["add"] * 2, workers=1)
    assert got == [0.0, 0.0]
    said = [str(w.message) for w in caught if "plain_results=false" in str(w.message)]
    assert len(said) == 1 and "int64" in said[0], said
    monkeypatch.setattr(sandbox_check, "_PLAIN_WARNED", [])
    with warnings.catch_warnings(record=True) as caught:  # a wrong answer fails without it
        warnings.simplefilter("always")
        code_reward(["x"], [WRONG], test=["assert add(1, 2) == 3\n"], entry_point=["add"], workers=1)
    assert not [w for w in caught if "plain_results" in str(w.message)]
