"""IBPO-style counterfactual credit: token credit goes where a response differs from its opposites.

Index convention: ``_resp`` rows, ``_tok`` token positions, ``_unit`` alignment units (tokens, or steps
when a step option is given), ``_pair`` (higher-reward, lower-reward) response pairs of one group.
"""

from __future__ import annotations

import numpy as np

from treecredit._validation import check_positive, fail
from treecredit.batch import TokenBatch
from treecredit.groups import centered
from treecredit.methods.ibpo_align import opposite_pairs, row_chunks, step_content_ids, unmatched_share
from treecredit.methods.outcome import grpo_response_advantages
from treecredit.registry import register_estimator
from treecredit.steps import resolve_step_ends

MAX_ALIGNMENT_CELLS = 200_000_000
"""Default cap on Σ over opposite pairs of (U_i + 1)(U_j + 1) LCS cells: about 5–10 s on one CPU core."""


@register_estimator("ibpo")
def ibpo(batch: TokenBatch, *, norm_by_std: bool = True, epsilon: float = 1e-6, step_ends=None,
         delimiter=None, step_tokens=None, max_alignment_cells: int = MAX_ALIGNMENT_CELLS) -> np.ndarray:
    """IBPO (counterfactual comparison): GRPO credit, concentrated on what differs from opposite outcomes.

    O(i) = responses of i's group on the other side of the group mean (r_j > μ_g if r_i < μ_g, and
    vice versa); each pair (i, j) is aligned by a longest common subsequence (LCS) over units
    (tokens, or steps when ``step_ends``/``delimiter``/``step_tokens`` is given; steps match when their
    token content is identical).
        u_{i,t} = |{j ∈ O(i) : the unit of token t is unmatched in the LCS of (i, j)}| / |O(i)|
        w_{i,t} = u_{i,t} / mean of u_{i,·} over i's unmasked tokens
        A_{i,t} = A^grpo_i · w_{i,t}     (A^grpo_i = (r_i − μ_g)/(σ_g + ε), or r_i − μ_g)
    so w averages 1 over each response and Σ_t A_{i,t} equals GRPO's.

    Special cases: no opposite partner (a group of one, all rewards equal, r_i = μ_g) → w = 1; a
    response matched everywhere by all its partners (u ≡ 0) → w = 1; all rewards equal → exactly 0.
    Binary rewards make O(i) the responses of the other correctness. A fully masked row gets 0.
    Paper: IBPO, arXiv 2605.16302 (its operator is not public). Ours: the whole operator above —
    the mean split of "opposite", LCS alignment, the unmatched share and its rescaling. The alignment
    is the one found by backtracking from the end (match on equal units, else drop a unit of the
    higher-reward response when that keeps the LCS length, else of the lower-reward one). Masked
    tool/observation tokens inside a response take part in the alignment but get advantage 0.

    Cost: O(P · U²) for P opposite pairs of U units. At token level U = T, so for responses longer than
    a few hundred tokens give steps (``step_tokens=64`` or a delimiter): U = T/64 is thousands of times
    cheaper, and step-level credit is usually what is wanted. A batch whose alignments would fill more
    than ``max_alignment_cells`` LCS cells (Σ over pairs of (U_i + 1)(U_j + 1); default 2·10⁸, about
    5–10 s on one core) is refused before any alignment, with the step-level call in the message: one
    group of 1,024 × 300 tokens needs about 2.4·10¹⁰ cells at token level and 1.6·10⁶ with
    ``step_tokens=64``.

    Args:
        batch: responses ``(B, T)``, rewards ``(B,)``, groups ``(B,)``.
        norm_by_std: GRPO's division by σ_g + ε.
        epsilon: ε.
        step_ends, delimiter, step_tokens: at most one; align over steps instead of tokens
            (see :mod:`treecredit.steps`).
        max_alignment_cells: the largest alignment work accepted (raise it to wait longer).
    Returns:
        ``(B, T)`` float32, zero on masked tokens.
    """
    check_positive(epsilon, "epsilon", allow_zero=True)
    check_positive(max_alignment_cells, "max_alignment_cells")
    base = grpo_response_advantages(batch.rewards, batch.group_index, batch.n_groups,
                                    norm_by_std=norm_by_std, epsilon=epsilon)
    ends = resolve_step_ends(batch, step_ends=step_ends, delimiter=delimiter, step_tokens=step_tokens,
                             required=False)
    units, n_units = _units(batch, ends)
    side = centered(batch.rewards, batch.group_index, batch.n_groups)
    hi, lo = opposite_pairs(side, batch.group_index, batch.n_groups)
    _check_alignment_size(n_units, hi, lo, max_alignment_cells, token_level=ends is None)
    share = unmatched_share(units, n_units, hi, lo)  # (B, U)
    return _spread_weights(batch, ends, share, base)


def _check_alignment_size(n_units: np.ndarray, hi: np.ndarray, lo: np.ndarray, limit: float, *,
                          token_level: bool) -> None:
    cells = float(((n_units[hi] + 1).astype(np.float64) * (n_units[lo] + 1)).sum())
    if cells <= limit:
        return
    alternative = ("align over steps instead of tokens, e.g. step_tokens=64 or a delimiter (step-level credit; "
                   "about 4,000 times fewer cells for 64-token steps)" if token_level else
                   "use longer steps (a larger step_tokens or a coarser delimiter)")
    fail("max_alignment_cells", f"the LCS alignments of this batch need {cells:.3g} cells ({hi.size} opposite "
         f"pairs), above the limit of {limit:.3g}", f"{alternative}; or raise max_alignment_cells to wait longer")


def _units(batch: TokenBatch, ends: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
    """``(units (B, U) int64 padded with −1, n_units (B,))``: the tokens, or exact step-content ids."""
    B, T = batch.shape
    if ends is None:
        return np.where(np.arange(T)[None, :] < batch.lengths[:, None], batch.response_ids, -1), batch.lengths
    content, n_units = step_content_ids(batch.response_ids, ends, batch.lengths)
    units = np.full((B, int(n_units.max(initial=0))), -1, dtype=np.int64)
    rows = np.repeat(np.arange(B), n_units)
    cols = np.arange(rows.size) - np.repeat(np.cumsum(n_units) - n_units, n_units)
    units[rows, cols] = content
    return units, n_units


def _spread_weights(batch: TokenBatch, ends: np.ndarray | None, share: np.ndarray, base: np.ndarray) -> np.ndarray:
    """A_{i,t} = A^grpo_i · w_{i,t}: unit shares onto tokens, rescaled to mean 1 over unmasked tokens."""
    B, T = batch.shape
    out = np.zeros((B, T), dtype=np.float32)
    for r0, r1 in row_chunks(B, T):
        mask = batch.response_mask[r0:r1]
        if ends is None:
            w = share[r0:r1].astype(np.float32)
        else:
            e = ends[r0:r1]
            unit = np.cumsum(e, axis=1, dtype=np.int32) - e
            np.minimum(unit, max(share.shape[1] - 1, 0), out=unit)
            w = np.take_along_axis(share[r0:r1].astype(np.float32), unit, 1) if share.shape[1] else \
                np.zeros((r1 - r0, T), np.float32)
        w *= mask  # masked tokens (tool output, padding) weigh nothing and get 0
        mean_w = w.sum(1, dtype=np.float64) / np.maximum(mask.sum(1), 1)
        scale = np.where(mean_w > 0, base[r0:r1] / np.where(mean_w > 0, mean_w, 1.0), 0.0)
        w *= scale.astype(np.float32)[:, None]
        no_signal = mean_w == 0  # matched everywhere by every partner: plain GRPO
        w[no_signal] = mask[no_signal] * base[r0:r1][no_signal].astype(np.float32)[:, None]
        out[r0:r1] = w
    return out
