"""What a row's tests do when run, read from their source before any program runs (for the ``code`` reward).

A test that only defines things (``def check(candidate): ...``, ``METADATA = {...}``, imports) runs no assertion
unless something calls ``check``: the sandbox harness calls ``check(entry_point)`` only when the row names its
``entry_point``. Without one, every program that compiles would pass such tests, so :func:`refuse_idle_tests`
refuses them, naming the column that holds the function's name (:func:`name_column`) and the fix; so it refuses a
row without an entry point whose tests read no name the program could bind (:func:`reaches_no_program_name`:
``assert max([1, 5, 2]) == 5`` sees the real ``max``, so every program passed; until 2026-12-03), unless they
name the module ``'__main__'`` (:func:`names_main_module`: ``sys.modules['__main__'].add``). With an entry point,
tests that run nothing and define no ``check`` are refused too (:func:`refuse_uncalled_tests`; unittest
``TestCase`` classes run: :mod:`treecredit.rewards.code_unittest`); so are unittest tests made or picked in a way
that runner does not follow (:func:`unfollowed_unittest`: ``types.new_class``, ``exec`` of a text, a loader's
``testMethodPrefix``, a ``load_tests`` hook; until 2026-12-03 they ran no test and a wrong program scored 1.0).
A test that
holds no assertion at all (no ``assert``, ``raise`` or ``self.assert…`` call) is said once
(:func:`warn_assertion_free`): it checks only that the program runs.
"""

from __future__ import annotations

import ast
import functools
import re
import warnings

from treecredit._validation import FixError, Remedy
from treecredit.sandbox_names import bound_in, global_reads

_DEFINING = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Import, ast.ImportFrom, ast.Pass)
_warned: set[str] = set()


@functools.lru_cache(maxsize=1024)
def compile_error(test: str) -> BaseException | None:
    """Why ``test`` (a row's tests) does not compile (a ``SyntaxError``, a ``ValueError`` for a null byte), or None.
    A test nested too deeply for the parser (``RecursionError``, ``MemoryError``) counts as compiling: the sandbox
    says why it fails. (Until 2026-12-04 the private ``treecredit.rewards.code._compile_error``.)"""
    try:
        with warnings.catch_warnings():  # (an invalid escape's SyntaxWarning is the sandbox's to say)
            warnings.simplefilter("ignore")
            compile(test, "test.py", "exec", dont_inherit=True)
    except (SyntaxError, ValueError) as error:
        return error
    except (RecursionError, MemoryError):
        return None
    return None


@functools.lru_cache(maxsize=1024)
def runs_nothing(test: str) -> bool:
    """Whether ``test``, run as a module, executes no code that could fail: only definitions, imports,
    docstrings and assignments without a call (``METADATA = {...}``). False when it does not parse (the run
    then fails on its own)."""
    try:
        tree = ast.parse(test)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    for node in tree.body:
        if isinstance(node, _DEFINING):
            continue
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and not any(
                isinstance(n, (ast.Call, ast.Await, ast.Yield, ast.Subscript, ast.Attribute))
                for n in ast.walk(node)):
            continue
        return False
    return True


@functools.lru_cache(maxsize=1024)
def asserts_nothing(test: str) -> bool:
    """Whether ``test`` holds no ``assert``, no ``raise``, no call of a name that starts with ``assert``
    (``self.assertEqual``, ``assert_allclose``) and no ``exit(status)`` or ``sys.exit(status)`` (tests that count
    failures and exit with their number; until 2026-12-03 said to assert nothing): it can fail only by an error
    the program raises. An exit whose status is a constant 0, None or False (``sys.exit(0)``, ``raise
    SystemExit(0)``) cannot fail and asserts nothing (until 2026-12-03 it counted as an assertion)."""
    try:
        tree = ast.parse(test)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    for node in ast.walk(tree):
        if isinstance(node, ast.Assert):
            return False
        if isinstance(node, ast.Raise) and not _zero_exit(node.exc, raised=True):
            return False
        if isinstance(node, ast.Call):
            name = node.func.attr if isinstance(node.func, ast.Attribute) else getattr(node.func, "id", "")
            if name.lower().startswith("assert") or name in ("exit", "quit") and not _zero_exit(node):
                return False  # (an exit with a status can fail: treecredit.sandbox_exits)
    return True


def _zero_exit(node: ast.expr | None, raised: bool = False) -> bool:
    """Whether ``node`` is an exit call (``raised``: the exception of a ``raise``, ``SystemExit`` or a call of it)
    whose status is absent or a constant 0, None or False: an exit that cannot fail."""
    if raised:
        if isinstance(node, ast.Name):
            return node.id == "SystemExit"
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "SystemExit"):
            return False
    if not isinstance(node, ast.Call) or node.keywords or len(node.args) > 1:
        return False
    if not node.args:
        return True
    status = node.args[0]
    return isinstance(status, ast.Constant) and (status.value is None or type(status.value) in (int, bool)
                                                 and not status.value)


def check_row(i: int, test: str, entry: str | None, text: str, columns: dict, given: set[str],
              entry_point_column: str) -> tuple[str, ...]:
    """Row ``i``'s ``test`` checked before any program runs (the ``code`` reward; ``text``: its prompt and
    completion, ``columns``: the keyword columns, ``given``: the names of the columns given), and the names the
    tests call (what picks the program's block) when the row has no entry point.

    Raises:
        FixError: the refusals of this module and :func:`treecredit.rewards.code.code_reward`'s docstring.
    """
    from treecredit.rewards.code_unittest import with_runner
    from treecredit.rewards.code_unittest_classes import unrun_test_cases
    from treecredit.sandbox_check import style_of

    error = compile_error(test)
    if error is not None:  # (until 2026-12-03 every program scored 0.0 on such a row, silently)
        raise refuse_uncompiled_tests(test, i, error)
    unrun = unrun_test_cases(test)
    if unrun:
        raise refuse_unrun_test_cases(test, i, unrun)
    unfollowed = unfollowed_unittest(test)
    if unfollowed:
        raise refuse_unfollowed_unittest(test, i, unfollowed)
    runnable = with_runner(test)  # (what run_tests runs: unittest classes run)
    if not entry and (runs_nothing(runnable) or reaches_no_program_name(runnable) and not names_main_module(runnable)):
        guess = name_column({k: v for k, v in columns.items() if k != "completion_ids"}, i, text)
        raise refuse_idle_tests(runnable, entry_point_column, guess, sorted(given))
    if entry and runs_nothing(runnable) and not style_of(test)[0]:
        raise refuse_uncalled_tests(test)
    if asserts_nothing(test):
        warn_assertion_free(test)
    return () if entry else called_names(test)


def name_column(columns: dict, row: int, text: str) -> str | None:
    """The column of ``columns`` (name → one value per row) whose value at ``row`` is a Python name that
    ``text`` (the row's prompt and completion) defines with ``def`` or ``class``: the tested function's name,
    under another column name than ``entry_point``; None when there is none."""
    for name, values in columns.items():
        try:
            value = values[row]
        except (TypeError, IndexError, KeyError):
            continue
        if isinstance(value, str) and value.isidentifier() and re.search(
                rf"\b(?:def|class)\s+{re.escape(value)}\b", text):
            return name
    return None


def refuse_idle_tests(test: str, entry_column: str, guess: str | None, have: list[str]) -> FixError:
    """The refusal of a row whose ``test`` runs nothing and that has no entry point (``entry_column``, the column
    read for it; ``guess``: a column that seems to hold the function's name; ``have``: the columns given)."""
    defines_check = "check" in _defined(test)
    builtins_only = not runs_nothing(test)  # the other reason it is refused: reaches_no_program_name
    problem = (f"the row's tests use only builtins and names they define themselves, and it has no "
               f"{entry_column!r} value (the columns given: {have}): without an entry point the tests see the "
               "real builtins (a program's `def max` does not replace max there), never the program, so every "
               "program (even `pass`) would score 1.0"
               if builtins_only else
               f"the row's tests define check() but nothing calls it: the harness calls check(<entry point>) only "
               f"when the row names the tested function, and it has no {entry_column!r} value (the columns given: "
               f"{have}); so the tests would run no assertion and every program that compiles would score 1.0"
               if defines_check else
               f"the row's tests only define functions or values and nothing calls them, and it has no "
               f"{entry_column!r} value to call check() with (the columns given: {have}); so they would run no "
               "assertion and every program that compiles would score 1.0")
    column = guess or "<the column of the function's name>"
    remedies = (Remedy(f"code_reward(..., entry_point_column={column!r})",
                       f"--reward code:entry_point_column={column}"),
                Remedy("name the column that holds the tested function's name 'entry_point'"),
                Remedy("call the program's function in the tests by a name that is not a builtin's"
                       if builtins_only else "end the tests with a call such as check(<function>)"))
    return FixError("entry_point_column", problem, remedies,
                    brief="tests that reach no name of the program" if builtins_only else
                    "tests that run no assertion")


def refuse_uncalled_tests(test: str) -> FixError:
    """The refusal of a row with an entry point whose ``test`` runs nothing and defines no ``check`` for the
    harness to call (nor a unittest ``TestCase``, which would run): every program would pass."""
    defined = sorted(_defined(test))
    return FixError("test", f"the row's tests only define things ({', '.join(defined) or 'values'}) and nothing calls "
                    "them: the harness calls check(<entry point>) only when the tests define check, and runs "
                    "unittest.TestCase classes, and these have neither; so every program would score 1.0",
                    (Remedy("name the tests' function check(candidate): the harness calls it with the entry point"),
                     Remedy("end the tests with a call of their function, or with asserts"),
                     Remedy("write them as a unittest.TestCase class")), verb="",
                    brief="tests that run no assertion")


def refuse_unrun_test_cases(test: str, row: int, classes: list[str]) -> FixError:
    """The refusal of row ``row`` whose ``test`` makes its unittest ``TestCase`` ``classes`` only where the runner
    cannot find them (:func:`treecredit.rewards.code_unittest_classes.unrun_test_cases`): every program would pass."""
    return FixError("test", f"row {row}'s tests make their unittest TestCase classes ({', '.join(classes)}) inside a "
                    "function, inside another class or by type(...), where the runner (which runs the classes the "
                    "tests define at their top level) does not find them; they would run no test, so every program "
                    "would score 1.0",
                    (Remedy("define the TestCase classes at the tests' top level (class T(unittest.TestCase): ...)"),
                     Remedy("write the tests as asserts, or as check(candidate)")), verb="",
                    brief="tests whose TestCase classes do not run")


@functools.lru_cache(maxsize=1024)
def unfollowed_unittest(test: str) -> list[str]:
    """The ways ``test`` makes or picks its unittest tests that the runner (:mod:`treecredit.rewards.code_unittest`,
    which runs the ``test*`` methods of the ``TestCase`` classes the tests define with a ``class`` statement)
    does not follow, as the tests write them: a loader's ``testMethodPrefix`` other than ``'test'`` (its methods
    never run); and, when the tests define no ``TestCase`` class the runner finds, ``types.new_class(...)`` with a
    ``TestCase`` base, ``exec``/``eval``/``compile`` of a text that names ``TestCase``, or a ``load_tests``
    function (which ``unittest.main``, made ``None``, would have called). Each ran no test, and every program
    scored 1.0 (until 2026-12-03). Empty when it does not parse."""
    from treecredit.rewards.code_unittest_classes import block_statements, names_test_case, test_case_aliases

    try:
        tree = ast.parse(test)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return []
    found: list[str] = []
    for node in ast.walk(tree):
        value = None
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(getattr(t, "attr", getattr(t, "id", "")) == "testMethodPrefix" for t in targets):
                value = node.value
        elif isinstance(node, ast.keyword) and node.arg == "testMethodPrefix":
            value = node.value
        elif isinstance(node, ast.Call) and _callee(node) == "setattr" and len(node.args) == 3 and isinstance(
                node.args[1], ast.Constant) and node.args[1].value == "testMethodPrefix":
            value = node.args[2]
        if value is not None and not (isinstance(value, ast.Constant) and value.value == "test"):
            found.append(f"testMethodPrefix = {ast.unparse(value)[:40]}")
    aliases = test_case_aliases(tree)
    if any(isinstance(node, ast.ClassDef) and any(names_test_case(base, aliases) for base in node.bases)
           for node in [*tree.body, *block_statements(tree.body)]):
        return found  # (the runner runs those classes; unrun_test_cases says the same of type(...))
    texts = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant) and isinstance(n.value, str)]
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        name = _callee(node)
        if name == "new_class" and len(node.args) >= 2 and isinstance(node.args[1], (ast.Tuple, ast.List)) and any(
                names_test_case(base, aliases) for base in node.args[1].elts):
            found.append("types.new_class(...)")
        elif isinstance(node.func, ast.Name) and name in ("exec", "eval", "compile") and any(
                "TestCase" in text for text in texts):  # (the builtins: not re.compile)
            found.append(f"{name}(...) of a text that makes a TestCase")
    if any(isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == "load_tests" for n in tree.body):
        found.append("load_tests(...)")
    return list(dict.fromkeys(found))


def _callee(call: ast.Call) -> str:
    """The name a call calls: ``f`` of ``f(...)`` and of ``m.f(...)``."""
    return call.func.attr if isinstance(call.func, ast.Attribute) else getattr(call.func, "id", "")


def refuse_unfollowed_unittest(test: str, row: int, ways: list[str]) -> FixError:
    """The refusal of row ``row`` whose ``test`` makes or picks its unittest tests in ``ways`` the runner does not
    follow (:func:`unfollowed_unittest`): every program would pass."""
    return FixError("test", f"row {row}'s tests make or pick their unittest tests by {', '.join(ways)}, which the "
                    "runner does not follow: it runs the test* methods (or runTest) of the TestCase classes the "
                    "tests define with a class statement at their top level, and unittest.main() does not run; so "
                    "those tests would not run, and a wrong program could score 1.0",
                    (Remedy("define the TestCase classes at the tests' top level (class T(unittest.TestCase): ...) "
                            "with test methods named test_*"),
                     Remedy("write the tests as asserts, or as check(candidate)")), verb="",
                    brief="tests whose unittest tests do not run")


def refuse_uncompiled_tests(test: str, row: int, error: BaseException) -> FixError:
    """The refusal of row ``row`` whose ``test`` does not compile (``error``): every program would score 0.0."""
    where = f" (line {error.lineno})" if isinstance(error, SyntaxError) and error.lineno else ""
    return FixError("test", f"row {row}'s tests do not compile as Python: {type(error).__name__}: "
                    f"{getattr(error, 'msg', None) or error}{where}; every program would fail them and score 0.0 "
                    f"(they start {test[:60]!r})",
                    (Remedy("fix the row's tests (Python 3 source), or leave the row out"),), verb="",
                    brief="tests that do not compile")


def called_names(test: str) -> tuple[str, ...]:
    """The names ``test`` reads that are neither builtins nor bound at its top level (what MBPP-style asserts call
    the program's functions by), sorted: what picks the program's block without an entry point."""
    import builtins

    from treecredit.sandbox_check import style_of

    return tuple(name for name in style_of(test)[1] if not hasattr(builtins, name))


@functools.lru_cache(maxsize=1024)
def names_main_module(test: str) -> bool:
    """Whether ``test`` names the module ``'__main__'`` other than in a comparison (``sys.modules['__main__']``,
    ``importlib.import_module('__main__')``): it reaches the program's module, whatever names it reads (so
    :func:`reaches_no_program_name` does not make it refused; until 2026-12-03 it did)."""
    try:
        tree = ast.parse(test)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    compared = {id(n) for c in ast.walk(tree) if isinstance(c, ast.Compare) for n in (c.left, *c.comparators)}
    return any(isinstance(n, ast.Constant) and n.value == "__main__" and id(n) not in compared for n in ast.walk(tree))


def warn_assertion_free(test: str) -> None:
    """Say once per process that tests with no assertion pass every program that runs without error."""
    key = test[:200]
    if key in _warned or len(_warned) > 100:
        return
    _warned.add(key)
    first = test.strip().splitlines()[0][:80] if test.strip() else "(empty)"
    warnings.warn(f"reward code: a row's tests hold no assert, raise or assert…() call (they start {first!r}): "
                  "every program that runs without an error passes them and scores 1.0. Check the 'test' column",
                  UserWarning, stacklevel=5)


def _defined(test: str) -> set[str]:
    try:
        tree = ast.parse(test)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return set()
    return {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}


_REACHING = frozenset({"globals", "vars", "locals", "eval", "exec", "__import__", "dir"})
"""Builtins through which tests can reach the program's namespace without naming what they use."""


@functools.lru_cache(maxsize=1024)
def reaches_no_program_name(test: str) -> bool:
    """Whether ``test`` reads no name that the program could have bound: every name it reads at global scope
    (not bound by the tests at their top level, nor locally where it is read) is a builtin, and it neither
    calls ``globals``/``vars``/``eval``/... nor imports ``__main__``. Without an entry point such tests (MBPP's
    ``assert max([1, 5, 2]) == 5``) see the real builtins, never the program: every program passes them. False
    when the text does not parse (the run then fails on its own)."""
    import builtins

    try:
        tree = ast.parse(test)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False
    if any(isinstance(n, ast.Import) and any(a.name == "__main__" for a in n.names)
           or isinstance(n, ast.ImportFrom) and n.module == "__main__" for n in ast.walk(tree)):
        return False
    read = global_reads(tree) - bound_in(tree)
    return not (read & _REACHING) and read <= set(dir(builtins))
