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
under a main guard passed every program), not those defined inside a function (tests whose only ``TestCase``
classes are made there, or by ``type(...)``, are refused:
:func:`~treecredit.rewards.code_unittest_classes.unrun_test_cases`; until 2026-12-03 they ran
nothing and every program passed): ``setUpModule``/``setUpClass``, then each test method (``runTest`` in a
class without ``test*`` methods, as unittest's loader does; until 2026-12-03 such a class ran nothing), called by
the runner itself (``setUp``, the test, ``tearDown``, cleanups; an
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

What the program did to ``unittest`` does not choose which tests run or how they end (until 2026-12-03 a wrong
program that set ``TestCase.setUp`` to a ``skipTest``, ``TestCase.asyncSetUp`` and ``debug``, an
``__init_subclass__`` that deleted the test methods, an ``__init__`` that set each test's name to a no-op on the
instance, or ``TestCase.assertTrue`` to a no-op, scored 1.0): the harness puts ``unittest`` back as it was before
the program ran, just before the tests run (its modules' namespaces and ``sys.modules`` entries, and the
``__dict__`` of each of its classes: :mod:`treecredit.sandbox_results`; and every library module as before the
program ran, with unittest's functions' code unchangeable: :mod:`treecredit.sandbox_modules`, review37 2); the
runner reads the skip and expected-failure marks of each test method before any test runs (review37 4a: a program
set ``__unittest_skip__`` on them), puts the tests' own classes' functions back and removes a TestCase name the
program set on them before each test (4b: a property ``assertTrue``), accepts as a skip only the exceptions its own
``skipTest`` raised (3: a program raised the runner's ``TestsSkipped``, found through ``SkipTest.__subclasses__()``),
and the tests' functions' ``__code__``/``__defaults__`` cannot be changed (4c); the runner fails a class that
lacks a test method the tests' text defines in it; it reads the tests' own classes' ``__dict__`` and ``TestCase``'s (and
``IsolatedAsyncioTestCase``'s, the only class whose subclasses go through ``debug()``) before any test runs, puts
``TestCase`` back before each test, calls ``setUp``, the test and ``tearDown`` found there (never an attribute of
the case), and binds ``TestCase``'s methods on each case, so a patch that the program's code makes while a test
calls it does not reach ``self.assertTrue`` in that test; and an ``assertEqual``-family call that is a statement
of its own becomes an ``assert`` (:mod:`treecredit.sandbox_rewrite`). Limits: the program's code that a test
calls can still change, for the rest of that test, what unittest's methods call in turn (``unittest.case``'s
helpers, ``difflib``, the context object of ``assertRaises``), and the tests' own classes (reached through
``TestCase.__subclasses__()``) for later lookups the tests make themselves. ``IsolatedAsyncioTestCase`` tests fail
in the sandbox: its event loop needs a socket pair, which the sandbox refuses.
"""

from __future__ import annotations

import ast
import functools

from treecredit.rewards.code_unittest_classes import (
    block_statements,
    is_unittest_main,
    names_test_case,
    test_case_aliases,
    test_method_names,
)
from treecredit.sandbox_exits import exit_statements
from treecredit.sandbox_source import Source

_RUNNER = '''

def _treecredit_run_unittest(classes, required, set_up, tear_down):
    \"\"\"Appended by treecredit (rewards/code_unittest.py): run the tests' TestCase classes, raising any failure.\"\"\"
    import sys
    import types
    import unittest
    import unittest.case

    unittest.case.traceback = types.SimpleNamespace(clear_frames=lambda tb: None)  # frames are not readable here

    class TestsSkipped(unittest.SkipTest):
        \"\"\"A skip the tests asked for (self.skipTest): any other SkipTest (the program's) is a failure.\"\"\"

    made = []  # the skips skip_test raised: the program can reach TestsSkipped (SkipTest.__subclasses__()) and
    # raise one of its own, which is a failure (until 2026-12-03 it skipped every test: review37 3)

    def skip_test(reason):
        skip = TestsSkipped(reason)
        made.append(skip)
        raise skip

    # (no `in` or `==` here: the tests' comparisons are checked)
    # unittest's classes as the harness put them back before the tests ran (treecredit.sandbox_results), kept here
    # and put back before each test: a program function a test calls may patch them again
    mro_of, dict_of = type.__dict__["__mro__"].__get__, type.__dict__["__dict__"].__get__
    base = unittest.TestCase
    async_base = getattr(sys.modules.get("unittest.async_case"), "IsolatedAsyncioTestCase", None)
    if type(async_base) is not type or async_base is base or not issubclass(async_base, base):
        async_base = None
    library = [(kind, dict(dict_of(kind))) for kind in (async_base, base) if kind is not None]
    set_, delete, absent = type.__setattr__, type.__delattr__, object()
    function_types = (types.FunctionType, classmethod, staticmethod)

    def put_back():
        for kind, saved in library:
            now = dict_of(kind)
            for key in [key for key in now if not saved.__contains__(key)]:
                delete(kind, key)
            for key, value in saved.items():
                if now.get(key, absent) is not value:
                    set_(kind, key, value)

    own = [c for c in classes if isinstance(c, type)]  # marks count only from the tests' own classes' __dict__
    own_dicts = [(c, dict(dict_of(c))) for c in own]  # read now, before any test runs

    def own_dict(k):
        for c, saved in own_dicts:
            if k is c:
                return saved
        return None

    def lookup(cls, key):
        \"\"\"(found, value, class) of key in cls's MRO: the tests' own classes as they were before any test ran,
        unittest's as the harness put them back; another class (the program's?) is not looked in.\"\"\"
        for k in mro_of(cls):
            saved = own_dict(k)
            if saved is None:
                saved = next((saved for kind, saved in library if kind is k), None)
            if saved is not None and saved.__contains__(key):
                return True, saved[key], k
        return False, None, None

    def bound(value, case, cls):
        return value.__get__(case, cls) if isinstance(value, function_types) else value

    def marked(cls, key, method=None, own_only=False):
        \"\"\"key set in the __dict__ of method, or of the first of cls's classes to have it, one of the tests'.\"\"\"
        if method is not None and type(getattr(method, "__dict__", None)) is dict and method.__dict__.get(key):
            return True
        for k in mro_of(cls):  # (no `in` or `==` here: the tests' comparisons are checked)
            saved = own_dict(k)
            value = (saved if saved is not None else dict_of(k)).get(key, marked)
            if value is not marked:
                return any(k is c for c in own) and (own_only or bool(value))
        return False

    plan = []  # every class's test methods, found before any test runs
    for cls, names in zip(classes, required):
        if not isinstance(cls, type) or not issubclass(cls, base) or marked(cls, "__unittest_skip__"):
            continue
        methods = {}  # the test methods of the tests' own classes, not asked of unittest (the program may patch it)
        for k in reversed(mro_of(cls)):
            saved = own_dict(k)
            if saved is not None:
                methods.update((n, v) for n, v in saved.items() if n.startswith("test") and callable(v))
        if not methods:  # unittest's loader runs runTest in a class without test methods
            found, value, k = lookup(cls, "runTest")
            if found and own_dict(k) is not None and callable(value):
                methods = {"runTest": value}
        saved = own_dict(cls)
        for name in names:  # the tests define them (their text says so): a program cannot make them vanish
            if saved is None or not saved.__contains__(name):
                raise AssertionError(cls.__name__ + "." + name + ": the tests define this test method, but "
                                     "their class does not have it (did the program change unittest?)")
        if methods:  # (marks read now, before any test runs: review37 4a, a program set __unittest_skip__ on them)
            marks = {name: (marked(cls, "__unittest_skip__", method),
                            marked(cls, "__unittest_expecting_failure__", method)) for name, method in methods.items()}
            plan.append((cls, methods, marks))
    library_names = [key for kind, saved in library for key in saved if not key.startswith("__")]
    shadowing = set(library_names)  # (a name of TestCase's that the program may set on the tests' own class)
    own_types = (types.FunctionType, classmethod, staticmethod, property)

    def put_back_own(cls):
        """The tests' own classes in cls's MRO: what the program added under a TestCase name or a test's (a
        property `assertTrue` beats the bound method the runner gives the case: review37 4b) goes, and their
        functions and properties are as they were before any test ran."""
        for k in mro_of(cls):
            saved = own_dict(k)
            if saved is None:
                continue
            now = dict_of(k)
            for key in [key for key in now if not saved.__contains__(key) and shadowing.__contains__(key)]:
                delete(k, key)  # (not the attributes setUpClass gives the class: cls.test_dir stays)
            for key, value in saved.items():
                if isinstance(value, own_types) and now.get(key, absent) is not value:
                    set_(k, key, value)

    if set_up is not None:
        set_up()
    for cls, methods, marks in plan:
        put_back()
        is_async = async_base is not None and issubclass(cls, async_base)
        # unittest's methods, bound on each case from the classes as they were (a program's patch of
        # TestCase.assertTrue during a test does not reach `self.assertTrue` in that test)
        given = {}
        for key in library_names:
            found, value, k = lookup(cls, key)
            if found and own_dict(k) is None and not given.__contains__(key):
                given[key] = value
        calls = {key: lookup(cls, key)[1] for key in ("setUp", "tearDown", "setUpClass", "tearDownClass",
                                                      "doClassCleanups", "debug")}
        try:
            bound(calls["setUpClass"], None, cls)()
        except unittest.SkipTest as skip:  # raised in the tests' setUpClass itself (not in a function it called)
            tb = skip.__traceback__
            if not marked(cls, "setUpClass", own_only=True) or tb is None or tb.tb_next is None or (
                    tb.tb_next.tb_next is not None):
                raise
            bound(calls["doClassCleanups"], None, cls)()
            continue
        try:
            for name in sorted(methods):
                method = methods[name]
                skipped, expected = marks[name]
                if skipped:
                    continue
                put_back()
                put_back_own(cls)
                case = cls(name)
                for key, value in given.items():
                    case.__dict__[key] = bound(value, case, cls)
                case.skipTest = skip_test
                try:
                    if is_async:  # IsolatedAsyncioTestCase: its debug() runs the coroutine
                        bound(calls["debug"], case, cls)()
                    else:  # the tests' own function, called here: not through unittest's (patchable) debug()
                        bound(calls["setUp"], case, cls)()
                        bound(method, case, cls)()
                        bound(calls["tearDown"], case, cls)()
                        while case._cleanups:
                            function, args, kwargs = case._cleanups.pop()
                            function(*args, **kwargs)
                except TestsSkipped as skip:
                    if not any(skip is each for each in made):
                        raise
                    continue
                except Exception:
                    if expected:
                        continue
                    raise
                if expected:
                    raise AssertionError(cls.__name__ + "." + name + ": expected to fail, but passed")
        finally:
            put_back()
            bound(calls["tearDownClass"], None, cls)()
            bound(calls["doClassCleanups"], None, cls)()
        if cls.tearDown_exceptions:
            raise cls.tearDown_exceptions[0][1]
    if tear_down is not None:
        tear_down()


_treecredit_run_unittest(({classes}), ({required}), {set_up}, {tear_down})
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
             if isinstance(node, ast.Expr) and is_unittest_main(node.value, tree)]
    top_classes = [node.name for node in tree.body if isinstance(node, ast.ClassDef)]
    in_blocks = [node for node in block_statements(tree.body) if isinstance(node, ast.ClassDef)]
    aliases = test_case_aliases(tree)
    cases = any(isinstance(node, ast.ClassDef) and any(names_test_case(base, aliases) for base in node.bases)
                for node in [*tree.body, *in_blocks])
    if not (cases or mains):
        return test
    source = Source(test)
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
    defined = test_method_names([*tree.body, *in_blocks])
    required = [defined.get(name.removeprefix("globals().get(").removesuffix(")").strip("'\""), ())
                for name in classes]
    runner = _RUNNER.replace("{classes}", "".join(name + ", " for name in classes))
    runner = runner.replace("{required}", "".join(f"{tuple(names)!r}, " for names in required))
    runner = runner.replace("{set_up}", "setUpModule" if "setUpModule" in top else "None")
    runner = runner.replace("{tear_down}", "tearDownModule" if "tearDownModule" in top else "None")
    return "\n".join(lines).rstrip("\n") + "\n" + runner


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
