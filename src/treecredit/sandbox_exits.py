"""The tests' own exits made the end of the tests: ``sys.exit(0)``, ``exit()``, ``quit()`` or ``raise
SystemExit`` that the tests run at their top level. Pure text work (:mod:`ast`), no sandbox here.

Tests that end by exiting (``sys.exit(0)`` after their asserts, ``raise SystemExit(0 if ok else 1)``) failed
every program until 2026-12-03: the harness counts any ``SystemExit`` as a failure, since a *program* that
exits (``sys.exit(0)`` at its top level, or in the function the tests call) must never pass by skipping the
tests. :func:`rewrite_exits` tells the two apart by the text: each such exit the tests write at their top level
becomes a call of a callee the harness gives (:func:`treecredit.sandbox_check.run_check`: a random string
constant that the child swaps, in the compiled tests' module code object only, for a function that records
the status and raises an exception of its own), so a real ``SystemExit`` still comes only from elsewhere and
still fails. The harness counts the tests' exit as their end when its status is 0 or None (``sys.exit()``,
``sys.exit(0)``, ``sys.exit(False)``); any other status (``sys.exit(1)``, a message) is a failure, as it
would be for the process.

Rewritten: a statement ``sys.exit(...)`` (``sys`` or the name the tests import it as), ``exit(...)``,
``quit(...)`` (the builtins, or ``from sys import exit [as name]``; not a function of the tests' own) or
``raise SystemExit`` / ``raise SystemExit(...)``, at the tests' top level or inside top-level ``if``, ``for``,
``while`` and ``match`` blocks, and in a ``try`` without ``finally``: in its ``except`` and ``else`` blocks,
and in its body where every ``except`` names builtin ``Exception`` subclasses (which cannot catch the exit).

Not rewritten (such an exit still fails the program, as before): exits inside a function or class of the
tests (``def main(): ... sys.exit(0)``; a program handed one of the tests' functions reaches their code
objects, so the callee cannot be in them), inside ``with`` blocks or ``finally`` (code there, possibly the
program's, would see the exception in flight), exits written as expressions (``x or sys.exit(1)``), and
``os._exit`` (the process ends, no verdict).
"""

from __future__ import annotations

import ast
import builtins

from treecredit.sandbox_names import bound_in
from treecredit.sandbox_source import Source

_BLOCKS = (ast.If, ast.For, ast.AsyncFor, ast.While)


def rewrite_exits(test: str, name: str) -> str:
    """``test`` with its top-level exits made calls of ``name`` (a Python expression: the harness passes a
    string constant in brackets; module docstring); each line keeps its number. Text that does not parse,
    or holds no such exit, is returned unchanged."""
    try:
        tree = ast.parse(test)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return test
    spans = []
    for _, callee, call in exit_statements(tree):
        spans.append((callee, name if call is not None else f"{name}()"))
    if not spans:
        return test
    source = Source(test)
    out = test
    for node, text in reversed(spans):
        start, end = source.span(node)
        out = out[:start] + text + out[end:]
    return out


def exit_statements(tree: ast.Module) -> list[tuple[ast.stmt, ast.expr, ast.Call | None]]:
    """The exit statements :func:`rewrite_exits` rewrites in ``tree`` (module docstring), each with its callee
    (``sys.exit``, ``exit``, ``SystemExit``) and its call (None for a bare ``raise SystemExit``), in order."""
    callees = _exit_callees(tree)
    found: list[tuple[ast.stmt, ast.expr, ast.Call | None]] = []
    for statement in _top_level_statements(tree.body, tree):
        if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Call) \
                and _is_exit(statement.value.func, callees):
            found.append((statement, statement.value.func, statement.value))
        elif isinstance(statement, ast.Raise) and callees["SystemExit"]:
            exc = statement.exc
            if isinstance(exc, ast.Name) and exc.id == "SystemExit":
                found.append((statement, exc, None))
            elif isinstance(exc, ast.Call) and isinstance(exc.func, ast.Name) and exc.func.id == "SystemExit":
                found.append((statement, exc.func, exc))
    return sorted(found, key=lambda item: (item[0].lineno, item[0].col_offset))


def _exit_callees(tree: ast.Module) -> dict:
    """What a call is an exit by in ``tree``: the names of the ``sys`` module (``"modules"``), the names of an
    exit function (``"functions"``: the builtins ``exit``, ``quit`` where the tests do not bind them, and what
    ``from sys import exit`` binds), and whether ``SystemExit`` is the builtin one."""
    modules, imported = {"sys"}, set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            modules.update(a.asname for a in node.names if a.name == "sys" and a.asname)
        elif isinstance(node, ast.ImportFrom) and node.module == "sys" and not node.level:
            imported.update(a.asname or a.name for a in node.names if a.name == "exit")
    own = bound_in(tree) - imported
    return {"modules": modules, "functions": ({"exit", "quit"} - own) | imported,
            "SystemExit": "SystemExit" not in own}


def _is_exit(func: ast.expr, callees: dict) -> bool:
    if isinstance(func, ast.Attribute):
        return func.attr == "exit" and isinstance(func.value, ast.Name) and func.value.id in callees["modules"]
    return isinstance(func, ast.Name) and func.id in callees["functions"]


def _top_level_statements(body: list, tree: ast.Module):
    """The statements of ``body`` and of the blocks in it that run at the tests' top level and that nothing but
    the tests' top level can catch an exception of (module docstring)."""
    for statement in body:
        yield statement
        if isinstance(statement, _BLOCKS):
            yield from _top_level_statements(statement.body + statement.orelse, tree)
        elif isinstance(statement, ast.Match):
            for case in statement.cases:
                yield from _top_level_statements(case.body, tree)
        elif isinstance(statement, ast.Try) and not statement.finalbody:  # (ast.TryStar: left out)
            inner = [s for handler in statement.handlers for s in handler.body] + statement.orelse
            if all(_cannot_catch_exit(handler.type, tree) for handler in statement.handlers):
                inner = statement.body + inner
            yield from _top_level_statements(inner, tree)


def _cannot_catch_exit(kind: ast.expr | None, tree: ast.Module) -> bool:
    """Whether an ``except`` of ``kind`` names only builtin ``Exception`` subclasses the tests do not rebind."""
    names = kind.elts if isinstance(kind, ast.Tuple) else [kind]
    own = bound_in(tree)
    for node in names:
        if not isinstance(node, ast.Name) or node.id in own:
            return False
        value = getattr(builtins, node.id, None)
        if not (isinstance(value, type) and issubclass(value, Exception)):
            return False
    return True
