"""What :data:`treecredit.sandbox_modules.MODULES` takes and puts back, read from the texts (parent side, text only):
:func:`import_plan` names the modules the program and the tests import (every ``import`` and ``from ... import``
statement of either text, in functions too; absolute ones), the attribute paths they read from them
(``np.testing.assert_allclose``: a package may load ``testing`` only when it is first asked for), the names the
program's top level binds by ``import X [as Y]`` that the tests read without binding them, and the top-level names
of the tests' own imports. (Split from :mod:`treecredit.sandbox_modules`, which keeps the boot source.)
"""

from __future__ import annotations

import ast


def _nodes(tree: ast.Module, functions: bool) -> list[ast.AST]:
    """Every node of ``tree``, or (``functions`` False) those that run when it runs: not the bodies of its functions
    (a program's import in a function runs only if the tests call it; the tests' own functions all run)."""
    out: list[ast.AST] = []
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        out.append(node)
        if not functions and isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
            stack.extend(node.decorator_list if not isinstance(node, ast.Lambda) else [])
            continue
        stack.extend(ast.iter_child_nodes(node))
    return out


def _imports(nodes: list[ast.AST]) -> tuple[list[tuple[str, tuple[str, ...]]], dict[str, str]]:
    """Every absolute import among ``nodes`` as ``(module, fromlist)``, and the names they bind to modules
    (``np`` -> ``numpy``; ``import a.b`` binds ``a``)."""
    found: list[tuple[str, tuple[str, ...]]] = []
    aliases: dict[str, str] = {}
    for node in nodes:
        if isinstance(node, ast.Import):
            for alias in node.names:
                found.append((alias.name, ()))
                if alias.asname:
                    aliases[alias.asname] = alias.name
                else:
                    aliases[alias.name.partition(".")[0]] = alias.name.partition(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.append((node.module, tuple(a.name for a in node.names)))
            for alias in node.names:
                if alias.name != "*":
                    aliases[alias.asname or alias.name] = node.module + "." + alias.name
    return found, aliases


def _paths(nodes: list[ast.AST], aliases: dict[str, str]) -> set[tuple[str, ...]]:
    """The attribute paths ``nodes`` read from names bound to modules (``np.testing.x`` ->
    ``('numpy', 'testing', 'x')``), the module's name first."""
    out: set[tuple[str, ...]] = set()
    for node in nodes:
        if isinstance(node, ast.Attribute):
            parts = []
            value: ast.expr = node
            while isinstance(value, ast.Attribute):
                parts.append(value.attr)
                value = value.value
            if isinstance(value, ast.Name) and value.id in aliases:
                out.add((*aliases[value.id].split("."), *reversed(parts)))
    return out


def import_plan(program: str, test: str, reads: tuple[str, ...] = ()) -> tuple:
    """For ``_library_state`` (module docstring): ``(imports, paths, bindings, named, scope)`` of ``program`` (what
    runs when it runs: not its functions' bodies) and ``test`` (all of it); ``reads`` are the names the tests read
    and do not bind (:func:`treecredit.sandbox_check.style_of`). A text that does not parse adds nothing."""
    imports: list[tuple[str, tuple[str, ...]]] = []
    paths: set[tuple[str, ...]] = set()
    bindings: list[tuple[str, str]] = []
    named: set[str] = set()
    parts = []
    aliases: dict[str, str] = {}
    for text, is_test in ((program, False), (test, True)):
        try:
            tree = ast.parse(text)
        except (SyntaxError, ValueError, RecursionError, MemoryError):
            continue
        nodes = _nodes(tree, is_test)
        found, bound = _imports(nodes)
        imports += found
        aliases.update(bound)  # (the tests may read a module by the program's name for it: np)
        parts.append(nodes)
        if is_test:
            named |= {module.partition(".")[0] for module, _ in found}
            continue
        for node in nodes:  # the program's own `import X [as Y]` that runs (its top level, a class body)
            for alias in node.names if isinstance(node, ast.Import) else ():
                key = alias.asname or alias.name.partition(".")[0]
                if key in reads:
                    bindings.append((key, alias.name if alias.asname else key))
    for nodes in parts:
        paths |= _paths(nodes, aliases)
    unique = tuple(dict.fromkeys(imports))
    scope = named | {module.partition(".")[0] for _, module in bindings} | {"builtins"}
    return unique, tuple(sorted(paths)), tuple(dict.fromkeys(bindings)), frozenset(named), frozenset(scope)
