"""Where unittest-style tests define their ``TestCase`` classes, read from their text (``ast``): for the runner
:func:`treecredit.rewards.code_unittest.with_runner` appends (which classes it runs, which test methods each must
have, which ``unittest.main`` calls it makes ``None``) and for the refusals of tests that it would not run
(:func:`unrun_test_cases`; :func:`treecredit.rewards.code_tests.unfollowed_unittest`). Split from
:mod:`treecredit.rewards.code_unittest`, unchanged.
"""

from __future__ import annotations

import ast


def test_method_names(statements: list) -> dict[str, list[str]]:
    """The names of the test methods (``test*``) that each class among ``statements`` defines in its body, by class
    name (of a name defined more than once, those every definition has), sorted: the runner fails a class that
    lacks one (a program's ``TestCase.__init_subclass__`` could delete them)."""
    found: dict[str, set[str]] = {}
    for node in statements:
        if isinstance(node, ast.ClassDef):
            defined = {n.name for n in node.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
            names = {n for n in defined if n.startswith("test")} or {"runTest"} & defined
            found[node.name] = found[node.name] & names if node.name in found else names
    return {name: sorted(names) for name, names in found.items()}


def unrun_test_cases(test: str) -> list[str]:
    """The ``TestCase`` classes ``test`` makes where the runner cannot find them (in a function, inside another
    class, by ``type(name, (unittest.TestCase,), ...)``), when it defines none where the runner finds them (the
    tests' top level and top-level blocks): such tests run no test (review: trial36 T5)."""
    try:
        tree = ast.parse(test)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return []
    aliases = test_case_aliases(tree)
    run = [node for node in [*tree.body, *block_statements(tree.body)] if isinstance(node, ast.ClassDef)]
    if any(names_test_case(base, aliases) for node in run for base in node.bases):
        return []
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ClassDef) and any(names_test_case(base, aliases) for base in node.bases):
            found.append(node.name)
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "type" \
                and len(node.args) == 3 and isinstance(node.args[1], (ast.Tuple, ast.List)) \
                and any(names_test_case(base, aliases) for base in node.args[1].elts):
            name = node.args[0]
            found.append(name.value if isinstance(name, ast.Constant) and isinstance(name.value, str) else "type(...)")
    return found


def block_statements(body: list):
    """The statements inside the top-level blocks of ``body`` (``if``, ``for``, ``while``, ``try``, ``with``,
    ``match``; not functions or classes), at any depth."""
    for statement in body:
        for field in ("body", "orelse", "finalbody", "handlers", "cases"):
            if isinstance(statement, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                break
            for child in getattr(statement, field, ()):
                inner = child.body if isinstance(child, (ast.ExceptHandler, ast.match_case)) else [child]
                yield from inner
                yield from block_statements(inner)


def names_test_case(base: ast.expr, aliases: frozenset[str] = frozenset()) -> bool:
    """``TestCase``, ``unittest.TestCase``, ``IsolatedAsyncioTestCase`` ...: a name ending in ``TestCase``, or one
    of ``aliases`` (:func:`test_case_aliases`)."""
    name = base.attr if isinstance(base, ast.Attribute) else getattr(base, "id", "")
    return name.endswith("TestCase") or isinstance(base, ast.Name) and name in aliases


def test_case_aliases(tree: ast.Module) -> frozenset[str]:
    """The other names ``tree`` gives a ``TestCase`` class: ``from unittest import TestCase as Base``, and
    ``Base = unittest.TestCase`` (or ``= TestCase``, ``= Base``, in order). Until 2026-12-03 tests whose classes
    derive from such a name were refused as running nothing."""
    aliases: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("unittest"):
            aliases.update(a.asname for a in node.names if a.asname and a.name.endswith("TestCase"))
        elif isinstance(node, ast.Assign) and names_test_case(node.value, frozenset(aliases)):
            aliases.update(t.id for t in node.targets if isinstance(t, ast.Name))
    return frozenset(aliases)


def is_unittest_main(call: ast.expr, tree: ast.Module) -> bool:
    """``unittest.main(...)``, or ``main(...)`` after ``from unittest import main``."""
    if not isinstance(call, ast.Call):
        return False
    func = call.func
    if isinstance(func, ast.Attribute):
        return func.attr == "main" and isinstance(func.value, ast.Name) and func.value.id == "unittest"
    return isinstance(func, ast.Name) and func.id == "main" and any(
        isinstance(node, ast.ImportFrom) and node.module == "unittest"
        and any(a.name == "main" and (a.asname or a.name) == "main" for a in node.names) for node in ast.walk(tree))
