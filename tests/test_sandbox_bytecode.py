"""Code objects the program makes itself (each failed before its fix).

CPython does not check bytecode: a code object whose ``LOAD_CONST`` or ``LOAD_FAST`` points past its
tables reads whatever lies in memory there, the start of a native-level exploit (read the verdict token
from memory, forge objects). Made with ``code.replace``/``types.CodeType`` (audit event
``code.__new__``), ``marshal.loads`` (``marshal.loads``; importlib uses it for every ``.pyc``), a
``.pyc`` written into the folder, or ``_imp.get_frozen_object(name, data)`` (no audit event at all).
The audit hook refuses them all but ``marshal.loads`` of a ``.pyc`` of the Python installation, byte for
byte, or of data without a code object (since 2026-12-03); the standard library's one user of
``code.replace`` (``types.coroutine``) is replaced by its wrapper path."""

import sys

import pytest

from treecredit.sandbox import run_python

pytestmark = pytest.mark.skipif(sys.platform != "linux", reason="the sandbox is Linux/POSIX")
AUDIT_ONLY = {"namespaces": False}
# A function whose constant table is emptied: its LOAD_CONST 0 reads past the tuple's end.
OUT_OF_RANGE = "def f():\n    return 12345\n"

ATTACKS = {
    "code.replace": OUT_OF_RANGE + "f.__code__ = f.__code__.replace(co_consts=())\n",
    "CodeType": OUT_OF_RANGE + "import types\nc = f.__code__\n"
                "f.__code__ = types.CodeType(c.co_argcount, c.co_posonlyargcount, c.co_kwonlyargcount, c.co_nlocals,\n"
                "    c.co_stacksize, c.co_flags, c.co_code, (), c.co_names, c.co_varnames, c.co_filename, c.co_name,\n"
                "    c.co_qualname, c.co_firstlineno, c.co_linetable, c.co_exceptiontable)\n",
    # (the marshalled constant table's length byte set to 0: a tuple of none)
    # (bytes the program wrote: here a plain copy of its own code, which could as well be crafted)
    "marshal.loads": OUT_OF_RANGE + "import marshal\nf.__code__ = marshal.loads(marshal.dumps(f.__code__))\n",
    "pyc-in-folder": OUT_OF_RANGE + "import marshal, importlib.util, importlib.machinery as m\n"
                     "open('evil.pyc', 'wb').write(importlib.util.MAGIC_NUMBER + bytes(12)\n"
                     "    + marshal.dumps(compile('x = 1', 'evil', 'exec')))\n"
                     "m.SourcelessFileLoader('evil', 'evil.pyc').load_module()\n",
    "get_frozen_object": OUT_OF_RANGE + "import _imp, marshal\n"
                         "f.__code__ = _imp.get_frozen_object('os', marshal.dumps(f.__code__))\n",
}


@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_a_program_makes_no_code_object_of_its_own(attack):
    result = run_python(ATTACKS[attack] + "print('made', f())\n", timeout=10, **AUDIT_ONLY)
    assert not result.passed and "made" not in result.stdout, (result.returncode, result.stdout, result.stderr[-300:])
    assert "not allowed" in result.stderr and result.returncode == 1, (result.returncode, result.stderr[-300:])


def test_imports_from_pyc_files_and_asyncio_still_work():
    program = ("import asyncio, types, json, numpy, importlib, sys\n"
               "@types.coroutine\ndef pause():\n    yield\n"
               "async def main():\n    await asyncio.sleep(0)\n    await pause()\n    return 7\n"
               "running = main()\ntry:\n    while True:\n        running.send(None)\n"
               "except StopIteration as stop:\n    value = stop.value\n"  # (asyncio's event loops need sockets)
               "sys.modules.pop('json')\nprint(value, importlib.import_module('json').dumps([1]))\n")
    result = run_python(program, timeout=20)
    assert result.passed and result.stdout.split() == ["7", "[1]"], result.stderr[-400:]


def test_marshal_of_plain_data_loads():
    """Review 2026-12-03 (3c): marshal.loads(marshal.dumps([1, {2: 'a'}])) was refused like a code object."""
    program = ("import marshal\ndata = [1, -2**80, 1.5, 2j, None, True, ..., 'é' * 300, b'c\\xe3', (3, 'c'),\n"
               "        {2: 'a', 'b': [frozenset({1}), {4}]}]\nshared = [1]\n"
               "for version in range(5):\n    assert marshal.loads(marshal.dumps(data, version)) == data\n"
               "assert marshal.loads(marshal.dumps([shared, shared])) == [[1], [1]]\nprint('loaded')\n")
    result = run_python(program, timeout=10, **AUDIT_ONLY)
    assert result.passed and result.stdout.strip() == "loaded", result.stderr[-400:]


@pytest.mark.parametrize("where", ["[1, (code,)]", "{1: code}", "{code: 1}", "[{frozenset({2}), 3}, [code]]"])
def test_marshal_of_data_holding_a_code_object_is_refused(where):
    program = (OUT_OF_RANGE + "import marshal\ncode = f.__code__\n"
               f"loaded = marshal.loads(marshal.dumps({where}))\nprint('made')\n")
    result = run_python(program, timeout=10, **AUDIT_ONLY)
    assert not result.passed and "made" not in result.stdout and "not allowed" in result.stderr, result.stderr[-300:]
