"""Which code of a chat answer is its program (for the ``code`` reward's :func:`~treecredit.rewards.code.program_for`).

The fenced blocks (```` ```python … ``` ````): the *main* block is the last one that defines the entry point (a
name it binds at its top level by ``def``, ``class`` or assignment; else by import: until 2026-12-03 a later
pytest block's ``from solution import add`` won over the solution), or, without an entry point, one of the names
the tests call; else the last block that defines a function or class or is a function body (it does not parse
on its own: it continues a code prompt); else the last block. A block that only uses the answer
(``print(f(3))  # 9``, a usage example after the solution) is never the main block when another one defines
something (until 2026-12-03 the last block was taken without an entry point, and a correct answer followed by
an example scored 0).

Helpers from the other blocks join a main block that parses on its own: the top-level definitions, imports and
assignments of names that the main block (or a helper it takes, or the tests' names) reads from its global
namespace (not a function's local variables) and does not bind, not builtins; the last block's wins where
several bind a name; they go in front of the main block, in the order of the answer. An assignment whose value
reads a name the main block binds is never taken (it would run before that name exists: until 2026-12-03 an
example's ``count = count_vowels("hello")`` was, and a correct answer scored 0). Their other statements
(examples, prints, input) are left out. So a helper written in an earlier block (``is_prime``, then
``count_primes`` using it) is kept (until 2026-12-03 it was dropped: NameError).

:func:`without_main_guard`: a program's top-level ``if __name__ == "__main__":`` test is replaced by ``False``
(lines keep their numbers), since the sandbox runs the program as ``__main__``: chat answers' demo blocks read
``input()`` (EOFError), call ``doctest.testmod()`` (refused: it traces) or read ``sys.argv`` (until 2026-12-03
each failed correct answers). Its ``else:`` branch, if any, runs, as it does when the program is imported.
"""

from __future__ import annotations

import ast
import builtins
import re

FENCE = re.compile(r"```(?:python|py|Python)?[^\n]*\n(.*?)```", re.DOTALL)
"""The fallback where :func:`fenced_blocks` finds no closed block by lines. It stays (checked 2026-12-03,
``tests/rewards/test_code_fence_fallback.py``): the line scanner reads only fences that are lines of their own, so
a closing ``` at the end of a code line leaves it a block never closed (the fence and the prose after it in the
code), and an opening ```python after prose on its line gives it no block at all."""
_FENCE_LINE = re.compile(r"^([ \t]*)(`{3,}|~{3,})[ \t]*([^\n]*?)[ \t]*$")
_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_HELPERS = (*_DEFINITIONS, ast.Import, ast.ImportFrom, ast.Assign, ast.AnnAssign)
_BUILTINS = frozenset(dir(builtins))


def parse(text: str) -> ast.Module | None:
    try:
        return ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def statement_names(node: ast.stmt) -> set[str]:
    """The names a top-level statement binds (a definition, an assignment's targets, an import's names)."""
    if isinstance(node, _DEFINITIONS):
        return {node.name}
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return {(a.asname or a.name).split(".")[0] for a in node.names}
    if isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        return {n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name)}
    return set()


def bound_names(tree: ast.Module | None) -> set[str]:
    """Names a module binds at its top level (definitions, assignments, imports)."""
    return {name for node in (tree.body if tree is not None else ()) for name in statement_names(node)}


def _defined_names(tree: ast.Module | None) -> set[str]:
    """Names a module binds at its top level by ``def``, ``class`` or assignment (not by import)."""
    return {name for node in (tree.body if tree is not None else ())
            if not isinstance(node, (ast.Import, ast.ImportFrom)) for name in statement_names(node)}


def _reads(tree: ast.Module) -> set[str]:
    """The names ``tree`` reads from its global namespace (:func:`treecredit.sandbox_names.global_reads`, the
    tests' parser: Python's scopes), not builtins. A function's local variable is not among them (until
    2026-12-03 every loaded name was: an example block's ``count = count_vowels("hello")`` joined a solution whose
    function has a local ``count``, and ran before it was defined). Every loaded name where the tree is too deep
    to walk."""
    from treecredit.sandbox_names import global_reads

    try:
        return global_reads(tree) - _BUILTINS
    except RecursionError:
        return {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)} - _BUILTINS


def _runs_now(node: ast.stmt) -> set[str]:
    """The names an assignment's value reads when it runs (not those inside its lambdas)."""
    value = getattr(node, "value", None)
    todo, out = ([value] if value is not None else []), set()
    while todo:
        item = todo.pop()
        if isinstance(item, ast.Name) and isinstance(item.ctx, ast.Load):
            out.add(item.id)
        elif not isinstance(item, ast.Lambda):
            todo.extend(ast.iter_child_nodes(item))
    return out


def fenced_blocks(completion: str, *, leading: bool = True) -> list[str]:
    """The text of each fenced block of ``completion``, in order.

    A fence is a line of at least three backticks or tildes, indented or not (an answer's numbered list indents its
    blocks: their lines lose that indentation), with an info string (``python``) when it opens; a block ends at a
    bare fence of the same character at least as long (indented at most 3 more than the opening one: a docstring's
    fenced example is text; until 2026-12-03 it closed the block), or where a fence of that character at least as
    long with an info string opens the next block (its closing fence left out: until 2026-12-03 the next block's
    ```` ```python ```` line was read as code of the first, a SyntaxError). A block never closed (generation stopped
    at ```` ``` ````, or cut at its length) is the rest of the completion (until 2026-12-03 it was left out, and the
    answer had no program or its prose was the program): the last block after the blocks by lines (after a bare
    fence, only where there are none), else where the :data:`FENCE` pattern finds none. A completion that starts
    with code (a continuation: a function body, or a program) whose first fence is bare has its code before that
    fence as its first block: the fence closes it (until 2026-12-03 it was read as an opening fence, and the prose
    after it became the program); ``leading=False`` reads that fence as an opening one (:func:`choose_code` takes
    that reading where prose that parses, such as ``Approach: recursion``, stood before it). Until 2026-12-03
    neither indented nor ``~~~`` fences were found. Without any block by lines but a block never closed, or none at
    all, the :data:`FENCE` pattern's where it finds one (fences that are not lines of their own: a closing ``` at
    the end of a code line, an opening one after prose); where the lines give a closed block, the pattern is not
    read.
    """
    lines = completion.split("\n")
    matches = [_FENCE_LINE.match(line) for line in lines]
    blocks, i = [], 0
    rest: tuple[str, bool] | None = None
    first = next((k for k, m in enumerate(matches) if m is not None), None)
    if leading and first and not matches[first].group(3) and _starts_with_code("\n".join(lines[:first]) + "\n"):
        blocks.append("\n".join(lines[:first]) + "\n")
        i = first + 1
    while i < len(lines):
        m = matches[i]
        if m is None or m.group(2)[0] == "`" and "`" in m.group(3):
            i += 1
            continue
        indent, fence, info = len(m.group(1)), m.group(2), m.group(3)
        end, after = len(lines), len(lines)
        for j in range(i + 1, len(lines)):
            other = matches[j]
            if other is None or other.group(2)[0] != fence[0] or len(other.group(2)) < len(fence) \
                    or len(other.group(1).expandtabs(4)) > len(m.group(1).expandtabs(4)) + 3:
                continue  # (indented 4 more than the block's fence: its text, a docstring's example)
            if not other.group(3):  # its closing fence
                end, after = j, j + 1
                break
            if not (other.group(2)[0] == "`" and "`" in other.group(3)):  # the next block opens: this one ends
                end, after = j, j
                break
        body = [_dedent(line, indent) for line in lines[i + 1:end]]
        text = "\n".join(body) + "\n" if body else ""
        if end < len(lines):
            blocks.append(text)
        elif text.strip():  # never closed: the rest (after the blocks by lines, or where the pattern finds none)
            rest = (text, bool(info))
        i = after
    if rest is not None and rest[1] and blocks:
        return blocks + [rest[0]]
    if blocks:
        return blocks
    found = FENCE.findall(completion)
    return found if found or rest is None else [rest[0]]


def _dedent(line: str, width: int) -> str:
    """``line`` less up to ``width`` leading blanks (its fence's indentation)."""
    k = 0
    while k < width and k < len(line) and line[k] in " \t":
        k += 1
    return line[k:]


def _starts_with_code(text: str) -> bool:
    """Whether ``text`` (what comes before a completion's first fence) is code: a program, or a function body
    (it parses inside a ``def``), with a statement other than a bare name or constant (``Sure`` parses too)."""
    if not text.strip():
        return False
    tree = parse(text)
    if tree is None:
        body = parse("def _():\n" + text)
        tree = ast.Module(body=body.body[0].body, type_ignores=[]) if body is not None else None  # type: ignore
    trivial = (ast.Name, ast.Constant)
    return tree is not None and any(not (isinstance(node, ast.Expr) and isinstance(node.value, trivial))
                                    for node in tree.body)


def choose_code(completion: str, entry_point: str | None = None, names=()) -> str | None:
    """The program text of ``completion``'s fenced blocks (module docstring): its main block, with the helpers of
    the others in front; None when it has no fenced block. ``entry_point``: the tested function's name;
    ``names``: the names the tests call, used without an entry point."""
    blocks = fenced_blocks(completion)
    if not blocks:
        return None
    trees = [parse(block) for block in blocks]
    wanted = {entry_point} if entry_point else set(names)
    if not _any_main(trees, wanted):  # (the code before a bare first fence was prose that parses: its other reading)
        others = fenced_blocks(completion, leading=False)
        if others != blocks and _any_main([parse(block) for block in others], wanted):
            blocks = others
            trees = [parse(block) for block in blocks]
    defining = [i for i, tree in enumerate(trees) if wanted & _defined_names(tree)]
    if not defining:  # (a block that only imports the name: a pytest file's `from solution import add`)
        defining = [i for i, tree in enumerate(trees) if wanted & bound_names(tree)]
    if not defining:
        defining = [i for i, tree in enumerate(trees)
                    if tree is None or any(isinstance(node, _DEFINITIONS) for node in tree.body)]
    main = (defining or [len(blocks) - 1])[-1]
    tree = trees[main]
    if tree is None or len(blocks) == 1:
        return blocks[main]
    return _helpers(blocks, trees, main, wanted) + blocks[main]


def _any_main(trees: list, wanted: set[str]) -> bool:
    """Whether some block binds one of ``wanted`` (without any: defines a function or class, or is a function
    body: it does not parse on its own)."""
    if wanted:
        return any(wanted & bound_names(tree) for tree in trees)
    return any(tree is None or any(isinstance(node, _DEFINITIONS) for node in tree.body) for tree in trees)


def _helpers(blocks: list[str], trees: list, main: int, wanted: set[str]) -> str:
    """The other blocks' top-level statements that bind what the main block needs, in answer order, as text."""
    offers: dict[str, tuple[int, int]] = {}  # name → (block, statement index): the last block's wins
    for b, tree in enumerate(trees):
        if b != main and tree is not None:
            for s, node in enumerate(tree.body):
                if isinstance(node, _HELPERS):
                    for name in statement_names(node):
                        offers[name] = (b, s)
    main_tree = trees[main]
    have = bound_names(main_tree)
    for name, (b, s) in list(offers.items()):  # it would run before the main block defines what it calls
        node = trees[b].body[s]
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and _runs_now(node) & have:
            del offers[name]
    needed = list((_reads(main_tree) | wanted) - have)
    taken: set[tuple[int, int]] = set()
    while needed:
        where = offers.get(needed.pop())
        if where is None or where in taken:
            continue
        taken.add(where)
        node = trees[where[0]].body[where[1]]
        needed.extend(_reads(ast.Module(body=[node], type_ignores=[])) - have)
    pieces = []
    for b, s in sorted(taken):
        node = trees[b].body[s]
        first = min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", ())])
        pieces.append("\n".join(blocks[b].split("\n")[first - 1:node.end_lineno or node.lineno]))
    return "\n\n".join(pieces) + "\n\n\n" if pieces else ""


def without_main_guard(program: str) -> str:
    """``program`` with each top-level ``if __name__ == "__main__":`` test replaced by ``False`` (module
    docstring); unchanged when it has none or does not parse."""
    if "__main__" not in program:
        return program
    tree = parse(program)
    guards = [node.test for node in (tree.body if tree is not None else ()) if isinstance(node, ast.If)
              and _is_main_test(node.test)]
    if not guards:
        return program
    lines = program.split("\n")
    for test in reversed(guards):  # (each on its own lines: top-level statements)
        first, last = test.lineno - 1, (test.end_lineno or test.lineno) - 1
        head = lines[first].encode("utf-8")[:test.col_offset].decode("utf-8", "replace")
        tail = lines[last].encode("utf-8")[test.end_col_offset or 0:].decode("utf-8", "replace")
        # a test over several lines: the same number of lines, inside brackets
        lines[first:last + 1] = [head + "(False"] + [""] * (last - first - 1) + [")" + tail] if last > first \
            else [head + "False" + tail]
    return "\n".join(lines)


def _is_main_test(test: ast.expr) -> bool:
    """``__name__ == "__main__"`` (either way round)."""
    if not (isinstance(test, ast.Compare) and len(test.ops) == 1 and isinstance(test.ops[0], ast.Eq)):
        return False
    sides = (test.left, test.comparators[0])
    return any(isinstance(a, ast.Name) and a.id == "__name__" and isinstance(b, ast.Constant) and b.value == "__main__"
               for a, b in (sides, sides[::-1]))
