"""The names a test's text reads from its global namespace, by Python's scope rules: one parser for the two
questions the code reward asks of a row's tests before any program runs. Pure text work (:mod:`ast`).

- :func:`treecredit.sandbox_check.style_of`: which of the program's callables the tests may call by name, so
  the harness checks their results (every such name, wrapped or not, costs nothing if the tests do not use
  it; one missed lets an unchecked result through). It takes :func:`global_reads` less the names the tests
  bind at their top level by ``def``, ``class`` or ``import`` (those replace the program's before any read).
  A name the tests also assign (``solve = timed(solve)``) stays in: it may be read before it is bound.
- :func:`treecredit.rewards.code_tests.reaches_no_program_name`: whether the tests read any name the program
  could bind at all (a row without an entry point whose tests reach no program name passes every program, so
  it is refused). It takes :func:`global_reads` less every name the tests bind at their top level
  (:func:`bound_in`): ``x = [1, 2]; assert max(x) == 2`` reads ``x``, but its own.

Until 2026-12-03 these were two parsers (``style_of`` read every loaded name, a function's parameters too,
and ``code_tests._global_reads`` followed the scopes): the same job, with two answers.
"""

from __future__ import annotations

import ast

SCOPES = (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef, ast.ListComp, ast.SetComp, ast.DictComp,
          ast.GeneratorExp)
"""The nodes that open a scope of their own."""


def global_reads(tree: ast.Module) -> set[str]:
    """The names ``tree`` reads that resolve to its global namespace (at its top level, and in functions,
    lambdas, classes and comprehensions where no enclosing scope binds them), including those it binds at
    its top level itself. Python's scopes: a class body's names are not visible in the functions, lambdas and
    comprehensions inside it (until 2026-12-03 they were taken as visible: ``class T: double = None; def
    run(self): double(2)`` was said to read no global); decorators, default values, a class's bases and a
    comprehension's first iterable are read in the enclosing scope."""
    out: set[str] = set()

    def visible(name: str, enclosing: list) -> bool:
        last = len(enclosing) - 1
        return any(name in names for i, (names, is_class) in enumerate(enclosing) if not is_class or i == last)

    def visit(node, enclosing: list) -> None:
        if isinstance(node, SCOPES):
            inner = [*enclosing, (bound_in(node), isinstance(node, ast.ClassDef))]
            outside, inside = _split_scope(node)
            for child in outside:
                visit(child, enclosing)
            for child in inside:
                visit(child, inner)
            return
        if isinstance(node, ast.Name) and isinstance(node.ctx, ast.Load) and not visible(node.id, enclosing):
            out.add(node.id)
        for child in ast.iter_child_nodes(node):
            visit(child, enclosing)

    for statement in tree.body:
        visit(statement, [])
    return out


def top_level_definitions(tree: ast.Module) -> set[str]:
    """The names ``tree``'s top-level ``def``, ``class`` and ``import`` statements bind (an import's first
    part: ``import os.path`` binds ``os``)."""
    bound: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            bound.update((a.asname or a.name).split(".")[0] for a in node.names)
    return bound


def _split_scope(node) -> tuple[list, list]:
    """A scope node's children read in the enclosing scope, and those read in its own. A function's decorators,
    default values and annotations (its parameters' and its return's) are read in the enclosing scope, as
    :func:`treecredit.sandbox_rewrite._scope_parts` has them (until 2026-12-03 the annotations were read inside,
    where a parameter of the same name hid a global read, ``def check(add: add)``, and the default values a
    second time, where a method's ``a=k`` did not see its class's ``k``)."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
        arguments = node.args
        every = [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs, arguments.vararg, arguments.kwarg]
        outside = [*getattr(node, "decorator_list", []), *arguments.defaults,
                   *(d for d in arguments.kw_defaults if d is not None),
                   *(a.annotation for a in every if a is not None and a.annotation is not None)]
        if getattr(node, "returns", None) is not None:
            outside.append(node.returns)
        return outside, list(node.body) if isinstance(node.body, list) else [node.body]
    if isinstance(node, ast.ClassDef):
        return [*node.decorator_list, *node.bases, *node.keywords], list(node.body)
    first, *rest = node.generators  # a comprehension
    elements = [node.key, node.value] if isinstance(node, ast.DictComp) else [node.elt]
    return [first.iter], [first.target, *first.ifs, *rest, *elements]


def bound_in(scope) -> set[str]:
    """The names bound directly in ``scope`` (a module, function, lambda, class or comprehension), not in scopes
    nested in it, less those it declares ``global``."""
    bound: set[str] = set()
    declared: set[str] = set()
    if isinstance(scope, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
        arguments = scope.args
        bound |= {a.arg for a in (*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs,
                                  arguments.vararg, arguments.kwarg) if a is not None}
        todo = list(scope.body) if isinstance(scope.body, list) else [scope.body]
    elif isinstance(scope, (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
        todo = list(scope.generators)
    else:
        todo = list(scope.body)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            bound.add(node.name)
            todo.extend(node.decorator_list)
            continue
        if isinstance(node, (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)):
            continue
        if isinstance(node, ast.Name) and isinstance(node.ctx, (ast.Store, ast.Del)):
            bound.add(node.id)
        elif isinstance(node, ast.alias):
            bound.add((node.asname or node.name).split(".")[0])
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
        elif isinstance(node, ast.Global):
            declared.update(node.names)
        elif isinstance(node, (ast.MatchAs, ast.MatchStar)) and node.name:
            bound.add(node.name)
        todo.extend(ast.iter_child_nodes(node))
    return bound - declared
