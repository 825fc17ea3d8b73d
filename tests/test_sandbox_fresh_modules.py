"""Modules made afresh, past the audit hook (a new-user trial, 2026-12-03; each failed before its fix).

A built-in module raises no ``import`` audit event when it is made: ``importlib.import_module`` (pure
Python, no event), ``importlib.util.module_from_spec(BuiltinImporter.find_spec(...))`` and
``_imp.create_builtin`` gave a fresh ``posix``/``_signal`` (their pidfd functions, and in ``run_check`` a
working ``_signal.signal``, back) or a ``pwd`` the hook refuses by name. An extension module loaded under
another package's name (``x._posixsubprocess``: its init function is found by the last part) passed the
hook's name check. And a replacement function the program can reach (``_signal.signal``) had the boot
code's globals, which held the harness (and through its closure the tests' source)."""

import subprocess
import sys

import pytest

from treecredit.sandbox import _RUN, run_boot, run_python
from treecredit.sandbox_check import run_check

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the sandbox is Linux/POSIX")
AUDIT_HOOK_ONLY = {"namespaces": False, "seccomp": False}
TEST = "def check(candidate):\n    assert candidate(2, 3) == 5\n    assert candidate(10, -1) == 9\n"

# Each makes a module afresh into `fresh`; {name} is the module's name.
ROUTES = {
    "import_module": "import importlib, sys\nsys.modules.pop({name!r}, None)\n"
                     "fresh = importlib.import_module({name!r})\n",
    "module_from_spec": "import importlib.util, importlib.machinery as m\n"
                        "fresh = importlib.util.module_from_spec(m.BuiltinImporter.find_spec({name!r}))\n",
    "create_builtin": "import _imp, importlib.machinery as m\n"
                      "fresh = _imp.create_builtin(m.ModuleSpec({name!r}, m.BuiltinImporter, origin='built-in'))\n",
    "create_builtin_str_subclass": "import _imp, types\nclass Name(str):\n    pass\n"
                                   "fresh = _imp.create_builtin(types.SimpleNamespace(name=Name({name!r})))\n",
    "imp_init_builtin": "import warnings\nwarnings.simplefilter('ignore')\nimport imp, sys\n"
                        "sys.modules.pop({name!r}, None)\nfresh = imp.init_builtin({name!r})\n",
}


@pytest.mark.parametrize("route", sorted(ROUTES))
def test_a_refused_module_is_not_made_afresh(route):
    """pwd (the user database, read in C with no audit event): refused by name, also made afresh."""
    if "pwd" not in sys.builtin_module_names and "builtin" in route:
        pytest.skip("pwd is not a built-in module here")
    program = ROUTES[route].format(name="pwd") + "print('users', [p.pw_name for p in fresh.getpwall()])\n"
    result = run_python(program, timeout=10)
    assert not result.passed and "users" not in result.stdout, (result.stdout, result.stderr[-300:])


@pytest.mark.parametrize("route", sorted(ROUTES))
def test_a_fresh_posix_and_signal_still_cannot_signal_another_process(route):
    """The pidfd functions (no audit event) are replaced in posix and _signal; a fresh copy of either
    brought them back, and with the audit hook as the only layer a program killed a process of the user."""
    victim = subprocess.Popen(["sleep", "60"])
    try:
        program = (ROUTES[route].format(name="posix") + "posix = fresh\n" + ROUTES[route].format(name="_signal")
                   + f"posix.pidfd_open({victim.pid})\n"
                   + f"fresh.pidfd_send_signal(posix.pidfd_open({victim.pid}), 9)\nprint('sent')\n")
        result = run_boot({"main.py": program}, _RUN, timeout=10, **AUDIT_HOOK_ONLY)
        assert not result.passed and "sent" not in result.stdout, result.stderr[-300:]
        assert victim.poll() is None, "the sandboxed program killed another process"
    finally:
        victim.kill()
        victim.wait()


SIGNAL_FRAME = r'''
import dis, sys
{route}
grab = []
fresh.signal(10, lambda signum, frame: grab.append(frame))


def add(a, b):
    fresh.raise_signal(10)
    frame = grab.pop()
    while frame.f_code.co_name != "check":
        frame = frame.f_back
    code = list(dis.get_instructions(frame.f_code))
    i = next(k for k, x in enumerate(code) if x.offset > frame.f_lasti)
    while code[i].opname != "LOAD_CONST":
        i += 1
    return code[i].argval
'''


@pytest.mark.parametrize("route", ["import_module", "create_builtin", "module_from_spec"])
def test_a_fresh_signal_module_does_not_reach_the_tests_constants(route):
    """A signal handler receives the running frame: with a fresh _signal (its signal() not replaced) a
    wrong program read the expected value from check()'s constants and passed."""
    program = SIGNAL_FRAME.replace("{route}", ROUTES[route].format(name="_signal"))
    result = run_check(program, TEST, "add", timeout=10)
    assert not result.passed, result.stderr[-300:]


def test_an_extension_module_under_another_name_is_refused():
    """The hook refused _posixsubprocess by name; loaded as x._posixsubprocess (its init function is
    found by the name's last part) it came back with a working fork_exec."""
    program = ("import importlib.util as u, importlib.machinery as m\norigin = u.find_spec('_posixsubprocess').origin\n"
               "if origin in (None, 'built-in'):\n    raise SystemExit('built in')\n"
               "spec = m.ModuleSpec('x._posixsubprocess', m.ExtensionFileLoader('x._posixsubprocess', origin),"
               " origin=origin)\nfresh = u.module_from_spec(spec)\nprint('loaded', fresh.fork_exec)\n")
    result = run_boot({"main.py": program}, _RUN, timeout=10, **AUDIT_HOOK_ONLY)
    if "built in" in result.stderr:
        pytest.skip("_posixsubprocess is built in here")
    assert not result.passed and "loaded" not in result.stdout, result.stdout


def test_the_harness_is_not_reachable_through_a_replacement_functions_globals():
    """_signal.signal (replaced by a refusal) had the boot code's globals, which held the harness; its
    closure held the tests' source, from which a wrong program looked up each expected value."""
    program = r'''
import _signal, re
found = []
def walk(cells, depth=0):
    for cell in cells or ():
        value = cell.cell_contents
        if isinstance(value, str) and value.startswith("def check"):
            found.append(value)
        elif callable(value) and getattr(value, "__closure__", None) and depth < 3:
            walk(value.__closure__, depth + 1)
for value in list(_signal.signal.__globals__.values()):
    if callable(value):
        walk(getattr(value, "__closure__", None))
table = {eval("(" + a + ",)"): eval(b) for a, b in re.findall(r"candidate\((.*?)\) == (.*)", found[0])}
def add(a, b):
    return table[(a, b)]
'''
    result = run_check(program, TEST, "add", timeout=10)
    assert not result.passed, result.stderr[-300:]


def test_common_modules_still_import_after_a_fresh_import():
    """Built-in modules the program may use still import, also afresh (the same, already made module)."""
    program = ("import importlib, sys, time, itertools, errno, faulthandler, gc, marshal, _tracemalloc\n"
               "sys.modules.pop('time')\nimport time as again\nsys.modules.pop('itertools')\n"
               "print(importlib.import_module('itertools').count is itertools.count, again is time,\n"
               "      importlib.import_module('os').getpid() > 0, importlib.reload(errno) is errno)\n")
    result = run_python(program, timeout=10)
    assert result.passed and result.stdout.split() == ["True", "True", "True", "True"], result.stderr[-400:]
