"""The tests' ``map`` and ``filter`` calls rewritten alone, for ``plain_results=False``.

With ``plain_results`` on, :func:`treecredit.sandbox_rewrite.rewrite_comparisons` rewrites each call of the builtin
``map`` or ``filter`` with a function into one that draws the same values from a generator, so that a
``StopIteration`` raised by the program's function is a ``RuntimeError`` (PEP 479), not the silent end of the
tests' ``for got, want in zip(map(candidate, xs), wants)`` loop (a wrong program whose ``next()`` ran out passed
so). With the check off the comparisons stay as written (they would call the checked comparison, which is not
there), and until 2026-12-03 so did those calls: under ``--reward code:plain_results=false`` such a program still
passed. :func:`rewrite_loops` makes that one rewrite alone: the same calls (those
:func:`loop_calls` picks for both: the tests bind neither the name nor ``zip``), the same replacement, each
line keeping its number; not inside f-strings (the same limit).
"""

from __future__ import annotations

import ast

from treecredit.sandbox_source import Source

# What the tests' `map(f, ...)` and `filter(f, ...)` calls call instead: the same values, drawn lazily, but from a
# generator, so that a StopIteration raised by `f` (the program's function, or a method of its object) is a
# RuntimeError (PEP 479) rather than the silent end of the tests' loop over it.
LOOPS = {"map": "(lambda _treecredit_f, *_treecredit_i: (_treecredit_f(*_treecredit_a) for _treecredit_a in "
                "zip(*_treecredit_i)))",
         "filter": "(lambda _treecredit_f, _treecredit_i: (_treecredit_x for _treecredit_x in _treecredit_i if ("
                   "_treecredit_x if _treecredit_f is None else _treecredit_f(_treecredit_x))))"}
"""The text in place of the name ``map`` or ``filter`` of each call :func:`loop_calls` picks."""


def loop_calls(tree: ast.AST) -> dict[int, str]:
    """The ids of the names ``map`` and ``filter`` that ``tree`` calls with a function (``map(f, xs)``,
    ``filter(f, xs)``: no keywords, and no ``*`` in a ``filter`` call), with the name, where the tests bind
    neither that name nor ``zip`` anywhere: the calls :data:`LOOPS` replaces (here and in
    :func:`treecredit.sandbox_rewrite.rewrite_comparisons`)."""
    bound = _bound_anywhere(tree)
    return {id(node.func): node.func.id for node in ast.walk(tree)
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in LOOPS
            and not node.keywords and not {node.func.id, "zip"} & bound and len(node.args) >= 2 and (
                node.func.id == "map" or len(node.args) == 2
                and not any(isinstance(a, ast.Starred) for a in node.args))}


def _bound_anywhere(tree: ast.AST) -> set[str]:
    """Every name ``tree`` binds in any scope (assignments, parameters, definitions, imports)."""
    bound: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            bound.add(node.id)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, (ast.Global, ast.Nonlocal)):
            bound.update(node.names)
    return bound


def rewrite_loops(test: str) -> str:
    """``test`` (Python source) with its ``map(f, ...)`` and ``filter(f, ...)`` calls drawing from a generator
    (module docstring). Returned unchanged when it has none, does not parse (the run then fails on its own
    syntax error), or nests too deeply to walk."""
    try:
        tree = ast.parse(test)
        loops = loop_calls(tree)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return test
    if not loops:
        return test
    names, todo = [], [tree]
    while todo:  # (a stack of its own: deeply nested tests do not exhaust Python's)
        node = todo.pop()
        if isinstance(node, ast.JoinedStr):  # (its parts' positions are not the text's before Python 3.12)
            continue
        if isinstance(node, ast.Name) and id(node) in loops:
            names.append(node)
        todo.extend(ast.iter_child_nodes(node))
    source = Source(test)
    out = test
    for node in sorted(names, key=source.span, reverse=True):  # one name each, on one line: from the end backwards
        start, end = source.span(node)
        out = out[:start] + LOOPS[node.id] + out[end:]
    return out
