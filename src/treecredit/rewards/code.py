"""The ``code`` verifier: a completion's program plus the row's tests, run in :mod:`treecredit.sandbox`.

The program a completion stands for (:func:`program_for`):

- a completion with a fenced block (```` ```python … ``` ````, what chat models write): the prompt (its
  imports and the function stub), then the last block, whose definitions replace the stub's;
- otherwise a continuation of the prompt (HumanEval style): the prompt, then the completion up to its
  first non-empty line that starts at column 0 (the function body ended there; what follows, such as a
  ``print`` or another ``def``, is not part of the answer).

Then the tests (``test`` column) and, given an ``entry_point``, ``check(entry_point)``, run by
:func:`treecredit.sandbox_check.run_check`: a program passes only when ``check`` returned, never by
exiting (``sys.exit(0)``, ``os._exit(0)``, ``raise SystemExit``), printing, or patching builtins, and
(``plain_results``, default on) only with plain-data return values, so that an object whose ``__eq__``
always says True does not pass. That module's docstring says how, and what it does not stop.
"""

from __future__ import annotations

import re

from treecredit.rewards.answers import as_text

_FENCE = re.compile(r"```(?:python|py|Python)?[^\n]*\n(.*?)```", re.DOTALL)
_ASSERT = re.compile(r"^\s*assert\b")


def extract_code(completion: str) -> str | None:
    """The last fenced code block of ``completion``, or None when there is none."""
    blocks = _FENCE.findall(completion)
    return blocks[-1] if blocks else None


def function_body(completion: str) -> str:
    """``completion`` up to (not including) its first non-empty line that starts at column 0."""
    lines = completion.split("\n")
    for i, line in enumerate(lines):
        if i > 0 and line.strip() and not line[0].isspace():
            return "\n".join(lines[:i]) + "\n"
    return completion


def program_for(prompt: str, completion: str) -> str:
    """The program ``completion`` stands for after ``prompt`` (see the module docstring)."""
    block = extract_code(completion)
    if block is not None:
        return f"{prompt}\n{block}\n"
    return prompt + function_body(completion)


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
        program = program_for(_prompt_text(prompt), as_text(completion))
        out.append(float(run_tests(program, str(tst), entry, float(timeout), bool(plain_results))))
    return out
