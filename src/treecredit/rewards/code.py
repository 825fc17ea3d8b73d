"""The ``code`` verifier: a completion's program plus the row's tests, run in :mod:`treecredit.sandbox`.

The program a completion stands for (:func:`program_for`). The prompt is *code* when it parses as Python
(or does with a body added: a bare signature such as ``def add(a, b):``) and holds an ``import``, ``def``
or ``class``: HumanEval's signature and docstring. Otherwise (an instruction, "Write a function ...", or
a conversation's user messages) it is never part of the program: prose in front of code is a syntax error.

- A completion with a fenced block (```` ```python … ``` ````, what chat models write): the last block that
  defines the ``entry_point`` (else the last block).

  - A block that compiles on its own is a whole program. After a code prompt it is preceded by the
    prompt's top-level statements that the block does not re-define: imports and helper functions stay,
    the stub the block re-defines goes (a bare signature always goes). After an instruction: the block.
  - A block that does not (a function body, indented) continues a code prompt: the prompt, then the block.

- Otherwise, after a code prompt, a continuation (HumanEval style): the prompt, then the completion up to
  its first non-empty line that starts at column 0 (the function body ended there; what follows, such as
  a ``print`` or another ``def``, is not part of the answer); but a completion that compiles on its own
  and defines the ``entry_point`` is a whole program, as a block. After an instruction: the completion.

Then the tests (``test`` column) and, given an ``entry_point``, ``check(entry_point)``, run by
:func:`treecredit.sandbox_check.run_check`: a program passes only when ``check`` returned, never by
exiting (``sys.exit(0)``, ``os._exit(0)``, ``raise SystemExit``), printing, or patching builtins, and
(``plain_results``, default on) only with plain-data return values, so that an object whose ``__eq__``
always says True does not pass. That module's docstring says how, and what it does not stop.
"""

from __future__ import annotations

import ast
import functools
import re

from treecredit.rewards.answers import as_text

_FENCE = re.compile(r"```(?:python|py|Python)?[^\n]*\n(.*?)```", re.DOTALL)
_ASSERT = re.compile(r"^\s*assert\b")
_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


def extract_code(completion: str, entry_point: str | None = None) -> str | None:
    """The last fenced code block of ``completion`` that defines ``entry_point`` (else its last block), or
    None when there is none."""
    blocks = _FENCE.findall(completion)
    if not blocks:
        return None
    defining = [b for b in blocks if entry_point and entry_point in _bound_names(_parse(b))]
    return (defining or blocks)[-1]


def function_body(completion: str) -> str:
    """``completion`` up to (not including) its first non-empty line that starts at column 0."""
    lines = completion.split("\n")
    for i, line in enumerate(lines):
        if i > 0 and line.strip() and not line[0].isspace():
            return "\n".join(lines[:i]) + "\n"
    return completion


def _parse(text: str) -> ast.Module | None:
    try:
        return ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def _compiles(text: str) -> bool:
    """Whether ``text`` is a program on its own (``return`` outside a function does not parse alone)."""
    try:
        compile(text, "<answer>", "exec", dont_inherit=True)
        return True
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False


def _bound_names(tree: ast.Module | None) -> set[str]:
    """Names a module binds at its top level (definitions, assignments, imports)."""
    names: set[str] = set()
    for node in tree.body if tree is not None else ():
        if isinstance(node, _DEFINITIONS):
            names.add(node.name)
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            names.update((a.asname or a.name).split(".")[0] for a in node.names)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(n.id for t in targets for n in ast.walk(t) if isinstance(n, ast.Name))
    return names


@functools.lru_cache(maxsize=256)
def code_prompt(prompt: str) -> tuple[ast.Module, bool] | None:
    """The parsed prompt and whether its last definition is a bare signature (parsed with a body added)
    when the prompt is code (module docstring), else None."""
    tree, bare = _parse(prompt), False
    if tree is None:
        last = next((line for line in reversed(prompt.split("\n")) if line.strip()), "")
        if not last.rstrip().endswith(":"):
            return None
        indent = last[: len(last) - len(last.lstrip())]
        tree, bare = _parse(prompt.rstrip() + "\n" + indent + "    pass\n"), True
    if tree is None or not any(isinstance(n, (*_DEFINITIONS, ast.Import, ast.ImportFrom)) for n in tree.body):
        return None
    return tree, bare


def _prompt_without(prompt: str, tree: ast.Module, bare: bool, names: set[str]) -> str:
    """``prompt`` less its top-level definitions of ``names`` (and its bare signature, when ``bare``)."""
    lines = prompt.split("\n")
    dropped: set[int] = set()
    for i, node in enumerate(tree.body):
        last_bare = bare and i == len(tree.body) - 1
        if isinstance(node, _DEFINITIONS) and (node.name in names or last_bare):
            first = min([node.lineno] + [d.lineno for d in node.decorator_list])
            dropped.update(range(first - 1, min(node.end_lineno or node.lineno, len(lines))))
    kept = "\n".join(line for i, line in enumerate(lines) if i not in dropped).strip("\n")
    return kept + "\n\n" if kept else ""


def program_for(prompt: str, completion: str, entry_point: str | None = None) -> str:
    """The program ``completion`` stands for after ``prompt``; ``entry_point``: the tested function's name,
    which picks the block and tells a whole-program answer (see the module docstring)."""
    code = code_prompt(prompt)
    block = extract_code(completion, entry_point)
    if block is None and _compiles(completion) and (code is None or (
            entry_point is not None and entry_point in _bound_names(_parse(completion)))):
        block = completion  # a whole program without a fence
    if block is None:
        return prompt + function_body(completion) if code is not None else completion
    block = block if block.endswith("\n") else block + "\n"
    if code is None:
        return block
    tree, bare = code
    stub = prompt if prompt.endswith("\n") else prompt + "\n"
    if not _compiles(block) and _compiles(stub + block):
        return stub + block  # a function body continuing the stub
    return _prompt_without(prompt, tree, bare, _bound_names(_parse(block))) + block


def first_assertions(test: str, k: int) -> str:
    """``test`` cut after its ``k``-th line that starts with ``assert`` (all of it when it has fewer)."""
    lines = test.split("\n")
    seen = 0
    for i, line in enumerate(lines):
        if _ASSERT.match(line):
            seen += 1
            if seen == k:
                return "\n".join(lines[: i + 1]) + "\n"
    return test


def run_tests(program: str, test: str, entry_point: str | None, timeout: float = 10.0,
              plain_results: bool = True) -> bool:
    """Whether ``test`` (then ``check(entry_point)``, given one) runs to its end after ``program`` in the
    sandbox (:func:`treecredit.sandbox_check.run_check`; a program that exits early fails)."""
    from treecredit.sandbox_check import run_check

    return run_check(program, test, entry_point or None, timeout=timeout, plain_results=plain_results).passed


def _prompt_text(prompt) -> str:
    """A conversation's user messages joined (the stub's imports and signature are in there), or the text."""
    if isinstance(prompt, list):
        return "\n".join(str(m.get("content", "")) for m in prompt if isinstance(m, dict) and m.get("role") == "user")
    return str(prompt)


def code_reward(prompts, completions, test=None, entry_point=None, timeout: float = 10.0,
                plain_results: bool = True, **_) -> list[float | None]:
    """1.0 where the completion's program passes the row's ``test`` (and ``check(entry_point)``: the
    check returned), else 0.0; None where the row has no test. ``timeout``: seconds per program;
    ``plain_results=False`` (``code:plain_results=false``) lets the function return objects other than
    plain data (see the module docstring)."""
    tests = list(test) if test is not None else [None] * len(completions)
    entries = list(entry_point) if entry_point is not None else [None] * len(completions)
    out: list[float | None] = []
    for prompt, completion, tst, entry in zip(prompts, completions, tests, entries):
        if tst is None:
            out.append(None)
            continue
        program = program_for(_prompt_text(prompt), as_text(completion), entry)
        out.append(float(run_tests(program, str(tst), entry, float(timeout), bool(plain_results))))
    return out
