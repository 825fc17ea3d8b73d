"""Rows of token ids as :mod:`treecredit.step_text` and :mod:`treecredit.batch` read them: each row's length
from its ``response_mask`` (:func:`row_lengths`), and the checks of ids before they are decoded or batched: what a
TRL or Hugging Face user may pass instead of ids (:func:`check_id_rows`), negative ids inside a row
(:func:`refuse_negative_ids`) and ids past the tokenizer's vocabulary (:func:`check_decodable`)."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from typing import Any

import numpy as np

from treecredit._validation import fail, to_numpy


def row_lengths(response_mask: Any, shape: tuple[int, ...] = ()) -> np.ndarray:
    """``(B,)`` int64: one past each row's last nonzero entry of the ``(B, T)`` ``response_mask`` (NumPy, torch or
    lists; 0 for an empty row), or T for every row when it is None (``shape``: ``(B, T)``). A row is decoded up
    to its length; what follows is padding."""
    if response_mask is None:
        return np.full(shape[0], shape[1], dtype=np.int64)
    mask = to_numpy(response_mask, "response_mask").astype(bool)
    B, T = mask.shape
    if T == 0:
        return np.zeros(B, dtype=np.int64)
    # argmax over a reversed (negative-stride) view loses NumPy's fast path; reversing the flat buffer
    # is one contiguous copy whose row B-1-i is row i reversed.
    last_from_end = np.argmax(np.ascontiguousarray(mask.reshape(-1)[::-1]).reshape(B, T), axis=1)[::-1]
    return np.where(mask.any(axis=1), T - last_from_end, 0).astype(np.int64)


def refuse_negative_ids(ids: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """``(B, T)`` bool: the positions of the ``(B, T)`` ``ids`` before each row's length (``lengths``, ``(B,)``:
    :func:`row_lengths`), after refusing a negative id there (``ValueError`` naming ``response_ids``, the id, its
    row and column): those ids are part of the response's prefix (masked tool tokens too) and are decoded; a
    negative id after them (padding, e.g. ``-100``) is the caller's to read as 0 or to skip."""
    inside = np.arange(ids.shape[1])[None, :] < lengths[:, None]
    bad = inside & (ids < 0)
    if bad.any():
        row, col = (int(i) for i in np.argwhere(bad)[0])
        fail("response_ids", f"holds the negative id {int(ids[row, col])} at row {row}, column {col}, before the "
             "row's last unmasked token: ids there are part of the response's prefix (masked tool tokens too)",
             "pass token ids ≥ 0 up to each row's last token; a negative padding id (e.g. -100) is accepted only "
             "after it, where response_mask is 0")
    return inside


def short_repr(value: Any, limit: int = 80) -> str:
    """``repr(value)`` cut to ``limit`` characters (a tokenizer's repr runs to hundreds of lines)."""
    text = repr(value)
    return text if len(text) <= limit else f"{text[:limit]}... (a {type(value).__name__})"


def check_id_rows(response_ids: Any) -> None:
    """Refuse, before they become an array, the ``response_ids`` a user of TRL or Hugging Face may have at hand
    instead: decoded texts, and ragged lists of ids (TRL's ``completion_ids``)."""
    if isinstance(response_ids, str) or (isinstance(response_ids, list | tuple) and response_ids
                                         and isinstance(response_ids[0], str)):
        fail("response_ids", "holds text, not token ids", "pass token ids, not text: (response_ids, tokenizer, "
             "pattern), e.g. the completions' ids as a (B, T) right-padded array with its response_mask")
    if isinstance(response_ids, Mapping) or (hasattr(response_ids, "keys") and hasattr(response_ids, "__getitem__")
                                             and not hasattr(response_ids, "shape")):
        keys = list(response_ids.keys())
        fail("response_ids", f"is a {type(response_ids).__name__} with keys {short_repr(keys)} (a tokenizer's whole "
             "output), not the token ids", "pass its ['input_ids'] as response_ids, and its ['attention_mask'] as "
             "response_mask if it is right-padded")
    rows = response_ids
    if isinstance(rows, np.ndarray) and rows.dtype == object and rows.ndim == 1:
        rows = list(rows)  # a ragged array: one object per row
    if isinstance(rows, list | tuple | np.ndarray) and len(rows) and all(
            not isinstance(row, str | bytes) and hasattr(row, "__len__") and getattr(row, "ndim", 1) == 1
            for row in rows):
        lengths = sorted({len(row) for row in rows})
        if len(lengths) > 1:
            fail("response_ids", f"has rows of different lengths ({lengths[0]} to {lengths[-1]} ids)",
                 "right-pad them to one length and set response_mask to 0 on the padding")


def vocabulary_size(tokenizer: Any) -> int | None:
    """How many token ids ``tokenizer`` decodes: ``len(tokenizer)`` for a Hugging Face tokenizer (its added
    tokens included), else its ``vocab_size`` (a treecredit policy's: its model's); None when unknown."""
    if hasattr(tokenizer, "convert_ids_to_tokens"):
        with contextlib.suppress(TypeError):
            return int(len(tokenizer))
    size = getattr(tokenizer, "vocab_size", None)
    return int(size) if isinstance(size, int | np.integer) and not isinstance(size, bool) and size > 0 else None


def check_decodable(ids: np.ndarray, lengths: np.ndarray, size: int | None, given: int | None = None) -> None:
    """Refuse ids up to each row's length (those decoded) that are negative or, with the vocabulary ``size``
    known, ≥ it: a tokenizer decodes them to no text (or fails), so a pattern would find no step there and
    only the no-step warning would follow. ``given``: the caller's ``vocab_size`` (then ``size`` is it, and the
    error names it), or None (``size`` is the tokenizer's)."""
    decoded = ids[refuse_negative_ids(ids, lengths)]
    if not decoded.size:
        return
    high = int(decoded.max())
    if given is not None and high >= given:
        fail("response_ids", f"holds the id {high}, beyond vocab_size={given} (ids 0 to {given - 1})",
             "pass vocab_size=<the number of ids of the model that wrote response_ids> (e.g. "
             f"model.config.vocab_size), or leave it None to use the tokenizer's{f' ({size} ids)' if size else ''}")
    if given is None and size is not None and high >= size:
        fail("response_ids", f"holds the id {high}, beyond the tokenizer's vocabulary of {size} ids (0 to "
             f"{size - 1}), which decodes to no text", "pass the tokenizer of the model that wrote response_ids; "
             "when that model has more embedding rows than the tokenizer has tokens, pass vocab_size=<the "
             "model's>")
