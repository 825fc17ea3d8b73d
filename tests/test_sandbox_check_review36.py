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
