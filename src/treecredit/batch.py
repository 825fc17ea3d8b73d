"""The validated form in which every token-level estimator receives its batch.

Index convention used across treecredit: ``_resp`` indexes responses (rows, ``0 <= i < B``), ``_tok``
indexes response-token positions (columns, ``0 <= t < T``), ``_grp`` indexes groups
(``0 <= g < n_groups``) and ``_node`` indexes tree nodes.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from treecredit._validation import (
    check_binary_mask,
    check_finite,
    check_integer,
    check_ndim,
    check_non_negative,
    check_shape,
    fail,
    to_numpy,
)


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
        """``(B,)`` int64: one past the last unmasked token of each row (0 for a fully masked row).

        Tokens at or beyond this length are padding: they belong to no prefix.
        """
        B, T = self.shape
        if T == 0:
            return np.zeros(B, dtype=np.int64)
        # argmax over a reversed (negative-stride) view loses NumPy's fast path; reversing the flat buffer
        # is one contiguous copy whose row B-1-i is row i reversed.
        flipped = np.ascontiguousarray(self.response_mask.reshape(-1)[::-1]).reshape(B, T)
        last_from_end = np.argmax(flipped, axis=1)[::-1]
        any_true = self.response_mask.any(axis=1)
        return np.where(any_true, T - last_from_end, 0).astype(np.int64)

    @cached_property
    def group_sizes(self) -> np.ndarray:
        """``(n_groups,)`` int64: responses per group."""
        return np.bincount(self.group_index, minlength=self.n_groups).astype(np.int64)


def dense_group_index(group_ids: Any, n_rows: int, argument: str = "group_ids") -> tuple[np.ndarray, int]:
    """Map arbitrary group ids (ints or strings) to dense ``0..n_groups-1`` in order of first appearance."""
    ids = to_numpy(group_ids, argument)
    check_ndim(ids, 1, argument, "(B,)")
    check_shape(ids, (n_rows,), argument, "response (B)")
    if ids.size == 0:
        return np.zeros(0, dtype=np.int64), 0
    if np.issubdtype(ids.dtype, np.floating):
        if not np.all(np.isfinite(ids)) or not np.all(ids == np.round(ids)):
            fail(argument, "contains non-integer floats", "pass integer or string group ids")
        ids = ids.astype(np.int64)
    if np.issubdtype(ids.dtype, np.integer):
        check_non_negative(ids, argument)
    elif ids.dtype.kind not in "USO":
        fail(argument, f"has dtype {ids.dtype}", "pass integer or string group ids")
    _, first, inverse = np.unique(ids, return_index=True, return_inverse=True)
    order = np.argsort(first, kind="stable")  # dense numbers by first appearance
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    return rank[inverse.reshape(-1)].astype(np.int64), int(order.size)


def make_token_batch(response_ids: Any, response_mask: Any, rewards: Any, group_ids: Any) -> TokenBatch:
    """Validate the public arguments and return a :class:`TokenBatch`."""
    ids = to_numpy(response_ids, "response_ids")
    check_ndim(ids, 2, "response_ids", "(B, T)")
    check_integer(ids, "response_ids")
    check_non_negative(ids, "response_ids")
    B, T = ids.shape
    mask = to_numpy(response_mask, "response_mask")
    check_shape(mask, (B, T), "response_mask", "(B, T) like response_ids")
    mask = check_binary_mask(mask, "response_mask")
    rew = to_numpy(rewards, "rewards")
    check_ndim(rew, 1, "rewards", "(B,)")
    check_shape(rew, (B,), "rewards", "response (B)")
    check_finite(rew, "rewards")
    group_index, n_groups = dense_group_index(group_ids, B)
    return TokenBatch(
        response_ids=ids.astype(np.int64, copy=False),
        response_mask=mask,
        rewards=rew.astype(np.float64),
        group_index=group_index,
        n_groups=n_groups,
    )
