"""unittest-style tests for the ``code`` reward: their ``TestCase`` classes are run, each failure a failure.

Tests written as ``class TestCases(unittest.TestCase)`` (BigCodeBench rows: no runner, the harness is expected
to run them) ran nothing, so every program scored 1.0; tests ending in ``unittest.main()`` failed every program
(its ``SystemExit``), and with ``unittest.main(exit=False)`` passed every program (it looks for tests in the
program's module, not in the tests' namespace, and finds none). Until 2026-12-03 each was so.

:func:`with_runner` rewrites such tests before they run (:func:`treecredit.rewards.code.run_tests`; lines keep
their numbers): each ``unittest.main(...)`` statement becomes ``None``, and a runner is appended that runs every
``TestCase`` subclass the tests define at their top level: ``setUpModule``/``setUpClass``, then each test method
through ``TestCase.debug()`` (``setUp``, the test, ``tearDown``, cleanups), which raises what the test raised, so
a failure or an error ends the tests and the program fails; then ``tearDownClass``/``tearDownModule``. A skipped
test counts as passed, an ``expectedFailure`` test must fail, as unittest counts them. The runner makes
``assertRaises`` work in the sandbox, which refuses reading a traceback's frames while the tests run: unittest
clears the frames of the exception it caught (``traceback.clear_frames``), which the runner turns into a no-op
for unittest. Runners the tests call themselves (``TextTestRunner().run(suite)``) still run, and their results
are not read: the appended runner runs the classes again.
"""

from __future__ import annotations

import ast
import functools

_RUNNER = '''

def _treecredit_run_unittest(classes, set_up, tear_down):
    """Appended by treecredit (rewards/code_unittest.py): run the tests' TestCase classes, raising any failure."""
    import types
    import unittest
    import unittest.case

    unittest.case.traceback = types.SimpleNamespace(clear_frames=lambda tb: None)  # frames are not readable here
    loader = unittest.TestLoader()
    if set_up is not None:
        set_up()
    for cls in classes:
        if not (isinstance(cls, type) and issubclass(cls, unittest.TestCase)) or getattr(cls, "__unittest_skip__", 0):
            continue
        names = loader.getTestCaseNames(cls)
        if not names:
            continue
        cls.setUpClass()
        try:
            for name in names:
                case = cls(name)
                expected = getattr(cls, "__unittest_expecting_failure__", False) or getattr(
                    getattr(case, name), "__unittest_expecting_failure__", False)
                try:
                    case.debug()
                except unittest.SkipTest:
                    continue
                except Exception:
                    if expected:
                        continue
                    raise
                if expected:
                    raise AssertionError(cls.__name__ + "." + name + ": expected to fail, but passed")
        finally:
            cls.tearDownClass()
            cls.doClassCleanups()
        if cls.tearDown_exceptions:
            raise cls.tearDown_exceptions[0][1]
    if tear_down is not None:
        tear_down()


_treecredit_run_unittest(({classes}), {set_up}, {tear_down})
'''


@functools.lru_cache(maxsize=1024)
def with_runner(test: str) -> str:
    """``test`` with its ``unittest.main(...)`` statements made ``None`` and a runner of its ``TestCase`` classes
    appended (module docstring); unchanged when it defines no class whose bases name ``TestCase`` and calls no
    ``unittest.main``, or does not parse."""
    try:
        tree = ast.parse(test)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return test
    mains = [node.value for node in ast.walk(tree)
             if isinstance(node, ast.Expr) and _is_unittest_main(node.value, tree)]
    classes = [node.name for node in tree.body if isinstance(node, ast.ClassDef)]
    cases = any(isinstance(node, ast.ClassDef) and any(_names_test_case(base) for base in node.bases)
                for node in tree.body)
    if not (cases or mains):
        return test
    lines = test.split("\n")
    for call in sorted(mains, key=lambda c: (c.lineno, c.col_offset), reverse=True):
        first, last = call.lineno - 1, (call.end_lineno or call.lineno) - 1
        head = lines[first].encode("utf-8")[:call.col_offset].decode("utf-8", "replace")
        tail = lines[last].encode("utf-8")[call.end_col_offset or 0:].decode("utf-8", "replace")
        lines[first:last + 1] = [head + "(None"] + [""] * (last - first - 1) + [")" + tail] if last > first \
            else [head + "None" + tail]
    top = {node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}
    runner = _RUNNER.replace("{classes}", "".join(name + ", " for name in classes))
    runner = runner.replace("{set_up}", "setUpModule" if "setUpModule" in top else "None")
    runner = runner.replace("{tear_down}", "tearDownModule" if "tearDownModule" in top else "None")
    return "\n".join(lines).rstrip("\n") + "\n" + runner


def _names_test_case(base: ast.expr) -> bool:
    """``TestCase``, ``unittest.TestCase``, ``IsolatedAsyncioTestCase`` ...: a name ending in ``TestCase``."""
    name = base.attr if isinstance(base, ast.Attribute) else getattr(base, "id", "")
    return name.endswith("TestCase")


def _is_unittest_main(call: ast.expr, tree: ast.Module) -> bool:
    """``unittest.main(...)``, or ``main(...)`` after ``from unittest import main``."""
    if not isinstance(call, ast.Call):
        return False
    func = call.func
    if isinstance(func, ast.Attribute):
        return func.attr == "main" and isinstance(func.value, ast.Name) and func.value.id == "unittest"
    return isinstance(func, ast.Name) and func.id == "main" and any(
        isinstance(node, ast.ImportFrom) and node.module == "unittest"
        and any(a.name == "main" and (a.asname or a.name) == "main" for a in node.names) for node in ast.walk(tree))
