"""unittest-style tests for the ``code`` reward: their ``TestCase`` classes are run, each failure a failure.

Tests written as ``class TestCases(unittest.TestCase)`` (BigCodeBench rows: no runner, the harness is expected
to run them) ran nothing, so every program scored 1.0; tests ending in ``unittest.main()`` failed every program
(its ``SystemExit``), and with ``unittest.main(exit=False)`` passed every program (it looks for tests in the
program's module, not in the tests' namespace, and finds none). Until 2026-12-03 each was so.

:func:`with_runner` rewrites such tests before they run (:func:`treecredit.rewards.code.run_tests`; lines keep
their numbers): each ``unittest.main(...)`` statement becomes ``None``, and a runner is appended that runs every
``TestCase`` subclass the tests define at their top level or inside a top-level block (``if __name__ ==
"__main__":``, ``if True:``, ``try:``, ``with``, ``for``; where that block ran: a class in an ``if False:`` block
does not exist, and is not run; until 2026-12-03 only classes at the top level ran, and tests that define them
under a main guard passed every program), not those defined inside a function: ``setUpModule``/``setUpClass``,
then each test method
through ``TestCase.debug()`` (``setUp``, the test, ``tearDown``, cleanups), which raises what the test raised, so
a failure or an error ends the tests and the program fails; then ``tearDownClass``/``tearDownModule``. A skipped
test counts as passed, an ``expectedFailure`` test must fail, as unittest counts them. The runner makes
``assertRaises`` work in the sandbox, which refuses reading a traceback's frames while the tests run: unittest
clears the frames of the exception it caught (``traceback.clear_frames``), which the runner turns into a no-op
for unittest. Runners the tests call themselves (``TextTestRunner().run(suite)``) still run, and their results
are not read: the appended runner runs the classes again. In tests with ``TestCase`` classes, the tests' own exit
(``sys.exit(0)``, ``exit()``, ``raise SystemExit``: :mod:`treecredit.sandbox_exits` says which) with status 0 or
None does nothing, so that the runner still runs after it (the harness counts such an exit as the tests' end:
the classes would never run); with another status it stays a real exit, a failure.
"""

from __future__ import annotations

import ast
import functools

from treecredit.sandbox_exits import exit_statements
from treecredit.sandbox_rewrite import _Source

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
    top_classes = [node.name for node in tree.body if isinstance(node, ast.ClassDef)]
    in_blocks = [node for node in _block_statements(tree.body) if isinstance(node, ast.ClassDef)]
    cases = any(isinstance(node, ast.ClassDef) and any(_names_test_case(base) for base in node.bases)
                for node in [*tree.body, *in_blocks])
    if not (cases or mains):
        return test
    source = _Source(test)
    edits = [(*source.span(call), "None") for call in mains]
    if cases:  # the tests' own exit with status 0 must not end them before the runner (treecredit.sandbox_exits)
        edits += [(*source.span(statement), _exit_unless_zero(source, call))
                  for statement, _, call in exit_statements(tree)]
    text = test
    for start, end, new in sorted(edits, reverse=True):
        lost = source.newlines(start, end)  # (lines keep their numbers)
        text = text[:start] + (f"({new}{lost})" if lost else new) + text[end:]
    lines = text.split("\n")
    # Classes defined in a top-level block (`if __name__ == "__main__":`, `try:`) run too, where that block ran
    # (until 2026-12-03 they did not run; a block that did not run defines none: globals().get is None).
    classes = [*top_classes, *(f"globals().get({name!r})" for name in dict.fromkeys(n.name for n in in_blocks)
                               if name not in top_classes)]
    top = {node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef))}
    runner = _RUNNER.replace("{classes}", "".join(name + ", " for name in classes))
    runner = runner.replace("{set_up}", "setUpModule" if "setUpModule" in top else "None")
    runner = runner.replace("{tear_down}", "tearDownModule" if "tearDownModule" in top else "None")
    return "\n".join(lines).rstrip("\n") + "\n" + runner


def _block_statements(body: list):
    """The statements inside the top-level blocks of ``body`` (``if``, ``for``, ``while``, ``try``, ``with``,
    ``match``; not functions or classes), at any depth."""
    for statement in body:
        for field in ("body", "orelse", "finalbody", "handlers", "cases"):
            if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                break
            for child in getattr(statement, field, ()):
                inner = child.body if isinstance(child, (ast.ExceptHandler, ast.match_case)) else [child]
                yield from inner
                yield from _block_statements(inner)


def _exit_unless_zero(source, call: ast.Call | None) -> str:
    """The text in place of the tests' exit statement ``call`` (None: a bare ``raise SystemExit``) in tests that
    the runner ends: nothing where its status is 0 or None, else the same exit (a real ``SystemExit``: a
    failure)."""
    if call is None or not call.args and not call.keywords:
        return "None"
    if len(call.args) != 1 or call.keywords or isinstance(call.args[0], ast.Starred):
        return "__import__('sys').exit(1)"  # (sys.exit(0, 1) fails as a TypeError would)
    status = source.text[slice(*source.span(call.args[0]))]
    return (f"(None if (_treecredit_status := ({status})) is None or type(_treecredit_status) in (int, bool) "
            f"and not _treecredit_status else __import__('sys').exit(_treecredit_status))")


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
