"""Step boundaries: where a response's steps end, from one of three descriptions.

A step is a span of response tokens closed by a boundary. ``step_ends`` is a ``(B, T)`` bool array,
True on the last token of each step. It is derived from exactly one of:

- ``step_ends``: given directly as a ``(B, T)`` 0/1 array;
- ``delimiter``: a token sequence (an int or a list of ints); a step ends on the last token of each
  occurrence of the delimiter, so the delimiter belongs to the step it closes;
- ``step_tokens``: fixed blocks of k tokens (ends at t = k−1, 2k−1, ...).

In every case the last token of each response (``TokenBatch.lengths − 1``) also closes a step, and
nothing at or beyond a response's length is a step end.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from treecredit._validation import as_int64, check_binary_mask, check_integer, check_shape, fail, to_numpy
from treecredit.batch import TokenBatch
from treecredit.step_text import short_repr, steps_as_text

STEP_OPTIONS = ("step_ends", "delimiter", "step_tokens")
_STEP_ENDS_FROM_TEXT = "pass step_ends=treecredit.step_ends_from_text(response_ids, tokenizer, '\\n\\n')"
"""How a Python caller gives steps as text (a host says it in its own terms: :func:`steps_as_text`)."""


def resolve_step_ends(
    batch: TokenBatch, *, step_ends: Any = None, delimiter: Any = None, step_tokens: Any = None,
    required: bool = True,
) -> np.ndarray | None:
    """Return the ``(B, T)`` bool step-end mask described by exactly one of the three options.

    With ``required=False`` and no option given, returns None (the caller then works per token).
    """
    given = [name for name, value in zip(STEP_OPTIONS, (step_ends, delimiter, step_tokens)) if value is not None]
    if len(given) > 1:
        fail(given[1], f"was given together with {given[0]}", "describe steps with exactly one of "
             "step_ends, delimiter or step_tokens")
    if not given:
        if required:
            fail("step_ends", "no step boundaries were given", "pass one of step_ends=(B, T) mask, "
                 "delimiter=<token id or list of ids>, or step_tokens=<block size>")
        return None
    B, T = batch.shape
    if step_ends is not None:
        ends = to_numpy(step_ends, "step_ends")
        check_shape(ends, (B, T), "step_ends", "(B, T) like response_ids")
        ends = check_binary_mask(ends, "step_ends").copy()
    elif delimiter is not None:
        ends = _delimiter_ends(batch.response_ids, delimiter)
    else:
        ends = _block_ends(B, T, step_tokens)
    positions = np.arange(T)[None, :]
    lengths = batch.lengths[:, None]
    ends &= positions < lengths
    rows = np.flatnonzero(batch.lengths > 0)
    ends[rows, batch.lengths[rows] - 1] = True
    return ends


def _delimiter_ends(ids: np.ndarray, delimiter: Any) -> np.ndarray:
    """``(B, T)`` bool: True at the last token of each match of ``delimiter``'s token ids in ``ids`` ``(B, T)``.

    Raises:
        ValueError: (``delimiter``) text (the empty text marks no step end; other text gets its own token ids as
            the example), True/False, no ids, a negative id.
    """
    if isinstance(delimiter, str) or (isinstance(delimiter, (list, tuple)) and delimiter
                                      and all(isinstance(d, str) for d in delimiter)):
        text = "".join(delimiter)  # a delimiter is one sequence: its pieces in a row
        if not text:  # no text to find: an empty step pattern is refused too, so the example is visible text
            fail("delimiter", "is the empty text '', which marks no step end; delimiter takes token ids",
                 "pass the token ids that end a step (delimiter=tokenizer.encode('\\n\\n', add_special_tokens="
                 "False)), or give visible text that closes a step: " + steps_as_text(_STEP_ENDS_FROM_TEXT))
        fail("delimiter", f"is the text {delimiter!r}; delimiter takes token ids",
             f"pass its token ids (delimiter=tokenizer.encode({text!r}, add_special_tokens=False)), or, for text "
             "that BPE writes with different ids in different places, "
             + steps_as_text(_STEP_ENDS_FROM_TEXT.replace(repr("\n\n"), repr(text))))
    pattern = np.atleast_1d(to_numpy(delimiter, "delimiter"))
    flags = isinstance(delimiter, (list, tuple)) and any(isinstance(d, (bool, np.bool_)) for d in delimiter)
    if pattern.dtype == bool or isinstance(delimiter, (bool, np.bool_)) or flags:
        fail("delimiter", f"is {short_repr(delimiter)}, which holds True/False, not token ids (True would be read "
             "as id 1)",
             "pass the delimiter's token ids, e.g. delimiter=tokenizer.encode('\\n\\n', add_special_tokens=False)")
    check_integer(pattern, "delimiter")
    pattern = as_int64(pattern, "delimiter")
    if pattern.ndim != 1 or pattern.size == 0:
        fail("delimiter", "must be a token id or a non-empty 1-D sequence of ids",
             "pass a list of ints, e.g. delimiter=tokenizer.encode('\\n\\n', add_special_tokens=False)")
    if int(pattern.min()) < 0:
        fail("delimiter", f"holds the negative id {int(pattern.min())}; token ids are ≥ 0",
             "pass the delimiter's token ids (delimiter=tokenizer.encode('\\n\\n', add_special_tokens=False)), or "
             "give its text: " + steps_as_text(_STEP_ENDS_FROM_TEXT))
    B, T = ids.shape
    k = pattern.size
    ends = np.zeros((B, T), dtype=bool)
    if k > T:
        return ends
    # ends[:, t] is True where ids[:, t-k+1 : t+1] == pattern
    match = np.ones((B, T - k + 1), dtype=bool)
    for offset, token in enumerate(pattern):
        match &= ids[:, offset: T - k + 1 + offset] == token
    ends[:, k - 1:] = match
    return ends


def _block_ends(B: int, T: int, step_tokens: Any) -> np.ndarray:
    if isinstance(step_tokens, bool) or not isinstance(step_tokens, (int, np.integer)) or step_tokens < 1:
        fail("step_tokens", f"is {step_tokens!r}, must be a positive int", "pass the block size, e.g. step_tokens=64")
    ends = ((np.arange(T) + 1) % int(step_tokens) == 0)[None, :]
    return np.broadcast_to(ends, (B, T)).copy()


def step_index(step_ends: np.ndarray) -> np.ndarray:
    """``(B, T)`` int64: the number of the step each token belongs to (0 for the first step)."""
    ends = step_ends.astype(np.int64)
    return np.cumsum(ends, axis=1) - ends
