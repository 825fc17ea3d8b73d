"""A text with node positions (line, UTF-8 byte column) turned into character offsets, for the rewrites of the tests'
text (:mod:`treecredit.sandbox_rewrite`, :mod:`treecredit.sandbox_loops`, :mod:`treecredit.sandbox_exits`,
:mod:`treecredit.rewards.code_unittest`), each line keeping its number."""

from __future__ import annotations

import re


class Source:
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

    def newlines(self, start: int, end: int) -> str:
        return "\n" * len(re.findall(r"\r\n|\n|\r", self.text[start:end]))
