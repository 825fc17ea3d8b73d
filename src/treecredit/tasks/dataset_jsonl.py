"""Plain JSON Lines files read with the standard library, where ``datasets`` would give the very same rows.

Importing ``datasets`` (with pandas and pyarrow) and building its Arrow table takes seconds at every start of a
run (benchmarks/bench_jsonl_load.py). For a plain file, the rows ``datasets.load_dataset("json")`` gives are
the file's own objects, so :func:`plain_rows` reads them with :mod:`json`; every file it is not sure of goes to
``datasets`` as before (:func:`treecredit.tasks.dataset_io.load_rows`), so the rows a reward sees keep
``datasets``' conventions (those of TRL users' datasets) either way:

- columns: the keys of all rows, in order of first appearance, and None where a row lacks one;
- values: each column of one kind, besides None: text, bools, ints (int64), finite floats, lists of text, or
  lists of objects that all have the first one's keys, with text values (chat messages);
- anything else is left to ``datasets``: a column mixing ints and floats (it gives floats: ``1`` → ``1.0``),
  text that may read as a date (it gives ``datetime``), nested objects, duplicate keys, a line that is not
  a JSON object, a byte-order mark or bytes that are not UTF-8, a ``\\ud83d`` escape that is half of a pair
  (a lone surrogate: ``datasets`` refuses the file, and says so).
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

_DATE_LIKE = re.compile(r"\s*\d{4}-\d")
"""Text ``datasets`` (pyarrow) may read as a timestamp (``2024-01-01``): such a file is left to it."""
_INT64 = 2**63


class _NotPlain(Exception):
    """Raised inside the reader: the file is not plain, ``datasets`` reads it."""


def _plain_text(text: str) -> bool:
    """Text this reader vouches for: not read as a date by pyarrow, and no lone surrogate (UTF-8 cannot hold one)."""
    if _DATE_LIKE.match(text):
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _object(pairs: list[tuple]) -> dict:
    keys = [k for k, _ in pairs]
    if len(set(keys)) != len(keys):  # duplicate keys: json keeps the last, pyarrow may not
        raise _NotPlain
    if not all(_plain_text(key) for key in keys):
        raise _NotPlain
    return dict(pairs)


def _kind(value) -> object:
    """A hashable kind of one JSON value; :class:`_NotPlain` for one this reader does not vouch for."""
    if isinstance(value, str):
        if not _plain_text(value):
            raise _NotPlain
        return str
    if isinstance(value, bool):
        return bool
    if isinstance(value, int):
        if not -_INT64 <= value < _INT64:
            raise _NotPlain
        return int
    if isinstance(value, float):
        if not math.isfinite(value):
            raise _NotPlain
        return float
    if isinstance(value, list):
        kinds = {_item_kind(item) for item in value}
        if len(kinds) > 1:
            raise _NotPlain
        return ("list", *kinds)
    raise _NotPlain  # a nested object


def _item_kind(item) -> object:
    if isinstance(item, str) and _plain_text(item):
        return str
    if isinstance(item, dict) and item and all(isinstance(v, str) and _plain_text(v) for v in item.values()):
        return tuple(sorted(item))  # chat messages: one set of keys for the whole column
    raise _NotPlain


def plain_rows(source: Path) -> list[dict] | None:
    """The rows of the JSON Lines file ``source`` as ``datasets`` would give them, or None when the file is not
    plain (see the module docstring) or holds no row: then ``datasets`` reads it, and says what is wrong."""
    try:
        text = source.read_bytes().decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    if text.startswith("\ufeff"):
        return None
    rows: list[dict] = []
    try:
        for line in text.split("\n"):  # not splitlines(): U+2028 and friends may stand inside a string
            if not line.strip():
                continue
            row = json.loads(line, object_pairs_hook=_object)
            if not isinstance(row, dict):
                return None
            rows.append(row)
        columns = list(dict.fromkeys(key for row in rows for key in row))
        orders = {}
        for column in columns:
            kinds = {_kind(row[column]) for row in rows if row.get(column) is not None}
            if len(kinds) > 1 and ("list",) in kinds:  # an empty list goes with any list
                kinds.discard(("list",))
            if len(kinds) > 1:
                raise _NotPlain
            first = next((row[column][0] for row in rows if isinstance(row.get(column), list) and row[column]
                          and isinstance(row[column][0], dict)), None)
            if first is not None:
                orders[column] = list(first)  # pyarrow's struct order: the keys' first appearance
    except (ValueError, RecursionError, _NotPlain):  # json's errors are ValueErrors
        return None
    if not rows:
        return None
    return [{column: _ordered(row.get(column), orders.get(column)) for column in columns} for row in rows]


def _ordered(value, keys: list | None):
    """A list of messages with every message's keys in ``keys``' order; any other value as it is."""
    if keys is None or not isinstance(value, list):
        return value
    return [{key: item[key] for key in keys} for item in value]
