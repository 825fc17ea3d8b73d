"""The validated form in which every token-level estimator receives its batch.

Index convention used across treecredit: ``_resp`` indexes responses (rows, ``0 <= i < B``), ``_tok``
indexes response-token positions (columns, ``0 <= t < T``), ``_grp`` indexes groups
(``0 <= g < n_groups``) and ``_node`` indexes tree nodes.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from treecredit._validation import (
    as_int64,
    check_binary_mask,
    check_choice,
    check_finite,
    check_integer,
    check_ndim,
    check_non_negative,
    check_shape,
    fail,
    to_numpy,
)
from treecredit.padding_ids import pad_id_side
from treecredit.token_rows import refuse_negative_ids, row_lengths


@dataclass(frozen=True)
class TokenBatch:
    """A batch of B right-padded responses of T tokens, grouped by prompt.

    Attributes:
        response_ids: ``(B, T)`` int64 token ids.
        response_mask: ``(B, T)`` bool; False on padding and on tool/observation tokens. Masked tokens
            inside a response still belong to its prefix; they only receive advantage 0.
        rewards: ``(B,)`` float64 terminal rewards.
        group_index: ``(B,)`` int64 dense group numbers in ``[0, n_groups)``, in order of first appearance.
        n_groups: number of distinct groups.
    """

    response_ids: np.ndarray
    response_mask: np.ndarray
    rewards: np.ndarray
    group_index: np.ndarray
    n_groups: int

    @property
    def shape(self) -> tuple[int, int]:
        return self.response_ids.shape  # type: ignore[return-value]

    @cached_property
    def lengths(self) -> np.ndarray:
        """``(B,)`` int64: one past the last unmasked token of each row (0 for a fully masked row;
        :func:`~treecredit.token_rows.row_lengths`, found once per batch).

        Tokens at or beyond this length are padding: they belong to no prefix.
        """
        return row_lengths(self.response_mask)

    @cached_property
    def group_sizes(self) -> np.ndarray:
        """``(n_groups,)`` int64: responses per group."""
        return np.bincount(self.group_index, minlength=self.n_groups).astype(np.int64)


def _group_id_array(group_ids: Any, argument: str) -> np.ndarray:
    """Group ids as an array; a list mixing ints and strings (``[1, "1"]``) is refused, not merged."""
    if isinstance(group_ids, (list, tuple)) or (isinstance(group_ids, np.ndarray) and group_ids.dtype == object):
        values = list(group_ids.tolist() if isinstance(group_ids, np.ndarray) else group_ids)
        kinds = {"int" if isinstance(v, (int, np.integer)) and not isinstance(v, (bool, np.bool_))
                 else "str" if isinstance(v, (str, np.str_)) else type(v).__name__ for v in values}
        if len(kinds) > 1 or not kinds <= {"int", "str"}:
            why = ("1 and '1' would be merged" if kinds == {"int", "str"}
                   else "a float id such as 0.0 is not an id: use 0" if "float" in kinds else "ids are labels")
            fail(argument, f"mixes or contains unsupported types {sorted(kinds)}",
                 f"pass non-negative integer ids or strings, not a mix ({why})")
        return np.asarray(values) if values else np.zeros(0, dtype=np.int64)
    return to_numpy(group_ids, argument)


def _checked_group_ids(group_ids: Any, n_rows: int, argument: str) -> np.ndarray:
    """``(B,)`` group ids as an int64 (integral floats read as ints) or string array, checked."""
    ids = _group_id_array(group_ids, argument)
    check_ndim(ids, 1, argument, "(B,)")
    check_shape(ids, (n_rows,), argument, "response (B)")
    if ids.size == 0:
        return ids
    if np.issubdtype(ids.dtype, np.floating):
        if not np.all(np.isfinite(ids)) or not np.all(ids == np.round(ids)):
            fail(argument, "contains non-integer floats", "pass integer or string group ids")
        ids = ids.astype(np.int64)
    if np.issubdtype(ids.dtype, np.integer):
        check_non_negative(ids, argument)
    elif ids.dtype.kind not in "US":
        fail(argument, f"has dtype {ids.dtype}", "pass integer or string group ids")
    return ids


def _first_appearance(ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(dense (B,) int64, first (G,))``: each row's group number in order of first appearance, and the row
    where each group first appears."""
    _, first, inverse = np.unique(ids, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")  # dense numbers by first appearance
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    return rank[inverse.reshape(-1)].astype(np.int64), first[order]


def dense_group_index(group_ids: Any, n_rows: int, argument: str = "group_ids") -> tuple[np.ndarray, int]:
    """Map arbitrary group ids (ints or strings) to dense ``0..n_groups-1`` in order of first appearance."""
    ids = _checked_group_ids(group_ids, n_rows, argument)
    if ids.size == 0:
        return np.zeros(0, dtype=np.int64), 0
    dense, first = _first_appearance(ids)
    return dense, int(first.size)


def group_id_values(group_ids: Any, n_rows: int, argument: str = "group_ids") -> tuple:
    """The caller's id of each dense group of :func:`dense_group_index` (same numbering: order of first
    appearance), as Python ints (integral floats read as ints) or strings."""
    ids = _checked_group_ids(group_ids, n_rows, argument)
    if ids.size == 0:
        return ()
    return tuple(v.item() for v in ids[_first_appearance(ids)[1]])


PADDING_SIDES = ("right", "left")


def _run_lengths(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(lead, trail)`` per row of a bool ``(B, T)`` mask: its leading and trailing masked runs' lengths."""
    T = mask.shape[1]
    lead = np.where(mask.any(axis=1), np.argmax(mask, axis=1), T)
    trail = np.where(mask.any(axis=1), np.argmax(mask[:, ::-1], axis=1), T)
    return lead, trail


def looks_left_padded(mask: np.ndarray) -> bool:
    """True when some non-empty row starts with a masked token, more than half of the non-empty rows end
    on the last column (or before a masked end, such as an EOS token left out of the loss, that most rows
    share: :func:`_common_end`), and more rows end there than start where the rows start most to the left.
    Left padding aligns the responses on the right (their masked ends too), right padding on the left. A
    majority, not every row, so that a left-padded row ending in masked tool tokens, or ended by a stop
    string without the EOS, does not hide the padding of the others (until 2026-12-03 one such row did,
    where the others shared a masked EOS: the batch read as right-padded); a strict one, so that
    right-padded rows beginning with a masked header (none, or only half of them, reaching the right end)
    are not taken for left padding; strictly more rows aligned on the right than on the left, so that a
    right-padded batch of rows mostly cut at the maximum length, a few beginning with masked tool tokens,
    passes. A batch aligned on the right only (say every row fills the width and some begin with masked
    tokens, or two rows of one length begin with masked tokens next to a cut row) is ambiguous and reads
    as left-padded, one aligned as much on both sides as right-padded: the caller says which with
    ``padding_side``, or the ids do (:func:`padding_reading`, which :func:`align_padding` asks).
    ``benchmarks/padding_detection.py`` counts how often random batches are read right.

    Rows that fill the width (cut at the maximum length, so a left-padded one has lost its masked EOS) do
    not hide the masked end the other rows share, and then count as aligned on both sides."""
    return mask_reading(mask) == "left"


def mask_reading(mask: np.ndarray) -> str:
    """``"left"`` when :func:`looks_left_padded`; ``"tie"`` when it does not but would with its ties counted the
    other way (one padded row sharing the masked end beside a cut row, a masked end shared by half the rows
    only, half the rows or as many as start most to the left ending on the common end): a batch the mask alone
    cannot place, read as right-padded; else ``"right"``. ``mask``: ``(B, T)`` bool."""
    if mask.ndim != 2 or 0 in mask.shape:
        return "right"
    live = mask.any(axis=1)
    if not live.any():
        return "right"
    lead, trail = (run[live] for run in _run_lengths(mask))
    if not (lead > 0).any():
        return "right"
    starts_aligned = int((lead == lead.min()).sum())
    for strict in (True, False):
        ends_aligned = _ends_aligned(lead, trail, _common_end(lead, trail, strict))
        if (2 * ends_aligned > lead.size and ends_aligned > starts_aligned if strict
                else 2 * ends_aligned >= lead.size and ends_aligned >= starts_aligned):
            return "left" if strict else "tie"
    return "right"


def _common_end(lead: np.ndarray, trail: np.ndarray, strict: bool = True) -> int:
    """Where the rows end most to the right, as masked tokens after it: 0 (the last column), or a masked end
    (an EOS token left out of the loss) shared by a strict majority of the rows that do not fill the width
    (so one left-padded row ending in masked tool tokens, or on the last column, does not hide it). Not
    when the rows sharing it all begin on one column too (in a right-padded batch narrower than its width,
    or beginning with a masked header, rows of one length share their end: a tie, read as right-padded),
    nor when another row ends inside it (0 < its masked end < the common one: in a left-padded batch a row
    without the EOS ends on the last column, one with tool tokens after more; in a right-padded one it is
    a longer row), Rows that fill the width (no masked token at either end: cut at
    the maximum length, which in a left-padded batch cuts the EOS off) need not have it; then the rows sharing it
    that begin on the first column do not count for the different starts (left-padded, such a row would be
    as long as the cut rows and still have its EOS; right-padded, every row without a masked header begins
    there). ``lead``, ``trail``: the
    live rows' masked runs (:func:`_run_lengths`). ``strict=False`` counts the ties the other way (an end
    shared by half the rows; one padded row sharing it beside cut rows), for :func:`mask_reading`'s ``"tie"``."""
    cut = (lead == 0) & (trail == 0)
    rest_lead, rest_trail = lead[~cut], trail[~cut]
    ends = rest_trail[rest_trail > 0]
    if ends.size == 0:
        return 0
    values, counts = np.unique(ends, return_counts=True)
    end, n_share = int(values[np.argmax(counts)]), int(counts.max())
    if 2 * n_share < rest_trail.size + strict:
        return 0
    sharing = rest_trail == end
    others = rest_trail[~sharing]
    if ((others > 0) & (others < end)).any():
        return 0
    starts = rest_lead[sharing]
    if cut.any() and (strict or (starts > 0).sum() >= 2):  # next to cut rows, a row sharing the end from the
        starts = starts[starts > 0]  # first column fits right padding too
    return end if starts.size >= 2 and (starts != starts[0]).any() else 0


def _ends_aligned(lead: np.ndarray, trail: np.ndarray, end: int) -> int:
    """How many rows end on the common ``end`` (:func:`_common_end`); past the last column, with the rows that
    fill the width, which are then aligned on both sides."""
    aligned = int((trail == end).sum())
    return aligned + int(((lead == 0) & (trail == 0)).sum()) if end > 0 else aligned


TREE_MISREAD = "tree credit would then compare misaligned prefixes"


def align_padding(response_ids: Any, response_mask: Any, arrays: dict, padding_side: str | None,
                  consequence: str = TREE_MISREAD):
    """Bring a batch to the right-padded layout that estimators use.

    ``padding_side``: None (default) expects right padding and refuses a batch that looks left-padded
    (:func:`looks_left_padded`); ``"right"`` trusts the layout as given; ``"left"`` moves each row's
    leading masked run (its padding) to the end, and the same for every ``(B, T)`` array in ``arrays``.
    Returns ``(ids, mask, arrays, shift)``; ``shift (B,)`` undoes the move with :func:`restore_padding`
    (None when nothing moved). ``consequence``: what misreading the layout would do, for the refusal's text.
    """
    if padding_side is not None:
        check_choice(padding_side, PADDING_SIDES, "padding_side")
    ids = to_numpy(response_ids, "response_ids")
    mask = to_numpy(response_mask, "response_mask")
    if mask.ndim != 2 or padding_side == "right":
        return ids, mask, arrays, None
    live = mask != 0
    if padding_side is None:
        _refuse_left_padding(ids, live, consequence)
        return ids, mask, arrays, None
    shift = np.where(live.any(axis=1), np.argmax(live, axis=1), 0)
    shape = mask.shape
    moved = {}
    for name, value in arrays.items():
        if value is not None and not isinstance(value, (str, bytes, int, float)) and np.shape(value) == shape:
            moved[name] = roll_rows(to_numpy(value, name), shift)
        else:
            moved[name] = value
    if ids.shape != shape:  # make_token_batch reports the shape error
        return ids, mask, arrays, None
    return roll_rows(ids, shift), roll_rows(mask, shift), moved, shift


def padding_reading(ids: np.ndarray, live: np.ndarray, shown: tuple[str, int, int] | None = None) -> str:
    """How ``padding_side=None`` reads a batch: ``"left"`` (refused), ``"right"``, or ``"tie"`` (read as
    right-padded, with a warning). The ids decide where they show padding on one side only
    (:func:`~treecredit.padding_ids.pad_id_side`; ``shown``: its answer, if at hand), else the mask
    (:func:`mask_reading`). ``ids``: ``(B, T)`` int; ``live``: ``(B, T)`` bool mask."""
    if shown is None:
        shown = pad_id_side(ids, live)
    return mask_reading(live) if shown is None else shown[0]


def _refuse_left_padding(ids: np.ndarray, live: np.ndarray, consequence: str) -> None:
    """Refuse a batch that looks left-padded (the ids' repeated padding id, :func:`~treecredit.padding_ids.
    pad_id_side`, where one side alone shows it; else the mask's rule, :func:`mask_reading`); warn where neither
    can tell (a tie of the mask's rule, no padding id repeated on one side only), and the batch is read as
    right-padded. Both say how to pass ``padding_side``."""
    shown = pad_id_side(ids, live)
    reading = padding_reading(ids, live, shown)
    fix = ("pass padding_side='left' (rows are re-aligned to the right-padded layout and the result is returned "
           "in yours), or padding_side='right' if the leading masked tokens belong to the responses")
    if reading == "tie":
        warnings.warn("response_mask: the padding side cannot be told from this batch (its mask fits right and left "
                      "padding alike, and no padding id repeats on one side only); it is read as right-padded. Fix: "
                      "pass padding_side='right' to say so (and silence this warning), or padding_side='left' if "
                      "it is left-padded", stacklevel=4)
    if reading != "left":
        return
    if shown is not None and mask_reading(live) != "left":
        _, pad, row = shown
        fail("response_mask", f"looks left-padded (its leading masked runs hold only the id {pad}, repeated, e.g. "
             f"row {row}, as padding does, and no row ends in a repeated masked id), and {consequence}", fix)
    nonempty = live.any(axis=1)
    starts = np.flatnonzero(nonempty & ~live[:, 0])
    lead, trail = (run[nonempty] for run in _run_lengths(live))
    common = _common_end(lead, trail)
    end = "the last column" if common == 0 else f"column {live.shape[1] - 1 - common}"
    n_cut = int(((lead == 0) & (trail == 0)).sum()) if common > 0 else 0
    if n_cut:
        end += f" or fill the width ({n_cut} cut at the maximum length)"
    fail("response_mask", f"looks left-padded ({starts.size} of {int(nonempty.sum())} responses start with masked "
         f"tokens, e.g. row {int(starts[0])}, and {_ends_aligned(lead, trail, common)} end on {end}, more than "
         f"half and more than start on column {int(lead.min())}), and {consequence}", fix)


def roll_rows(array: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """``out[i, t] = array[i, (t + shift[i]) mod T]``: row i moved left by ``shift[i]`` columns."""
    B, T = array.shape[:2]
    cols = (np.arange(T)[None, :] + shift[:, None]) % max(T, 1)
    return np.take_along_axis(array, cols, axis=1)


def restore_padding(result: np.ndarray, shift: np.ndarray | None) -> np.ndarray:
    """Undo :func:`align_padding` on a ``(B, T)`` result (no-op for ``shift`` None)."""
    return result if shift is None else roll_rows(result, -shift)


def clear_padding_ids(ids: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """``ids`` with the negative ids (e.g. ``-100``) after each row's last unmasked token, its padding, read as 0:
    no estimator reads ids there (nothing after a row's length belongs to a prefix), and
    :func:`~treecredit.step_text.step_ends_from_text` accepts them there too. A negative id before a row's last
    unmasked token (masked tool tokens included, which stay part of the prefix) is refused
    (:func:`~treecredit.token_rows.refuse_negative_ids`). ``ids``: (B, T); ``lengths``: (B,), each row's length
    (:func:`~treecredit.token_rows.row_lengths` of its mask)."""
    return np.where(refuse_negative_ids(ids, lengths), ids, 0)


def make_token_batch(response_ids: Any, response_mask: Any, rewards: Any, group_ids: Any) -> TokenBatch:
    """Validate the public arguments and return a :class:`TokenBatch`. Negative ids (e.g. ``-100``) after a row's
    last unmasked token, its padding, are read as 0 (:func:`clear_padding_ids`), for every caller alike
    (``compute_advantages``, ``build_tree``); anywhere else they are refused."""
    ids = to_numpy(response_ids, "response_ids")
    check_ndim(ids, 2, "response_ids", "(B, T)")
    check_integer(ids, "response_ids")
    B, T = ids.shape
    mask = to_numpy(response_mask, "response_mask")
    check_shape(mask, (B, T), "response_mask", "(B, T) like response_ids")
    mask = check_binary_mask(mask, "response_mask")
    lengths = None
    if ids.dtype.kind == "i" and ids.size and ids.min() < 0:
        lengths = row_lengths(mask)
        ids = clear_padding_ids(ids, lengths)
    check_non_negative(ids, "response_ids")
    ids = as_int64(ids, "response_ids")
    rew = to_numpy(rewards, "rewards")
    check_ndim(rew, 1, "rewards", "(B,)")
    check_shape(rew, (B,), "rewards", "response (B)")
    check_finite(rew, "rewards")
    group_index, n_groups = dense_group_index(group_ids, B)
    batch = TokenBatch(
        response_ids=ids,
        response_mask=mask,
        rewards=rew.astype(np.float64),
        group_index=group_index,
        n_groups=n_groups,
    )
    if lengths is not None:  # found for the padding ids: TokenBatch.lengths (a cached_property) need not run again
        batch.__dict__["lengths"] = lengths
    return batch
