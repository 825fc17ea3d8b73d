"""The README's Python snippets run, each alone, as a user would paste them (issue 8, "the house").

Every ```python block of README.md runs alone, in a fresh namespace, as a user pasting only that block would
run it: each block imports and defines what it uses (a block that leaned on an earlier one's ``import
treecredit`` failed when pasted alone). A block preceded by the line ``<!-- not-run -->`` is skipped on
purpose (e.g. one that needs a GPU or a download). The count of blocks is pinned, so a block cannot silently
vanish or appear untested: when the README gains or loses a block, update EXPECTED_BLOCKS here. When a block
is followed directly by a plain ``` block, that block is the output the snippet prints, and it is compared.
"""

import contextlib
import io
import re
from pathlib import Path

import pytest

README = Path(__file__).resolve().parents[1] / "README.md"
NOT_RUN = "<!-- not-run -->"
EXPECTED_BLOCKS = {"run": 2, "not_run": 0}

FENCE = re.compile(r"^```(\w*)[ \t]*\n(.*?)^```[ \t]*$", re.S | re.M)


def python_blocks(text: str):
    """``(code, skipped, printed output or None)`` for each ```python block, in order."""
    fences = list(FENCE.finditer(text))
    out = []
    for k, fence in enumerate(fences):
        if fence.group(1) != "python":
            continue
        before = text[: fence.start()].rstrip().splitlines()
        skipped = bool(before) and before[-1].strip() == NOT_RUN
        expected = None
        if k + 1 < len(fences):
            nxt = fences[k + 1]
            if nxt.group(1) == "" and text[fence.end(): nxt.start()].strip() == "":
                expected = nxt.group(2)
        out.append((fence.group(2), skipped, expected))
    return out


def test_block_count_is_pinned():
    blocks = python_blocks(README.read_text(encoding="utf-8"))
    counted = {"run": sum(not s for _, s, _ in blocks), "not_run": sum(s for _, s, _ in blocks)}
    assert counted == EXPECTED_BLOCKS, "README python blocks changed: update EXPECTED_BLOCKS (and run them)"


def test_the_parser_finds_blocks_skips_marked_ones_and_reads_outputs():
    text = "x\n```python\nprint(1)\n```\n```\n1\n```\n<!-- not-run -->\n```python\nboom()\n```\n```bash\nls\n```\n"
    assert python_blocks(text) == [("print(1)\n", False, "1\n"), ("boom()\n", True, None)]


def test_readme_python_blocks_run():
    ran = 0
    for number, (code, skipped, expected) in enumerate(python_blocks(README.read_text(encoding="utf-8")), 1):
        if skipped:
            continue
        namespace: dict = {}  # each block alone: what it uses, it imports or defines (was: one shared namespace)
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            try:
                exec(compile(code, f"README.md python block {number}", "exec"), namespace)
            except Exception as exc:  # noqa: BLE001 - report which block failed
                pytest.fail(f"README python block {number} raised {type(exc).__name__}: {exc}\n{code}")
        if expected is not None:
            assert printed.getvalue().rstrip() == expected.rstrip(), f"block {number} prints something else"
        ran += 1
    assert ran == EXPECTED_BLOCKS["run"]
