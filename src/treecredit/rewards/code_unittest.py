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
then each test method, called by the runner itself (``setUp``, the test, ``tearDown``, cleanups; an
``IsolatedAsyncioTestCase`` through its ``debug()``), so a failure or an error ends the tests and the program
fails; then ``tearDownClass``/``tearDownModule``. The test methods are those in the ``__dict__`` of the tests'
own classes (``test*``, sorted, as unittest's loader finds them), not asked of ``unittest.TestLoader``, which
the program may have patched (until 2026-12-03 a program setting ``TestLoader.getTestCaseNames = lambda self,
cls: []`` ran no test and scored 1.0; patching ``TestCase.debug`` did the same). An ``expectedFailure`` test
must fail. A test is skipped only where the tests ask for it: a ``skip``/``skipIf``/``skipUnless`` mark read
from the tests' own class's or method's ``__dict__`` (not inherited from ``unittest.TestCase``, where a program
can set ``__unittest_skip__`` or ``__unittest_expecting_failure__``), a ``self.skipTest(...)`` call (the runner
gives each case its own), or a ``raise unittest.SkipTest`` directly in the tests' own ``setUpClass`` (that
class is skipped, as unittest does; one raised in a function it calls is a failure). Any other ``SkipTest``,
such as one the program's function raises, is a failure (until 2026-12-03 it counted as a skip: a program that
raised it scored 1.0; a ``SkipTest`` in ``setUpClass`` failed every program). Tests that skip every test
themselves pass every program, as unittest reports them OK; a ``raise unittest.SkipTest`` written in a test
method (not ``self.skipTest``) fails, since it cannot be told from the program's. The runner makes
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

    class TestsSkipped(unittest.SkipTest):
        """A skip the tests asked for (self.skipTest): any other SkipTest (the program's) is a failure."""

    def skip_test(reason):
        raise TestsSkipped(reason)

    own = [c for c in classes if isinstance(c, type)]  # marks count only from the tests' own classes' __dict__

    def marked(cls, key, method=None, own_only=False):
        """key set in the __dict__ of method, or of the first of cls's classes to have it, one of the tests'."""
        if method is not None and type(getattr(method, "__dict__", None)) is dict and method.__dict__.get(key):
            return True
        for k in type.__dict__["__mro__"].__get__(cls):  # (no `in` or `==` here: the tests' comparisons are checked)
            value = k.__dict__.get(key, marked)
            if value is not marked:
                return any(k is c for c in own) and (own_only or bool(value))
        return False

    if set_up is not None:
        set_up()
    for cls in own:
        if not issubclass(cls, unittest.TestCase) or marked(cls, "__unittest_skip__"):
            continue
        methods = {}  # the test methods of the tests' own classes, not asked of unittest (the program may patch it)
        for k in reversed(type.__dict__["__mro__"].__get__(cls)):
            if any(k is c for c in own):
                methods.update((n, v) for n, v in k.__dict__.items()
                               if n.startswith("test") and callable(getattr(cls, n)))
        if not methods:
            continue
        try:
            cls.setUpClass()
        except unittest.SkipTest as skip:  # raised in the tests' setUpClass itself (not in a function it called)
            tb = skip.__traceback__
            if not marked(cls, "setUpClass", own_only=True) or tb is None or tb.tb_next is None or (
                    tb.tb_next.tb_next is not None):
                raise
            cls.doClassCleanups()
            continue
        try:
            for name in sorted(methods):
                method = methods[name]
                if marked(cls, "__unittest_skip__", method):
                    continue
                expected = marked(cls, "__unittest_expecting_failure__", method)
                case = cls(name)
                case.skipTest = skip_test
                try:
                    if hasattr(cls, "asyncSetUp"):  # IsolatedAsyncioTestCase: its debug() runs the coroutine
                        case.debug()
                    else:  # the tests' own function, called here: not through unittest's (patchable) debug()
                        case.setUp()
                        getattr(case, name)()
                        case.tearDown()
                        while case._cleanups:
                            function, args, kwargs = case._cleanups.pop()
                            function(*args, **kwargs)
                except TestsSkipped:
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
    aliases = _test_case_aliases(tree)
    cases = any(isinstance(node, ast.ClassDef) and any(_names_test_case(base, aliases) for base in node.bases)
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
    the runner ends: nothing where its status is 0 or None, else a ``SystemExit`` raised by the tests' own code
    (a failure): not through ``sys.exit``, which the program may have replaced (until 2026-12-03 it was
    ``__import__('sys').exit(status)``, and a program that set ``sys.exit = lambda *a: None`` passed tests that
    exit with their count of failures)."""
    if call is None or not call.args and not call.keywords:
        return "None"
    if len(call.args) != 1 or call.keywords or isinstance(call.args[0], ast.Starred):
        return _RAISE_EXIT.format("1")  # (sys.exit(0, 1) fails as a TypeError would)
    status = source.text[slice(*source.span(call.args[0]))]
    return (f"(None if (_treecredit_status := ({status})) is None or type(_treecredit_status) in (int, bool) "
            f"and not _treecredit_status else {_RAISE_EXIT.format('_treecredit_status')})")


# An expression that raises SystemExit(status): the builtin class (the tests' builtins are a snapshot taken before
# the program ran), thrown into a generator of the tests' own.
_RAISE_EXIT = "(_ for _ in ()).throw(SystemExit({}))"


def _names_test_case(base: ast.expr, aliases: frozenset[str] = frozenset()) -> bool:
    """``TestCase``, ``unittest.TestCase``, ``IsolatedAsyncioTestCase`` ...: a name ending in ``TestCase``, or one
    of ``aliases`` (:func:`_test_case_aliases`)."""
    name = base.attr if isinstance(base, ast.Attribute) else getattr(base, "id", "")
    return name.endswith("TestCase") or isinstance(base, ast.Name) and name in aliases


def _test_case_aliases(tree: ast.Module) -> frozenset[str]:
    """The other names ``tree`` gives a ``TestCase`` class: ``from unittest import TestCase as Base``, and
    ``Base = unittest.TestCase`` (or ``= TestCase``, ``= Base``, in order). Until 2026-12-03 tests whose classes
    derive from such a name were refused as running nothing."""
    aliases: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("unittest"):
            aliases.update(a.asname for a in node.names if a.asname and a.name.endswith("TestCase"))
        elif isinstance(node, ast.Assign) and _names_test_case(node.value, frozenset(aliases)):
            aliases.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return frozenset(aliases)


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
