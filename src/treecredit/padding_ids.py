"""The padding side as the token ids show it, where the mask alone cannot tell (docs/estimators.md, padding).

A tokenizer pads with one id (its ``pad_token_id``, or ``-100`` in a labels-like array), repeated, on one
side: left padding fills each short row's *leading* masked run with it, right padding its *trailing* one
(after a masked EOS or tool tokens, if any). The masked runs on the other side hold the response's own
tokens: a chat header, an EOS, tool output, which do not repeat one id the way padding does.
:func:`pad_id_side` reads that; :func:`treecredit.batch.align_padding` asks it before the mask's rule
(:func:`treecredit.batch.looks_left_padded`), which it overrides only when one side alone shows padding.
"""

from __future__ import annotations

import numpy as np


def _repeats(ids: np.ndarray, mask: np.ndarray, first: int, second: int) -> np.ndarray:
    """``(B,)`` bool: the rows whose columns ``first`` and ``second`` are both masked and hold one id."""
    return ~mask[:, first] & ~mask[:, second] & (ids[:, first] == ids[:, second])


def pad_id_side(ids: np.ndarray, mask: np.ndarray) -> tuple[str, int, int] | None:
    """``(side, pad_id, row)`` when the ids show padding on one side only, else None.

    ``ids``: ``(B, T)`` integer token ids; ``mask``: ``(B, T)`` bool response mask (True where the loss reads).
    Left: some rows begin with two masked tokens of one id, all the same ``pad_id``, and no row ends so.
    Right: the same at the rows' ends, and no row begins so. ``row``: a row that shows it (for the message).
    Rows with no unmasked token (all padding) are left out. None: no such row on either side (every row
    within one token of the width, or ids that never repeat), such rows on both sides (a padding id that a
    header repeats too: the mask decides), or two ids repeated on the one side."""
    if ids.shape != mask.shape or ids.ndim != 2 or ids.shape[1] < 2 or ids.dtype.kind not in "iub":
        return None
    live = mask.any(axis=1)  # an empty row is all padding: it shows no side
    lead = _repeats(ids, mask, 0, 1) & live
    trail = _repeats(ids, mask, -1, -2) & live
    if lead.any() == trail.any():
        return None
    rows = trail if trail.any() else lead
    pads = np.unique(ids[rows, -1] if trail.any() else ids[rows, 0])
    side = "right" if trail.any() else "left"
    return (side, int(pads[0]), int(np.flatnonzero(rows)[0])) if pads.size == 1 else None
