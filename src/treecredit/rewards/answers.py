"""Final answers out of free text: ``\\boxed{…}`` (last one, braces balanced) and GSM8K's ``#### …``.

Used by the built-in verifiers on both the completion and the dataset's answer column, so an answer
column may hold ``"288"``, ``"#### 288"`` or a full worked solution ending in ``#### 288``.
"""

from __future__ import annotations

import re

_NUMBER = re.compile(r"[-+]?(?:\d[\d,]*\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def as_text(value) -> str:
    """Text of a completion or prompt: a string as is; a conversation (TRL's conversational format, a
    list of ``{"role", "content"}`` messages) as the content of its last message."""
    if isinstance(value, list) and value and isinstance(value[-1], dict):
        return str(value[-1].get("content", ""))
    return "" if value is None else str(value)


def last_boxed(text: str) -> str | None:
    """Content of the last ``\\boxed{…}`` (or ``\\fbox{…}``) in ``text`` with nested braces, or None."""
    start = max(text.rfind("\\boxed{"), text.rfind("\\fbox{"))
    if start < 0:
        return None
    i = text.index("{", start) + 1
    depth, begin = 1, i
    while i < len(text):
        depth += {"{": 1, "}": -1}.get(text[i], 0)
        if depth == 0:
            return text[begin:i].strip()
        i += 1
    return None  # unbalanced: the box was never closed


def final_answer(text: str) -> str:
    """The answer ``text`` commits to: the last ``\\boxed{}``, else what follows the last ``####`` (first
    line), else the stripped text itself."""
    boxed = last_boxed(text)
    if boxed is not None:
        return boxed
    if "####" in text:
        tail = text.rsplit("####", 1)[1].strip()
        return tail.splitlines()[0].strip() if tail else ""
    return text.strip()


def last_number(text: str) -> float | None:
    """The last number written in ``text`` (thousands commas allowed), or None."""
    found = [m.group(0).replace(",", "") for m in _NUMBER.finditer(text)]
    for token in reversed(found):
        try:
            return float(token.rstrip("."))
        except ValueError:
            continue
    return None
