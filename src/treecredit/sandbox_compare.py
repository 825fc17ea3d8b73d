"""Asserts whose comparisons check their operands: a test's ``assert l == [1, 2, 3]`` made to compare only
plain data, so that a program cannot pass it by putting an object whose ``__eq__`` always says True into an
argument, a container the test reads, or a list it returned earlier and changes later (which a check of the
program's return values at return time misses).

Two parts, both pure (no sandbox here; :mod:`treecredit.sandbox_check` puts them together):

- :func:`rewrite_asserts` rewrites the text of a test (``ast``): in every ``assert`` statement, each
  comparison (``==``, ``!=``, ``<``, ``<=``, ``>``, ``>=``, ``in``, ``not in``, also chained and nested, also in
  a generator such as ``all(f(x) == y for ...)``) becomes a call of :data:`COMPARE` with the operators and the
  operands; comparisons made only of ``is``/``is not`` stay (identity cannot be faked). Everything else stays
  as written, and every line keeps its number (tracebacks point at the test's own lines).
- :func:`make_compare` makes that function: it copies both operands of each comparison, checking that they are
  plain data (:data:`PLAIN`: exact types, no subclass; containers recursively, nested at most
  :data:`MAX_DEPTH` deep; in the sandbox also what :mod:`treecredit.sandbox_plain` accepts, such as
  ``Counter``, kept as it is), and compares the copies with the builtin operators, which no code of the
  program can reach (a thread of the program that changes a list after the check changes no copy); an operand
  that is not plain data fails the assert (``AssertionError`` saying which operand of which operator, and its
  type). Its source has no free names, so the sandbox's harness can define it from
  :func:`compare_source` before the program runs (its builtins bound then).

Semantics: a comparison of plain data gives what Python gives (the copies compare as the originals do:
scalars are not copied, so ``nan`` stays identical to itself); operands are evaluated in Python's order, once
each; a chain (``a < b < c``) stops at its first false comparison without evaluating the rest (they become
``lambda: ...``), except where a lambda would change their meaning (an ``await``, ``yield`` or ``:=`` in
them, or an assert in a class body), where they are evaluated first.
"""

from __future__ import annotations

import ast
import re

COMPARE = "__treecredit_compare__"
"""The name the rewritten asserts call; the harness binds it in the tests' namespace (after the program's
globals are copied there, so a program's own global of that name is replaced)."""

PLAIN = ("NoneType", "bool", "int", "float", "complex", "str", "bytes", "type", "list", "tuple", "dict", "set",
         "frozenset")
"""The types whose values a checked comparison accepts (exact types): the sandbox's plain data
(:mod:`treecredit.sandbox_check`) and ``type`` objects whose own type is exactly ``type`` (``type(x) == int``:
they compare by identity)."""

MAX_DEPTH = 100
"""How deep containers may nest in an operand of a checked comparison (deeper, or a container that holds
itself: not plain data)."""

_OPERATORS = {ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=",
              ast.In: "in", ast.NotIn: "not in", ast.Is: "is", ast.IsNot: "is not"}


def rewrite_asserts(test: str, name: str = COMPARE) -> str:
    """``test`` (Python source) with every comparison inside its ``assert`` statements' conditions made a call
    ``name(("==",), left, right)`` (module docstring); comparisons outside asserts, the asserts' messages,
    comments and line numbers stay as they are. Text that does not parse is returned unchanged (the run then
    fails on its own syntax error)."""
    try:
        tree = ast.parse(test)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return test
    finder = _AssertFinder()
    finder.visit(tree)
    if not finder.found:
        return test
    source = _Source(test)
    edits = []
    for assertion, in_class in finder.found:
        for compare in _outermost_compares(assertion.test):
            start, end = source.span(compare)
            edits.append((start, end, _render_compare(source, compare, name, eager=in_class)))
    out = test
    for start, end, text in sorted(edits, reverse=True):  # asserts do not overlap: from the end backwards
        out = out[:start] + text + out[end:]
    try:
        ast.parse(out)
    except (SyntaxError, ValueError, RecursionError, MemoryError):  # a case the text edit misses: same rewrite,
        return _rewrite_tree(tree, name)  # by the tree (line numbers inside a statement may then move)
    return out


class _AssertFinder(ast.NodeVisitor):
    """Every ``assert`` statement, with whether it is directly in a class body (where a lambda cannot see the
    class's names)."""

    def __init__(self) -> None:
        self.found: list[tuple[ast.Assert, bool]] = []
        self._in_class = [False]

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self._in_class.append(True)
        self.generic_visit(node)
        self._in_class.pop()

    def _function(self, node) -> None:
        self._in_class.append(False)
        self.generic_visit(node)
        self._in_class.pop()

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _function

    def visit_Assert(self, node: ast.Assert) -> None:
        self.found.append((node, self._in_class[-1]))
        self.generic_visit(node)


def _checked(node: ast.AST) -> bool:
    """Whether a comparison is rewritten: any operator but ``is``/``is not``."""
    return isinstance(node, ast.Compare) and any(not isinstance(op, (ast.Is, ast.IsNot)) for op in node.ops)


def _outermost_compares(node: ast.AST) -> list[ast.Compare]:
    """The comparisons to rewrite in ``node``'s subtree (``node`` included) that no other one to rewrite
    contains; f-strings are not entered (their parts' positions are not the text's before Python 3.12)."""
    if _checked(node):
        return [node]  # type: ignore[list-item]
    found = []
    for child in ast.iter_child_nodes(node):
        if not isinstance(child, ast.JoinedStr):
            found.extend(_outermost_compares(child))
    return found


def _lazy_breaks(node: ast.AST) -> bool:
    """Whether wrapping ``node`` in a lambda would change what it does."""
    return any(isinstance(n, (ast.Await, ast.Yield, ast.YieldFrom, ast.NamedExpr)) for n in ast.walk(node))


class _Source:
    """A text with node positions (line, UTF-8 byte column) turned into character offsets."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.lines = re.split(r"(?<=\r\n)|(?<=\n)|(?<=\r)(?!\n)", text)  # as the tokenizer counts lines
        self.starts = [0]
        for line in self.lines:
            self.starts.append(self.starts[-1] + len(line))

    def offset(self, line: int, column: int) -> int:
        return self.starts[line - 1] + len(self.lines[line - 1].encode("utf-8")[:column].decode("utf-8"))

    def span(self, node) -> tuple[int, int]:
        return self.offset(node.lineno, node.col_offset), self.offset(node.end_lineno, node.end_col_offset)


def _render(source: _Source, node: ast.AST, name: str, eager: bool) -> str:
    """The text of ``node`` with the comparisons in it rewritten."""
    start, end = source.span(node)
    text = source.text[start:end]
    for inner in sorted(_outermost_compares(node), key=lambda n: source.span(n), reverse=True):
        a, b = source.span(inner)
        text = text[:a - start] + _render_compare(source, inner, name, eager) + text[b - start:]
    return text


def _render_compare(source: _Source, compare: ast.Compare, name: str, eager: bool) -> str:
    """``name((ops...), (a), (b), lambda: (c), lazy=True)``: each operand on the line it was on."""
    operands = [compare.left, *compare.comparators]
    lazy = len(operands) > 2 and not eager and not any(_lazy_breaks(n) for n in operands[2:])
    ops = tuple(_OPERATORS[type(op)] for op in compare.ops)
    parts = [f"{name}({ops!r}, ({_render(source, operands[0], name, eager)})"]
    for i in range(1, len(operands)):
        gap = source.text[source.span(operands[i - 1])[1]:source.span(operands[i])[0]]
        newlines = "\n" * len(re.findall(r"\r\n|\n|\r", gap))
        value = f"({_render(source, operands[i], name, eager)})"
        parts.append(f", {newlines}{'lambda: ' if lazy and i >= 2 else ''}{value}")
    return "".join(parts) + (", lazy=True)" if lazy else ")")


def _rewrite_tree(tree: ast.Module, name: str) -> str:
    """The same rewrite on the tree, written back with :func:`ast.unparse` (comments dropped; a statement over
    several lines becomes one): the fallback of :func:`rewrite_asserts`."""
    _TreeRewriter(name).visit(tree)
    return ast.unparse(ast.fix_missing_locations(tree)) + "\n"


class _TreeRewriter(ast.NodeTransformer):
    def __init__(self, name: str) -> None:
        self.name = name
        self._in_class = [False]
        self._in_assert = False

    def visit_ClassDef(self, node):
        self._in_class.append(True)
        node = self.generic_visit(node)
        self._in_class.pop()
        return node

    def _function(self, node):
        self._in_class.append(False)
        node = self.generic_visit(node)
        self._in_class.pop()
        return node

    visit_FunctionDef = visit_AsyncFunctionDef = visit_Lambda = _function

    def visit_Assert(self, node: ast.Assert):
        self._in_assert = True
        node.test = self.visit(node.test)
        self._in_assert = False
        return node

    def visit_JoinedStr(self, node):
        return node

    def visit_Compare(self, node: ast.Compare):
        node = self.generic_visit(node)
        if not (self._in_assert and _checked(node)):
            return node
        operands = [node.left, *node.comparators]
        lazy = len(operands) > 2 and not self._in_class[-1] and not any(_lazy_breaks(n) for n in operands[2:])
        args = [ast.Tuple([ast.Constant(_OPERATORS[type(op)]) for op in node.ops], ast.Load()), *operands[:2]]
        args += [ast.Lambda(ast.arguments([], [], None, [], [], None, []), n) if lazy else n for n in operands[2:]]
        keywords = [ast.keyword("lazy", ast.Constant(True))] if lazy else []
        return ast.copy_location(ast.Call(ast.Name(self.name, ast.Load()), args, keywords), node)


def make_compare(is_plain=None, rule=None, fresh=None):
    """The checked comparison the rewritten tests call (:func:`rewrite_asserts`):
    ``compare(ops, *operands, lazy=False)`` with ``ops`` a tuple of operator texts (``"=="``, ``"not in"``...)
    and one operand more than operators (with ``lazy``, those from the third on are functions that return
    them, called only when the chain gets that far). Returns what the chain of builtin comparisons returns.

    Raises ``AssertionError`` for an operand of an operator other than ``is``/``is not`` that is not plain
    data (:data:`PLAIN`), naming the operator, the operand's side, its type and how to turn the check off.

    ``is_plain(value, depth) -> bool``: the sandbox's wider check (:mod:`treecredit.sandbox_plain`: ``Counter``,
    ``Fraction``, inert objects of the program's classes ...), asked about each value inside the operands that
    is not of a type :data:`PLAIN` names. ``fresh(value, inner, same)``: the copy of such a value (``inner``
    copies a value inside it, ``same(value)`` stands for an object compared by identity); None: such a
    value is compared as it is (in-process use only: the program could change it before it is compared).
    ``rule``: what the error says counts as plain (None: :data:`PLAIN`'s types).

    Each comparison copies its two operands afresh (a program's code that ran in a later operand of a chain
    changes no copy) with the garbage collector off from the first copy to the result, so no ``__del__`` of
    the program runs in between (until 2026-12-03 one swapped an inert object's ``__class__`` there).

    Self-contained (no free names but builtins, bound when it runs), so that :func:`compare_source` can be
    run where the program cannot have changed them yet."""
    import gc

    type_, dict_, list_, tuple_, set_, frozenset_, len_, range_ = type, dict, list, tuple, set, frozenset, len, range
    assertion, recursion, id_, str_ = AssertionError, RecursionError, id, str
    gc_isenabled, gc_disable, gc_enable = gc.isenabled, gc.disable, gc.enable
    scalars = (type(None), bool, int, float, complex, str, bytes)
    limit = 100  # MAX_DEPTH

    class NotPlain(Exception):
        pass

    class Same:
        """Stands for an object compared by identity (an inert object of the program's class, whose own
        ``__eq__`` is object's): equal only to a stand-in of the same object; its class is never read again."""
        __slots__ = ("target", "kind")

        def __init__(self, target):
            self.target, self.kind = target, type_(target).__name__

        def __eq__(self, other):
            if type_(other) is Same:
                return self.target is other.target
            return NotImplemented

        def __ne__(self, other):
            if type_(other) is Same:
                return self.target is not other.target
            return NotImplemented

        def __hash__(self):
            return id_(self.target)

        def __repr__(self):
            return "<" + str_(self.kind) + " object>"

    def copy(value, depth):
        kind = type_(value)
        for allowed in scalars:
            if kind is allowed:
                return value
        if kind is type_:  # a class whose own type is exactly `type` (no metaclass): compared by identity
            return value
        if depth >= limit:
            raise NotPlain(None)
        if kind is not list_ and kind is not tuple_ and kind is not dict_ and kind is not set_ \
                and kind is not frozenset_:
            if is_plain is not None and is_plain(value, depth):
                if fresh is None:
                    return value
                return fresh(value, lambda item: copy(item, depth + 1), Same)
            raise NotPlain(kind)
        if kind is list_:
            return [copy(item, depth + 1) for item in value]
        if kind is tuple_:
            return tuple_([copy(item, depth + 1) for item in value])
        if kind is dict_:
            return {copy(key, depth + 1): copy(item, depth + 1) for key, item in dict_.items(value)}
        if kind is set_:
            return {copy(item, depth + 1) for item in value}
        if kind is frozenset_:
            return frozenset_([copy(item, depth + 1) for item in value])
        raise NotPlain(kind)

    def checked(value, op, side):
        try:
            return copy(value, 0)
        except (NotPlain, recursion) as error:
            kind = error.args[0] if type_(error) is NotPlain else None
            what = (f"holds an object of type {kind.__name__!r}, which is not plain data" if kind is not None else
                    f"nests containers more than {limit} deep (or holds itself)")
            said = rule if rule is not None else (
                "the tests' comparisons compare only None, bool, int, float, complex, str, bytes, classes and list, "
                "tuple, dict, set, frozenset of those (exact types)")
            raise assertion(f"sandbox: the {side} operand of `{op}` {what}; {said}. A comparison with an object "
                            "the program made could run the program's code (an `__eq__` that always says True). "
                            "If the tests themselves compare such values, turn the check off: --reward "
                            "code:plain_results=false (code_reward(..., plain_results=False))") from None

    def one(op, left, right):
        if op == "is":
            return left is right
        if op == "is not":
            return left is not right
        collecting = gc_isenabled()
        gc_disable()  # from the first copy to the result: no __del__ of the program runs in between
        try:
            a, b = checked(left, op, "left"), checked(right, op, "right")
            if op == "==":
                return a == b
            if op == "!=":
                return a != b
            if op == "<":
                return a < b
            if op == "<=":
                return a <= b
            if op == ">":
                return a > b
            if op == ">=":
                return a >= b
            if op == "in":
                return a in b
            if op == "not in":
                return a not in b
            raise assertion(f"sandbox: unknown comparison {op!r}")
        finally:
            if collecting:
                gc_enable()

    def compare(ops, *operands, lazy=False):
        if len_(operands) != len_(ops) + 1:
            raise assertion("sandbox: a checked comparison needs one operand more than operators")
        left = operands[0]
        result = True
        for i in range_(len_(ops)):
            right = operands[i + 1]() if lazy and i >= 1 else operands[i + 1]
            result = one(ops[i], left, right)
            if not result:
                return result
            left = right
        return result

    return compare


def compare_source() -> str:
    """The source of :func:`make_compare` (a ``def`` at column 0), for a harness that defines it in another
    process."""
    import inspect
    import textwrap

    return textwrap.dedent(inspect.getsource(make_compare))
