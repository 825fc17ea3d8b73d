"""The ``code`` verifier: a completion's program plus the row's tests, run in :mod:`treecredit.sandbox`.

The program a completion stands for (:func:`program_for`). The prompt is *code* when it parses as Python
(or does with a body added: a bare signature such as ``def add(a, b):``) and holds an ``import``, ``def``
or ``class``: HumanEval's signature and docstring. Otherwise (an instruction, "Write a function ...", or
a conversation's user messages) it is never part of the program: prose in front of code is a syntax error.

- A completion with a fenced block (```` ```python … ``` ````, what chat models write): the last block that
  defines the ``entry_point`` (without one: a name the tests call; else the last block that defines a function
  or class, so a usage example after the solution is not taken; else the last block), with the definitions it
  uses from the other blocks in front (a helper written in an earlier block):
  :mod:`treecredit.rewards.code_blocks`.

  - A block that compiles on its own is a whole program. After a code prompt it is preceded by the
    prompt's top-level statements that the block does not re-define: imports and helper functions stay,
    the stub the block re-defines goes (a bare signature always goes). After an instruction: the block.
  - A block that does not (a function body, indented) continues a code prompt: the prompt, then the block.

- Otherwise, after a code prompt, a continuation (HumanEval style): the prompt, then the completion up to
  its first non-empty line that starts at column 0 (the function body ended there; what follows, such as
  a ``print`` or another ``def``, is not part of the answer); but a completion that compiles on its own
  and defines the ``entry_point`` is a whole program, as a block. After an instruction: the completion.

- In each case a top-level ``if __name__ == "__main__":`` block does not run (its test becomes ``False``): the
  sandbox runs the program as ``__main__``, and chat answers' demos there read ``input()`` or ``sys.argv``.

Then the tests (``test`` column) and, given an ``entry_point``, ``check(entry_point)`` (tests without a
``check``, MBPP style, call the entry point by name: their asserts run with it bound), run by
:func:`treecredit.sandbox_check.run_check`: a program passes only when ``check`` returned, never by
exiting (``sys.exit(0)``, ``os._exit(0)``, ``raise SystemExit``; the tests' own top-level exit with status 0 is
their end: :mod:`treecredit.sandbox_exits`), printing, patching builtins, or patching a library the tests
call (``math.isclose = lambda *a, **k: True``, ``np.allclose``, ``np.testing.assert_array_equal``, ``json.loads``,
``sys.modules['math'] = fake``: the libraries are put back as they were before the program ran, before the tests
run and after each call the tests make of the program's functions; :mod:`treecredit.sandbox_modules` says how and
its limits: state inside objects, such as caches, is not put back, nor, with ``plain_results=False``, a patch the
program makes from inside a call while the tests run), and
(``plain_results``, default on) only with plain-data return values, so that an object whose ``__eq__``
always says True does not pass. That module's docstring says how, and what it does not stop.

A limit (review37 5): the mocks the tests install (``unittest.mock.patch('os.remove')``) are objects the
program's code is handed (it calls ``os.remove``: the mock), so it can change them, their methods
(``os.remove.assert_called_once_with = lambda *a, **k: None``, or on ``type(os.remove)``) and the calls they
recorded (``call_count``, ``call_args``); tests that check a program only through a mock's ``assert_*`` methods
or recorded calls do not stop a wrong program written to pass them. Calling ``NonCallableMock``'s methods saved
before the program ran instead of the mock's would not close it: those read the mock's own attributes
(``self.call_count``, ``self.assert_called_with``), which the program can set.
"""

from __future__ import annotations

import ast
import functools
import hashlib
import os
import threading
from typing import Iterable

from treecredit._validation import FixError, Remedy
from treecredit.rewards.answers import as_text
from treecredit.rewards.code_blocks import bound_names, choose_code, parse, without_main_guard

_DEFINITIONS = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
_parse, _bound_names = parse, bound_names


def extract_code(completion: str, entry_point: str | None = None, names: Iterable[str] = ()) -> str | None:
    """The program text of ``completion``'s fenced code blocks, or None when it has none: the last block that
    defines ``entry_point`` (without one: one of ``names``, the names the tests call; else the last block that
    defines a function or class), with the definitions it uses from the other blocks in front
    (:func:`treecredit.rewards.code_blocks.choose_code` says the rule)."""
    return choose_code(completion, entry_point, tuple(names))


def function_body(completion: str) -> str:
    """``completion`` up to (not including) its first non-empty line that starts at column 0."""
    lines = completion.split("\n")
    for i, line in enumerate(lines):
        if i > 0 and line.strip() and not line[0].isspace():
            return "\n".join(lines[:i]) + "\n"
    return completion


def _compiles(text: str) -> bool:
    """Whether ``text`` is a program on its own (``return`` outside a function does not parse alone)."""
    try:
        compile(text, "<answer>", "exec", dont_inherit=True)
        return True
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False


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


def program_for(prompt: str, completion: str, entry_point: str | None = None, names: Iterable[str] = ()) -> str:
    """The program ``completion`` stands for after ``prompt``; ``entry_point``: the tested function's name,
    which picks the block and tells a whole-program answer; ``names``: the names the tests call, which pick
    the block without an entry point (see the module docstring). Its top-level ``if __name__ == "__main__":``
    block does not run (:func:`treecredit.rewards.code_blocks.without_main_guard`)."""
    return without_main_guard(_program(prompt, completion, entry_point, tuple(names)))


def _program(prompt: str, completion: str, entry_point: str | None, names: tuple[str, ...]) -> str:
    code = code_prompt(prompt)
    block = extract_code(completion, entry_point, names)
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
    """``test`` cut after its ``k``-th ``assert`` statement (all of it when it has fewer, or does not parse).

    Statements are cut whole, by Python's parser (:mod:`ast`), never lines: an assertion written over several
    lines (``assert candidate([`` … ``]) == …``) is kept whole. Where the ``k``-th assertion sits inside a
    compound statement (a ``for`` loop in ``check``), the cut comes after that whole statement, so a loop is
    never left without the statements that end it. The test's later top-level statements stay, except bare
    assertions (a helper defined after ``check``, or a ``check(f)`` call, still runs). So the cut test runs the
    first ``k`` assertions of the full one, and perhaps a few more: a program that fails it fails the full test
    (for deterministic code), which is what makes the partial verifier sound."""
    tree = _parse(test)
    if tree is None:
        return test
    asserts = sorted((n for n in ast.walk(tree) if isinstance(n, ast.Assert)), key=lambda n: (n.lineno, n.col_offset))
    if len(asserts) <= k:
        return test
    line = asserts[k - 1].lineno
    index, top = next((i, s) for i, s in enumerate(tree.body) if _first_line(s) <= line <= _last_line(s))
    end = _last_line(top)
    if isinstance(top, (ast.FunctionDef, ast.AsyncFunctionDef)):
        end = next(_last_line(s) for s in top.body if _first_line(s) <= line <= _last_line(s))
    lines = test.split("\n")
    kept = lines[:end]
    for node in tree.body[index + 1:]:
        if not isinstance(node, ast.Assert):
            kept.extend(lines[_first_line(node) - 1:_last_line(node)])
    cut = "\n".join(kept) + "\n"
    return cut if _parse(cut) is not None else test


def _first_line(node: ast.stmt) -> int:
    """The first line of a statement, its decorators included."""
    return min([node.lineno] + [d.lineno for d in getattr(node, "decorator_list", ())])


def _last_line(node: ast.stmt) -> int:
    return node.end_lineno or node.lineno


def run_tests(program: str, test: str, entry_point: str | None, timeout: float = 10.0,
              plain_results: bool = True) -> bool:
    """Whether ``test`` (then ``check(entry_point)``, given one) runs to its end after ``program`` in the
    sandbox (:func:`treecredit.sandbox_check.run_check`; a program that exits early fails). Verdicts are kept
    (the last :data:`VERDICTS_KEPT`), so the same program and tests run once: the copies of a tree group, and
    held-out pass@1's success test after the reward (assumes deterministic tests, as the partial verifier does).
    unittest ``TestCase`` classes the tests define are run, and ``unittest.main()`` does not run
    (:mod:`treecredit.rewards.code_unittest`).

    Raises:
        RuntimeError: the sandbox could not start the program (``sandbox: could not start (...)``); until
            2026-12-03 that scored 0.0, so every program scored 0 with no word why.
    """
    from treecredit.rewards.code_unittest import with_runner
    from treecredit.sandbox_check import TEXT_LOCK, run_check, warn_plain_refusal

    key = hashlib.sha256(repr((program, test, entry_point or None, float(timeout), bool(plain_results)))
                         .encode("utf-8", "surrogatepass")).digest()
    with _LOCK:
        if key in _VERDICTS:
            return _VERDICTS[key]
    for attempt in range(_PARSE_TRIES):
        try:  # (with_runner parses the tests: one parse at a time, as run_check's own text work; a parse elsewhere
            with TEXT_LOCK:  # in the process can still race with it, so it is tried again too: review37 7)
                tests_run = with_runner(test)
            result = run_check(program, tests_run, entry_point or None, timeout=timeout,
                               plain_results=plain_results)
            break
        except SystemError as error:  # CPython 3.11's ast.parse, run by several threads at once, can raise this
            if "AST constructor recursion depth mismatch" not in str(error) or attempt == _PARSE_TRIES - 1:
                raise  # (a race on the parser's depth counter, gh-106905: the same text parses on a second try)
    if result.returncode is None and not result.timed_out and result.stderr.startswith("sandbox: could not start"):
        # (not the program's failure: scoring it 0 would score every program 0, silently)
        raise RuntimeError(f"code reward: {result.stderr.strip()}; no program can be scored "
                           f"(timeout={timeout!r}, plain_results={plain_results!r})")
    passed = result.passed
    if not passed and plain_results:  # (said once: a refused value was only in the sandbox's stderr)
        warn_plain_refusal(result.stderr)
    with _LOCK:
        if len(_VERDICTS) >= VERDICTS_KEPT:
            _VERDICTS.pop(next(iter(_VERDICTS)))
        _VERDICTS[key] = passed
    return passed


_PARSE_TRIES = 3  # run_tests' tries when the parser's depth counter raced with another thread's (CPython 3.11):
# the reward's own parses hold sandbox_check.TEXT_LOCK; a parse elsewhere in the process (a reward of the user's
# in another thread) can still race with them

VERDICTS_KEPT = 4096
"""Sandbox verdicts :func:`run_tests` keeps (oldest dropped first)."""
_VERDICTS: dict[bytes, bool] = {}  # a digest of (program, tests, entry point, timeout, plain_results) → passed
_LOCK = threading.Lock()

DEFAULT_WORKERS = min(4, os.cpu_count() or 1)
"""Programs the ``code`` reward runs at once by default (``code:workers=N``)."""


def _prompt_text(prompt, i: int) -> str:
    """A conversation's user messages joined (the stub's imports and signature are in there), or the text; ''
    for None (no prompt: ``prompts=None``, or a row's null prompt).

    Raises:
        FixError: naming ``prompts``, where row ``i``'s prompt is neither text, a list of messages nor None (a
            number: until 2026-12-03 ``3`` was read as the text ``'3'``, and an int of 5,000 digits raised
            Python's ValueError).
    """
    from treecredit.rewards.code_args import show

    if isinstance(prompt, list):
        return "\n".join(str(m.get("content", "")) for m in prompt if isinstance(m, dict) and m.get("role") == "user")
    if prompt is None:
        return ""  # (no prompt: until 2026-12-04 read as the text 'None', which hid the tested function's name)
    if not isinstance(prompt, str):
        raise FixError("prompts", f"row {i}'s prompt is {type(prompt).__name__} {show(prompt)}, not text or a list "
                       "of messages (a conversation)", (Remedy("prompts=[<the prompt's text>, ...] (one per row)"),))
    return prompt


def code_reward(prompts, completions, test=None, entry_point=None, timeout: float = 10.0,
                plain_results: bool = True, workers: int = DEFAULT_WORKERS, entry_point_column: str = "entry_point",
                **columns) -> list[float | None]:
    """1.0 where the completion's program passes the row's ``test`` (and ``check(entry_point)``: the
    check returned), else 0.0; None where the row has no test. Results are in the order of ``completions``.

    Args:
        timeout: seconds per program (wall clock, and its CPU limit).
        plain_results: False (``code:plain_results=false``) lets the function return objects other than plain
            data (see the module docstring).
        workers: programs run at once (``code:workers=N``; default :data:`DEFAULT_WORKERS`, min(4, CPUs)), each a
            sandboxed subprocess that a thread waits on; each may use the sandbox's address-space limit
            (1024 MiB), so up to ``workers`` × 1024 MiB at once. The verdicts are those of running them one by one.
        entry_point_column: the column that holds the tested function's name (``code:entry_point_column=fn``
            for a dataset that calls it ``fn``).

    Raises:
        FixError (a ``ValueError``), before any program runs: ``workers`` not a whole number ≥ 1; ``timeout``
            not a number of seconds in (0, 86400], ``plain_results`` not a bool; ``completions`` not a list (a
            string is refused); ``prompts``, ``test`` or the entry points not a list
            with one value per completion (a string is refused: it would be read one character per completion),
            a row's prompt neither text nor a list of messages, or a code prompt holding a lone surrogate (naming
            ``prompts``), a row's tests not text (a NaN,
            pandas' missing value, is a row without tests, as None), a row's entry point not a Python name, no
            row with tests while a column ``tests``, ``test_list`` or ``test_cases`` holds them (naming ``test``
            and the column) (:mod:`treecredit.rewards.code_args`);
            a column named by ``entry_point_column`` that is not given; a row whose tests run no assertion (they
            only define ``check``, and the row has no entry point to call it with: every program would pass),
            naming the column that seems to hold the function's name (:mod:`treecredit.rewards.code_tests`);
            a row with an entry point whose tests run nothing and define no ``check`` (naming ``test``), or whose
            unittest tests the runner would not run (made in a function, by ``type(...)``, ``types.new_class`` or
            ``exec``, picked by a loader's ``testMethodPrefix`` or ``load_tests``: naming ``test`` and the row).
    """
    from treecredit.rewards.code_args import (
        check_options,
        check_prompt,
        check_rows,
        completion_list,
        per_completion,
        refuse_misnamed_tests,
        show,
        whole_number,
    )
    from treecredit.rewards.code_tests import check_row
    from treecredit.sandbox_check import TEXT_LOCK

    if not whole_number(workers) or workers < 1:  # (numpy's integers count: np.int64(2))
        raise FixError("workers", f"is {show(workers)}, must be a whole number ≥ 1 (programs run at once)",
                       (Remedy(f"workers={DEFAULT_WORKERS}", f"--reward code:workers={DEFAULT_WORKERS}"),))
    completions = completion_list(completions)
    n = len(completions)
    given = {"prompt", *columns} - {"completion_ids"} | ({"test"} if test is not None else set()) \
        | ({"entry_point"} if entry_point is not None else set())
    if entry_point_column != "entry_point":
        if entry_point_column not in columns:
            raise FixError("entry_point_column", f"names column {show(entry_point_column)}, which the rows do not have "
                           f"(the columns given: {sorted(given)})",
                           (Remedy("entry_point_column=<the column of the tested function's name>",
                                   "--reward code:entry_point_column=<column>"),))
        entry_point = columns[entry_point_column]
    check_options(timeout, plain_results)
    prompts = per_completion("prompts", prompts, n)
    tests = per_completion("test", test, n)
    entry_argument = "entry_point" if entry_point_column == "entry_point" else entry_point_column
    entries = per_completion(entry_argument, entry_point, n)
    tests, entries = check_rows(tests, entries, entry_argument)
    refuse_misnamed_tests(tests, columns)
    jobs: list[tuple[int, str, str, str | None]] = []
    with TEXT_LOCK:  # (the rows' parses: another call's workers may be parsing, CPython 3.11's race; review37 7)
        for i, (prompt, completion, tst, entry) in enumerate(zip(prompts, completions, tests, entries)):
            if tst is None:
                continue
            text, completion = _prompt_text(prompt, i), as_text(completion)
            check_prompt(text, i)
            names = check_row(i, tst, entry, text + completion, columns, given, entry_point_column)
            jobs.append((i, program_for(text, completion, entry or None, names), tst, entry or None))
    out: list[float | None] = [None] * n

    def one(job: tuple[int, str, str, str | None]) -> tuple[int, float]:
        return job[0], float(run_tests(job[1], job[2], job[3], float(timeout), bool(plain_results)))

    if workers == 1 or len(jobs) <= 1:
        results = map(one, jobs)
    else:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=min(workers, len(jobs)), thread_name_prefix="code-reward") as pool:
            results = list(pool.map(one, jobs))
    for i, value in results:
        out[i] = value
    return out


def code_success_of(task, problems: list, responses: list[str]) -> list[bool] | None:
    """Whether each response's program passes its row's tests, by the task's ``code`` reward (the first one,
    with its options, alone and at weight 1): held-out pass@1's success test on a dataset without answers
    whose rewards include ``code`` (``--reward code --reward my:short@0.2``), whatever the other rewards.
    None when the task has no ``code`` reward (or no reward functions). The verdicts come from the cache
    :func:`run_tests` filled while the rewards were scored, so no program runs twice. Nothing is counted
    or logged (the call is made as a probe): a failed verdict counts as not solved."""
    reward_set, rewards_of = getattr(task, "_reward_set", None), getattr(task, "rewards_of", None)
    items = list(getattr(reward_set, "items", None) or ())
    code = [(name, fn, 1.0) for name, fn, _ in items if getattr(fn, "func", fn) is code_reward][:1]
    if reward_set is None or not code or not callable(rewards_of):
        return None
    reward_set.items = code
    try:
        with reward_set.probing(len(problems), solutions=False):
            values = list(rewards_of(list(problems), list(responses)))
    finally:
        reward_set.items = items
    return [v is not None and v >= 1.0 for v in values]
