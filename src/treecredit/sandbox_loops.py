"""The tests' ``map`` and ``filter`` calls rewritten alone, for ``plain_results=False``.

With ``plain_results`` on, :func:`treecredit.sandbox_rewrite.rewrite_comparisons` rewrites each call of the builtin
``map`` or ``filter`` with a function into one that draws the same values from a generator, so that a
``StopIteration`` raised by the program's function is a ``RuntimeError`` (PEP 479), not the silent end of the
tests' ``for got, want in zip(map(candidate, xs), wants)`` loop (a wrong program whose ``next()`` ran out passed
so). With the check off the comparisons stay as written (they would call the checked comparison, which is not
there), and until 2026-12-03 so did those calls: under ``--reward code:plain_results=false`` such a program still
passed. :func:`rewrite_loops` makes that one rewrite alone: the same calls (those
:mod:`treecredit.sandbox_rewrite` picks: the tests bind neither the name nor ``zip``), the same replacement, each
line keeping its number; not inside f-strings (the same limit).
"""

from __future__ import annotations

import ast

from treecredit.sandbox_rewrite import _LOOPS, Source, _Routes


def rewrite_loops(test: str) -> str:
    """``test`` (Python source) with its ``map(f, ...)`` and ``filter(f, ...)`` calls drawing from a generator
    (module docstring). Returned unchanged when it has none, does not parse (the run then fails on its own
    syntax error), or nests too deeply to walk."""
    try:
        tree = ast.parse(test)
        routes = _Routes(tree)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return test
    if not routes.loops:
        return test
    names, todo = [], [tree]
    while todo:  # (a stack of its own: deeply nested tests do not exhaust Python's)
        node = todo.pop()
        if isinstance(node, ast.JoinedStr):  # (its parts' positions are not the text's before Python 3.12)
            continue
        if isinstance(node, ast.Name) and id(node) in routes.loops:
            names.append(node)
        todo.extend(ast.iter_child_nodes(node))
    source = Source(test)
    out = test
    for node in sorted(names, key=source.span, reverse=True):  # one name each, on one line: from the end backwards
        start, end = source.span(node)
        out = out[:start] + _LOOPS[node.id] + out[end:]
    return out
