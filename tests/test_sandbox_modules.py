"""A program's patches of the libraries the tests call do not reach the tests (treecredit.sandbox_modules): until
2026-12-03 ``math.isclose = lambda *a, **k: True`` (or ``np.allclose``, ``np.testing.assert_array_equal``,
``json.loads``, ``sys.modules['math']``, ``builtins.round``) passed every test that calls it, a wrong program."""

import importlib.util
import sys

import pytest

from treecredit.sandbox_check import run_check
from treecredit.sandbox_imports import import_plan

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the sandbox is Linux/POSIX")
NUMPY = importlib.util.find_spec("numpy") is not None

RIGHT = "def f(x):\n    return x * 2.5\n"
WRONG = "def f(x):\n    return 0\n"
MATH = "import math\nassert math.isclose(f(1), 2.5)\nassert math.isclose(f(2), 5.0)\n"
FLOAT_ZERO = ("import numpy._core.numeric as n\nclass F(float):\n    def __new__(cls, y=0):\n"
              "        return float.__new__(cls, 0.0)\nn.float = F\n")  # (every float it makes compares as 0.0)
CHEATS = {  # name -> (the patch, at the program's top level; the tests)
    "math.isclose": ("import math\nmath.isclose = lambda *a, **k: True\n", MATH),
    "from math import isclose": ("import math\nmath.isclose = lambda *a, **k: True\n",
                                 "from math import isclose\nassert isclose(f(1), 2.5)\n"),
    "deleted and replaced": ("import math\ndel math.isclose\nmath.__dict__['isclose'] = lambda *a, **k: True\n", MATH),
    "sys.modules": ("import sys, types\nfake = types.ModuleType('math')\nfake.isclose = lambda *a, **k: True\n"
                    "sys.modules['math'] = fake\n", MATH),
    "module class": ("import math, types\nclass Any(types.ModuleType):\n    def __getattribute__(self, key):\n"
                     "        return lambda *a, **k: True\nmath.__class__ = Any\n", MATH),
    "json.loads": ("import json\njson.loads = lambda *a, **k: 0\n", "import json\nassert f(1) == json.loads('2.5')\n"),
    "json's decoder": ("import json\njson._default_decoder.decode = lambda s: 0\n",
                       "import json\nassert f(1) == json.loads('2.5')\n"),
    "builtins.round": ("import builtins\nbuiltins.round = lambda *a, **k: 0\nbuiltins.abs = lambda *a, **k: 0\n",
                       "import unittest\nunittest.TestCase().assertAlmostEqual(f(1), 2.5)\n"),
    "a class's method": ("import fractions\nfractions.Fraction.__eq__ = lambda *a: True\n",
                         "from fractions import Fraction\nassert Fraction(5, 2) == f(1)\n"),
    "the program's own name for it": ("import math\nclass math:\n    isclose = staticmethod(lambda *a, **k: True)\n",
                                      "assert math.isclose(f(1), 2.5)\n"),
    "a module that does not import": ("import sys, types\nfake = types.ModuleType('no_such_module_here')\n"
                                      "fake.ok = lambda *a: True\nsys.modules['no_such_module_here'] = fake\n",
                                      "import no_such_module_here\nassert no_such_module_here.ok(f(1))\n"),
}
if NUMPY:
    CHEATS.update({
        "np.allclose": ("import numpy as np\nnp.allclose = lambda *a, **k: True\n",
                        "import numpy as np\nassert np.allclose(f(1), 2.5)\n"),
        "np.testing (loaded by the program)": (
            "import numpy as np\nnp.testing.assert_array_equal = lambda *a, **k: None\n",
            "import numpy as np\nnp.testing.assert_array_equal(f(1), 2.5)\n"),
        "numpy's inside": ("import numpy.core.numeric as n\nn.isclose = lambda *a, **k: True\n",
                           "import numpy as np\nassert np.allclose(f(1), 2.5)\n"),
        # review41: numpy's public functions are C dispatchers whose `_implementation` reads `float` as a global
        "a builtin's name in numpy's inside (np.isclose)": (
            FLOAT_ZERO, "import numpy as np\nassert np.isclose(f(2), 5)\nassert np.isclose(f(4), 10)\n"),
        "a builtin's name in numpy's inside (np.allclose)": (
            FLOAT_ZERO, "import numpy as np\nassert np.allclose(f(2), 5)\nassert np.allclose(f(4), 10)\n"),
        "a function's code": ("import numpy as np\n"
                              "np.testing.assert_array_equal.__code__ = (lambda *a, **k: None).__code__\n",
                              "import numpy as np\nnp.testing.assert_array_equal(f(1), 2.5)\n"),
    })


@pytest.mark.parametrize("plain_results", [True, False])
@pytest.mark.parametrize("case", sorted(CHEATS))
def test_a_patch_of_a_library_does_not_reach_the_tests(case, plain_results):
    patch, test = CHEATS[case]
    if case != "a module that does not import":  # (no program passes a test of a module that is not there)
        program = ("import math\n" if case == "the program's own name for it" else "") + RIGHT
        right = run_check(program, test, "f", timeout=20, plain_results=plain_results)
        assert right.passed, right.stderr[-600:]
    wrong = run_check(patch + WRONG, test, "f", timeout=20, plain_results=plain_results)
    assert not wrong.passed, case


def test_a_library_function_s_code_may_not_be_swapped():
    result = run_check("import json\njson.loads.__code__ = (lambda *a, **k: 0).__code__\n" + WRONG,
                       "import json\nassert f(1) == json.loads('2.5')\n", "f", timeout=20)
    assert not result.passed and "changing __code__ of a library's function" in result.stderr


@pytest.mark.parametrize("when", ["returned first", "as an argument"])
def test_a_patch_made_while_the_tests_call_the_program_is_undone_after_the_call(when):
    """With the check on, each call of the program's function the tests make puts the libraries back after it."""
    program = "def f(x):\n    import math\n    math.isclose = lambda *a, **k: True\n    return 0\n"
    test = ("import math\nr = f(1)\nassert math.isclose(r, 2.5)\n" if when == "returned first" else
            "import math\ndef check(candidate):\n    assert math.isclose(candidate(1), 2.5)\n"
            "    assert math.isclose(candidate(2), 5.0)\n")
    assert not run_check(program, test, "f", timeout=20).passed
    assert run_check(RIGHT, test, "f", timeout=20).passed


def test_what_the_tests_patch_themselves_stays_through_the_program_s_calls():
    program = "import math\ndef f(x):\n    return math.sqrt(x)\n"
    test = ("import math\nfrom unittest import mock\nwith mock.patch('math.sqrt', return_value=7):\n"
            "    assert f(4) == 7\n    assert f(9) == 7\nassert f(4) == 2\n")
    result = run_check(program, test, "f", timeout=20)
    assert result.passed, result.stderr[-600:]


def test_what_a_right_program_does_to_the_libraries_for_itself_still_works():
    program = ("import sys, io, logging\nsys.setrecursionlimit(5000)\nlogging.basicConfig(level=logging.INFO)\n"
               "def f(x):\n    old = sys.stdout\n    sys.stdout = io.StringIO()\n    print('noise')\n"
               "    sys.stdout = old\n    return x * 2.5\n")
    assert run_check(program, MATH, "f", timeout=20).passed


def test_the_plan_names_what_runs():
    program = ("import numpy as np\nnp.testing.x = 1\ndef g():\n    import torch\nclass A:\n    import json as j\n"
               "if True:\n    import math\n")
    test = "from fractions import Fraction\ndef check(c):\n    import re\n    assert np.allclose(c(1), math.pi)\n"
    imports, paths, bindings, named, scope = import_plan(program, test, ("np", "math"))
    assert {name for name, _ in imports} == {"numpy", "json", "math", "fractions", "re"}
    assert ("numpy", "testing", "x") in paths and ("numpy", "allclose") in paths
    assert dict(bindings) == {"np": "numpy", "math": "math"}
    assert named == {"fractions", "re"} and scope == {"fractions", "re", "numpy", "math", "builtins"}


ADDED = {  # a public name a right program adds to a library module stays (trial39: each scored 0.0 after 4129064)
    "a compatibility shim": ("import collections, collections.abc\ncollections.Iterable = collections.abc.Iterable\n"
                             "def f(x):\n    return isinstance(x, collections.Iterable)\n", "assert f([1])\n"),
    "its own state at the top": ("import math\nmath.memo = {}\ndef f(n):\n    math.memo[n] = n\n    return n\n",
                                 "assert f(2) == 2\n"),
    "its own state in a call": ("import math\ndef f(n):\n    math.memo = 5\n    return n\n",
                                "import math\nassert f(2) == 2 and math.memo == 5\n"),
    "a builtin under its own name": ("import statistics\nstatistics.float = float\ndef f(n):\n"
                                     "    return statistics.float(n)\n", "assert f(2) == 2.0\n"),
}


@pytest.mark.parametrize("plain_results", [True, False])
@pytest.mark.parametrize("case", sorted(ADDED))
def test_a_public_name_a_program_adds_to_a_library_stays(case, plain_results):
    program, test = ADDED[case]
    result = run_check(program, test, "f", timeout=20, plain_results=plain_results)
    assert result.passed, result.stderr[-600:]


@pytest.mark.parametrize("patch", [
    "import statistics\nstatistics.sum = lambda *a, **k: 0\n",  # a builtin's name: the module's own calls read it
    "import statistics\nstatistics.float = lambda *a, **k: 0.75\n",
])
def test_an_added_name_that_shadows_a_builtin_is_dropped(patch):
    test = "import statistics\nassert statistics.mean([f(1), 2.0]) == 2.25\n"
    assert run_check(RIGHT, test, "f", timeout=20).passed
    assert not run_check(patch + WRONG, test, "f", timeout=20).passed


@pytest.mark.parametrize("plain_results", [True, False])
def test_data_a_program_sets_on_a_library_object_stays(plain_results):
    """review38: ``logging.basicConfig(level=INFO)`` at the top sets ``logging.root.level``; putting the root
    logger's ``__dict__`` back made a right logging program score 0 (nothing logged at INFO)."""
    program = ("import logging\nlogging.basicConfig(filename='app.log', level=logging.INFO, format='%(message)s')\n"
               "def f(x):\n    logging.getLogger(__name__).info('processed %s', x)\n    return x * 2\n")
    test = "assert f(3) == 6\nwith open('app.log') as log:\n    assert 'processed 3' in log.read()\n"
    result = run_check(program, test, "f", timeout=20, plain_results=plain_results)
    assert result.passed, result.stderr[-600:]


def test_a_method_patched_on_a_library_object_is_still_put_back():
    patch = "import json\njson._default_decoder.decode = lambda *a, **k: 0\n"
    test = "import json\nassert f(1) == json.loads('2.5')\n"
    assert not run_check(patch + WRONG, test, "f", timeout=20).passed
    assert run_check(patch + RIGHT, test, "f", timeout=20).passed


ADDED_UNREAD = {  # a name a right program adds (replacing nothing) that the module's own code never reads stays
    "a library object under a builtin's name": ("import math, fractions\nmath.float = fractions.Fraction\n"
                                                "def f(n):\n    return float(math.float(n, 2))\n",
                                                "assert f(5) == 2.5\n"),
    "a new private name at the top": ("import math\nmath._cache = {}\ndef f(n):\n    math._cache[n] = n\n"
                                      "    return n\n", "assert f(2) == 2\n"),
    "a new private name in a call": ("import math\ndef f(n):\n    math._cache = {n: n}\n    return n\n",
                                     "import math\nassert f(2) == 2 and math._cache == {2: 2}\n"),
    # review41: read only as an attribute (`math.gcd` in fractions, `_collections_abc.Mapping` in collections) or
    # as a keyword name (`cls(indent=indent, ...)` in json): no global of the module's
    "fractions.gcd = math.gcd": ("import fractions, math\nfractions.gcd = math.gcd\ndef f(a, b):\n"
                                 "    return fractions.gcd(a, b)\n", "assert f(12, 18) == 6\n"),
    "collections.Mapping = collections.abc.Mapping": (
        "import collections, collections.abc\ncollections.Mapping = collections.abc.Mapping\ndef f(x):\n"
        "    return isinstance(x, collections.Mapping)\n", "assert f({}) and not f([])\n"),
    "json.indent = 2": ("import json\njson.indent = 2\ndef f(x):\n    return json.dumps(x, indent=json.indent)\n",
                        "assert f([1]) == '[\\n  1\\n]'\n"),
}
if NUMPY:
    ADDED_UNREAD["np.float = np.float64 (an old numpy shim)"] = (
        "import numpy as np\nnp.float = np.float64\ndef f(x):\n    return float(np.float(x) * 2)\n",
        "assert f(1) == 2.0\n")


@pytest.mark.parametrize("plain_results", [True, False])
@pytest.mark.parametrize("case", sorted(ADDED_UNREAD))
def test_a_name_the_module_never_reads_stays_whatever_its_name(case, plain_results):
    """Until this fix a name under a builtin's name stayed only when it was that builtin (``np.float = float``) and
    a new ``_`` name was dropped: ``np.float = np.float64`` and ``math._cache = {}`` made right programs fail."""
    program, test = ADDED_UNREAD[case]
    result = run_check(program, test, "f", timeout=20, plain_results=plain_results)
    assert result.passed, result.stderr[-600:]


LIBRARY = '''
import math

def uses_gcd(a, b):
    return math.gcd(a, b)

def uses_keywords(x, **more):
    return dict(indent=x), dict(depth=x, **more)

def uses_hook(x):
    return globals().get("_hook", lambda value: value)(x)

def uses_sum(values):
    return sum(values)

class Lazy:
    @property
    def value(self):
        return _made_later

    @staticmethod
    def total(values):
        return max(values)
'''


def test_a_name_the_module_s_own_code_reads_is_dropped():
    """The rule in the boot source itself, on a module made here: what the module's functions (a property, a
    staticmethod, a ``globals().get`` string) read is dropped when the program adds it; what they never read stays."""
    import types

    from treecredit.sandbox_modules import MODULES

    space: dict = {}
    exec(MODULES, space)
    library = types.ModuleType("treecredit_test_made_library")
    exec(LIBRARY, library.__dict__)
    sys.modules[library.__name__] = library
    try:
        take, _ = space["_library_state"]((), (), (), frozenset(), frozenset({"builtins"}))
        restore, _, _ = take()
        added = {"_hook": abs, "sum": len, "_made_later": 1, "max": min, "float": int, "_cache": {}, "memo": 3,
                 "__getattr__": abs, "gcd": abs, "indent": 2, "depth": 3}
        for key, value in added.items():
            setattr(library, key, value)
        restore({})
        kept = {key for key in added if key in library.__dict__}
        assert kept == {"float", "_cache", "memo", "gcd", "indent", "depth"}  # (review41: attribute, keyword names)
    finally:
        del sys.modules[library.__name__]
