"""The tests' comparisons made checked comparisons: the text of a test rewritten (``ast``) so that each
comparison it makes calls :data:`COMPARE` (:func:`treecredit.sandbox_compare.make_compare`, bound by the
sandbox's harness), which compares only plain data. Pure text work, no sandbox here.

:func:`rewrite_comparisons` rewrites, anywhere in the test (asserts, ``if``, ``while``, helper functions,
comprehensions, lambdas; not inside f-strings, whose parts' positions are not the text's before Python 3.12):

- every comparison (``==``, ``!=``, ``<``, ``<=``, ``>``, ``>=``, ``in``, ``not in``, also chained and nested)
  into ``COMPARE(("==",), (a), (b))``; comparisons made only of ``is``/``is not`` stay (identity cannot be
  faked). Until 2026-12-03 only those inside ``assert`` statements were, so ``if l != [1, 2, 3]: raise
  AssertionError`` passed a list the program had filled with always-equal objects;
- a call of ``operator``'s ``eq``, ``ne``, ``lt``, ``le``, ``gt``, ``ge`` with two arguments (``operator.eq(a, b)``,
  also under another name the tests import it as) into the same call;
- a call of a method ``assertEqual``, ``assertNotEqual``, ``assertLess``, ``assertLessEqual``, ``assertGreater``,
  ``assertGreaterEqual``, ``assertIn``, ``assertNotIn``, ``assertListEqual``, ``assertTupleEqual``,
  ``assertDictEqual``, ``assertSetEqual``, ``assertSequenceEqual``, ``assertMultiLineEqual`` (``unittest``'s,
  and their old aliases) with two arguments and at most a message, in tests that import ``unittest`` (elsewhere
  such a method may be a helper of the tests' own): a call that is a statement of its own on a name
  (``self.assertEqual(a, b, msg)``) into ``assert (COMPARE(...)), (msg)``, which no patch of ``unittest`` can
  turn off (until 2026-12-03 it was ``self.assertTrue(COMPARE(...), msg)``, and a program that set
  ``unittest.TestCase.assertTrue = lambda *a, **k: None`` passed every such comparison); any other (``x =
  self.assertEqual(...)``, ``get().assertEqual(...)``) into ``x.assertTrue(COMPARE(...), msg)``;
  ``assertSequenceEqual`` compares by the operator ``"sequence =="`` (item by item whatever the sequence types,
  as unittest does: until 2026-12-03 it was ``==``, and ``[1, 3]`` against ``(1, 3)`` failed a correct program).

- a call of the builtin ``map`` or ``filter`` with a function (``map(f, xs)``, ``filter(f, xs)``, where the tests
  bind neither that name nor ``zip``) into a call that draws the same values lazily from a generator (``(lambda
  f, *i: (f(*a) for a in zip(*i)))(f, xs)``), so that a ``StopIteration`` raised by ``f`` (the program's function,
  or a method of its object: ``map(Solution().double, xs)``) is a ``RuntimeError`` (PEP 479), not the silent end
  of the tests' ``for got, want in zip(map(...), wants)`` loop (until 2026-12-03 a wrong program whose ``next()``
  ran out passed so; the wrapper of the program's functions turned every ``StopIteration`` into a
  ``RuntimeError``, which failed tests that expect one, and missed its objects' methods). ``itertools``'
  ``starmap``, ``takewhile`` and the like, and ``iter(f, sentinel)``, are not rewritten (a limit).

Everything else stays as written, and every line keeps its number (tracebacks point at the test's own
lines). Operands are evaluated in Python's order, once each; a chain (``a < b < c``) stops at its first false
comparison without evaluating the rest (they become ``lambda: ...``), except where a lambda would change their
meaning (an ``await``, ``yield`` or ``:=`` in them, or a class body), where they are evaluated first.

Not rewritten (limits): comparisons made by code the tests call rather than write (``l.count(x)``,
``l.index(x)``, ``sorted``, ``max``, ``math.isclose``, ``unittest``'s ``assertAlmostEqual`` and
``assertCountEqual``, a helper module's functions), ``operator.contains`` and ``operator`` reached another
way (``getattr(operator, 'eq')``, ``functools.partial(operator.eq, ...)``), an ``assert*`` call with other
keywords or a ``*args``, and comparisons inside f-strings.
"""

from __future__ import annotations

import ast

from treecredit.sandbox_loops import LOOPS, loop_calls
from treecredit.sandbox_source import Source

COMPARE = "__treecredit_compare__"
"""The default callee of the rewritten comparisons (tests in one process bind it as a name). The sandbox's
harness passes its own callee instead: a random string constant that it swaps, in the compiled tests' code
objects, for the checked comparison itself, so no name in the tests' namespace holds it (until 2026-12-03 a
program handed a function of the tests, say a ``key=lambda``, rebound the name through its ``__globals__``)."""

_OPERATORS = {ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=",
              ast.In: "in", ast.NotIn: "not in", ast.Is: "is", ast.IsNot: "is not"}
_FUNCTIONS = {"eq": "==", "ne": "!=", "lt": "<", "le": "<=", "gt": ">", "ge": ">=", "__eq__": "==",
              "__ne__": "!=", "__lt__": "<", "__le__": "<=", "__gt__": ">", "__ge__": ">="}
_METHODS = {"assertEqual": "==", "assertEquals": "==", "failUnlessEqual": "==", "assertNotEqual": "!=",
            "assertNotEquals": "!=", "failIfEqual": "!=", "assertLess": "<", "assertLessEqual": "<=",
            "assertGreater": ">", "assertGreaterEqual": ">=", "assertIn": "in", "assertNotIn": "not in",
            "assertListEqual": "==", "assertTupleEqual": "==", "assertDictEqual": "==", "assertSetEqual": "==",
            "assertSequenceEqual": "sequence ==", "assertMultiLineEqual": "=="}


class _Routes:
    """The names under which the test imports ``operator`` (``import operator as op``) and its comparison
    functions (``from operator import eq``)."""

    def __init__(self, tree: ast.AST) -> None:
        self.modules: set[str] = set()
        self.functions: dict[str, str] = {}
        self.unittest = False  # (a method of that name elsewhere may be a helper of the tests' own)
        self.statements: set[int] = set()  # the ids of the routed method calls that are statements (_find)
        self.loops = loop_calls(tree)  # the ids of the names `map` and `filter` called (LOOPS), with the name
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                self.modules.update(a.asname or a.name for a in node.names if a.name == "operator")
                self.unittest = self.unittest or any(a.name.split(".")[0] == "unittest" for a in node.names)
            elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "unittest":
                self.unittest = True
            elif isinstance(node, ast.ImportFrom) and node.module == "operator" and not node.level:
                self.functions.update({a.asname or a.name: _FUNCTIONS[a.name] for a in node.names
                                       if a.name in _FUNCTIONS})

    def route(self, node: ast.AST) -> tuple[str, str] | None:
        """``("function" | "method", operator)`` for a call to rewrite, else None."""
        if not isinstance(node, ast.Call) or any(isinstance(a, ast.Starred) for a in node.args):
            return None
        func, args, keywords = node.func, node.args, node.keywords
        if isinstance(func, ast.Attribute) and func.attr in _METHODS and self.unittest:
            if (len(args) == 2 and all(k.arg == "msg" for k in keywords) and len(keywords) <= 1) or (
                    len(args) == 3 and not keywords):
                return "method", _METHODS[func.attr]
            return None
        if len(args) != 2 or keywords:
            return None
        if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and func.value.id in self.modules \
                and func.attr in _FUNCTIONS:
            return "function", _FUNCTIONS[func.attr]
        if isinstance(func, ast.Name) and func.id in self.functions:
            return "function", self.functions[func.id]
        return None


def _checked(node: ast.AST, routes: _Routes) -> bool:
    """Whether ``node`` is rewritten: a comparison with an operator other than ``is``/``is not``, a routed
    call, or the name of a ``map``/``filter`` call (:data:`treecredit.sandbox_loops.LOOPS`)."""
    if isinstance(node, ast.Name):
        return id(node) in routes.loops
    if isinstance(node, ast.Compare):
        return any(not isinstance(op, (ast.Is, ast.IsNot)) for op in node.ops)
    return routes.route(node) is not None


def _outermost(node: ast.AST, routes: _Routes) -> list[ast.AST]:
    """The nodes to rewrite in ``node``'s subtree (``node`` included) that no other one to rewrite contains;
    f-strings are not entered."""
    if _checked(node, routes):
        return [node]
    found = []
    for child in ast.iter_child_nodes(node):
        if not isinstance(child, ast.JoinedStr):
            found.extend(_outermost(child, routes))
    return found


def _scope_parts(node) -> tuple[list, list]:
    """A function's, lambda's or class's children evaluated in the enclosing scope (decorators, default values,
    annotations, a class's bases and keywords) and those in its own (the body)."""
    if isinstance(node, ast.ClassDef):
        return [*node.decorator_list, *node.bases, *node.keywords], list(node.body)
    arguments = node.args
    every = [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs, arguments.vararg, arguments.kwarg]
    outside = [*getattr(node, "decorator_list", []), *arguments.defaults,
               *(d for d in arguments.kw_defaults if d is not None),
               *(a.annotation for a in every if a is not None and a.annotation is not None)]
    if getattr(node, "returns", None) is not None:
        outside.append(node.returns)
    return outside, (node.body if isinstance(node.body, list) else [node.body])


def _find(tree: ast.AST, routes: _Routes) -> list[tuple[ast.AST, bool]]:
    """The outermost nodes to rewrite, each with whether it is evaluated directly in a class body (where a
    lambda cannot see the class's names). A walk with a stack of its own, so deeply nested tests (a sum of 600
    terms) do not exhaust Python's (until 2026-12-03 a recursive visitor raised RecursionError, which stopped
    the whole batch); a function's decorators, default values and annotations, and a class's bases, are in the
    enclosing scope (until 2026-12-03 a chained comparison in a method's default value in a class body became
    a lambda that could not see the class's names: NameError)."""
    found: list[tuple[ast.AST, bool]] = []
    todo: list[tuple[ast.AST, bool]] = [(tree, False)]
    while todo:
        node, in_class = todo.pop()
        if isinstance(node, ast.JoinedStr):
            continue
        if isinstance(node, ast.Expr) and _statement_call(node, routes):
            routes.statements.add(id(node.value))
        if isinstance(node, (ast.Compare, ast.Call, ast.Name)) and _checked(node, routes):
            found.append((node, in_class))
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            outside, inside = _scope_parts(node)
            todo.extend((child, in_class) for child in outside)
            todo.extend((child, isinstance(node, ast.ClassDef)) for child in inside)
        else:
            todo.extend((child, in_class) for child in ast.iter_child_nodes(node))
    return found


def _statement_call(statement: ast.Expr, routes: _Routes) -> bool:
    """Whether ``statement`` is only a routed method call on a name (``self.assertEqual(a, b)``, not in brackets):
    it becomes an ``assert`` statement."""
    call = statement.value
    if not (isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute)
            and isinstance(call.func.value, ast.Name)):
        return False
    route = routes.route(call)
    return route is not None and route[0] == "method" and (statement.lineno, statement.col_offset,
                                                           statement.end_lineno, statement.end_col_offset) == (
        call.lineno, call.col_offset, call.end_lineno, call.end_col_offset)


def _message(call: ast.Call) -> ast.expr | None:
    """The message of a routed method call (its third argument or ``msg=``), if any."""
    return call.args[2] if len(call.args) == 3 else call.keywords[0].value if call.keywords else None


def _lazy_breaks(node: ast.AST) -> bool:
    """Whether wrapping ``node`` in a lambda would change what it does."""
    return any(isinstance(n, (ast.Await, ast.Yield, ast.YieldFrom, ast.NamedExpr)) for n in ast.walk(node))


TOO_DEEP = ("raise AssertionError('sandbox: the tests nest a comparison too deeply for the comparison check to "
            "rewrite it (Python\\'s recursion limit); split the expression, or turn the check off: --reward "
            "code:plain_results=false (code_reward(..., plain_results=False))')\n")
"""The tests :func:`rewrite_comparisons` returns for a comparison nested too deeply to rewrite: they fail the
row with this message (until 2026-12-03 the ``RecursionError`` stopped the whole batch)."""


def rewrite_comparisons(test: str, name: str = COMPARE) -> str:
    """``test`` (Python source) with its comparisons made calls of ``name`` (module docstring); text that does
    not parse is returned unchanged (the run then fails on its own syntax error); :data:`TOO_DEEP` when a
    comparison nests too deeply to rewrite."""
    try:
        tree = ast.parse(test)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return test
    routes = _Routes(tree)
    found = _find(tree, routes)
    if not found:
        return test
    try:
        source = Source(test)
        edits = [(*source.span(node), _render_node(source, node, name, in_class, routes))
                 for node, in_class in found]
        out = test
        for start, end, text in sorted(edits, reverse=True):  # they do not overlap: from the end backwards
            out = out[:start] + text + out[end:]
        try:
            ast.parse(out)
        except (SyntaxError, ValueError, MemoryError):  # a case the text edit misses: same rewrite, by the
            return _rewrite_tree(tree, name, routes, found)  # tree (line numbers inside a statement may then move)
        return out
    except RecursionError:  # a comparison nested too deep to rewrite: the row fails, saying why
        return TOO_DEEP


def _render(source: Source, node: ast.AST, name: str, eager: bool, routes: _Routes) -> str:
    """The text of ``node`` with the comparisons in it rewritten."""
    start, end = source.span(node)
    text = source.text[start:end]
    for inner in sorted(_outermost(node, routes), key=lambda n: source.span(n), reverse=True):
        a, b = source.span(inner)
        text = text[:a - start] + _render_node(source, inner, name, eager, routes) + text[b - start:]
    return text


def _render_node(source: Source, node, name: str, eager: bool, routes: _Routes) -> str:
    if isinstance(node, ast.Name):  # map or filter
        return LOOPS[node.id]
    if isinstance(node, ast.Compare):
        operands = [node.left, *node.comparators]
        return _render_compare(source, operands, [_OPERATORS[type(op)] for op in node.ops], name, eager, routes)
    kind, op = routes.route(node)  # type: ignore[misc]
    compared = _render_compare(source, node.args[:2], [op], name, eager, routes)
    if kind == "function":
        return compared
    gap = source.newlines(source.span(node.func.value)[1], source.span(node.args[0])[0])
    if id(node) in routes.statements:  # a statement: `assert COMPARE(...), msg`, no method the program can patch
        compared_end, end = source.span(node.args[1])[1], source.span(node)[1]
        message = _message(node)
        if message is None:
            return f"assert ({gap}{compared}{source.newlines(compared_end, end)})"
        start, stop = source.span(message)
        return (f"assert ({gap}{compared}), ({source.newlines(compared_end, start)}"
                f"{_render(source, message, name, eager, routes)}{source.newlines(stop, end)})")
    receiver = _render(source, node.func.value, name, eager, routes)
    rest = source.text[source.span(node.args[1])[1]:source.span(node)[1]]  # (", msg)" or ")")
    return f"{receiver}.assertTrue({gap}{compared}{rest}"


def _render_compare(source: Source, operands: list, ops: list[str], name: str, eager: bool,
                    routes: _Routes) -> str:
    """``name((ops...), (a), (b), lambda: (c), lazy=True)``: each operand on the line it was on."""
    lazy = len(operands) > 2 and not eager and not any(_lazy_breaks(n) for n in operands[2:])
    parts = [f"{name}({tuple(ops)!r}, ({_render(source, operands[0], name, eager, routes)})"]
    for i in range(1, len(operands)):
        newlines = source.newlines(source.span(operands[i - 1])[1], source.span(operands[i])[0])
        value = f"({_render(source, operands[i], name, eager, routes)})"
        parts.append(f", {newlines}{'lambda: ' if lazy and i >= 2 else ''}{value}")
    return "".join(parts) + (", lazy=True)" if lazy else ")")


def _rewrite_tree(tree: ast.Module, name: str, routes: _Routes, found: list[tuple[ast.AST, bool]]) -> str:
    """The same rewrite on the tree, written back with :func:`ast.unparse` (comments dropped; a statement over
    several lines becomes one): the fallback of :func:`rewrite_comparisons`."""
    _TreeRewriter(name, routes, found).visit(tree)
    return ast.unparse(ast.fix_missing_locations(tree)) + "\n"


class _TreeRewriter(ast.NodeTransformer):
    """The rewrite on the tree; ``found`` (:func:`_find`) says which outermost nodes are evaluated directly in
    a class body (their chains are not made lazy)."""

    def __init__(self, name: str, routes: _Routes, found: list[tuple[ast.AST, bool]]) -> None:
        self.name, self.routes = name, routes
        self._marks = {id(node): in_class for node, in_class in found}
        self._in_class = [False]

    def visit(self, node):
        mark = self._marks.get(id(node))
        if mark is None:
            return super().visit(node)
        self._in_class.append(mark)
        try:
            return super().visit(node)
        finally:
            self._in_class.pop()

    def visit_JoinedStr(self, node):
        return node

    def visit_Name(self, node: ast.Name):
        if id(node) not in self.routes.loops:
            return node
        return ast.copy_location(ast.parse(LOOPS[node.id], mode="eval").body, node)

    def visit_Expr(self, node: ast.Expr):
        call = node.value
        if id(call) not in self.routes.statements:
            return self.generic_visit(node)
        self._in_class.append(self._marks.get(id(call), self._in_class[-1]))
        try:
            args = [self.visit(a) for a in call.args]
            message = _message(call)
            message = None if message is None else self.visit(message)
            test = self._call([self.routes.route(call)[1]], args[:2])  # type: ignore[index]
        finally:
            self._in_class.pop()
        return ast.copy_location(ast.Assert(test, message), node)

    def _call(self, ops: list[str], operands: list) -> ast.Call:
        lazy = len(operands) > 2 and not self._in_class[-1] and not any(_lazy_breaks(n) for n in operands[2:])
        args = [ast.Tuple([ast.Constant(op) for op in ops], ast.Load()), *operands[:2]]
        args += [ast.Lambda(ast.arguments([], [], None, [], [], None, []), n) if lazy else n for n in operands[2:]]
        keywords = [ast.keyword("lazy", ast.Constant(True))] if lazy else []
        return ast.Call(ast.Name(self.name, ast.Load()), args, keywords)

    def visit_Compare(self, node: ast.Compare):
        node = self.generic_visit(node)
        if not _checked(node, self.routes):
            return node
        call = self._call([_OPERATORS[type(op)] for op in node.ops], [node.left, *node.comparators])
        return ast.copy_location(call, node)

    def visit_Call(self, node: ast.Call):
        route = self.routes.route(node)
        node = self.generic_visit(node)
        if route is None:
            return node
        kind, op = route
        call = self._call([op], node.args[:2])
        if kind == "method":
            call = ast.Call(ast.Attribute(node.func.value, "assertTrue", ast.Load()), [call, *node.args[2:]],
                            node.keywords)
        return ast.copy_location(call, node)
