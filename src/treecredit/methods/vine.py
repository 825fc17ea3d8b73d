"""VinePPO: each step's advantage is the Monte Carlo value after it minus the value before it."""

from __future__ import annotations

from typing import Any

import numpy as np

from treecredit._validation import check_finite, check_ndim, check_shape, fail, to_numpy
from treecredit.batch import TokenBatch
from treecredit.groups import group_mean
from treecredit.registry import register_estimator
from treecredit.steps import resolve_step_ends
from treecredit.trees.forest import spread_segments
from treecredit.trees.values import zero_masked_tokens


@register_estimator("vine", requires=("steps", "mc_values"))
def vine(batch: TokenBatch, *, mc_values: Any = None, prompt_values: Any = None, step_ends: Any = None,
         delimiter: Any = None, step_tokens: Any = None) -> np.ndarray:
    """VinePPO: A_t = V̂(s_{k+1}) − V̂(s_k) on every token of step k (no discount, reward only at the end).

    V̂(s_k) = Monte Carlo value of the prefix before step k: ``mc_values[i, e]`` at the end e of step k−1,
    ``prompt_values[i]`` (default: the group's mean reward) before the first step, and the reward r_i after
    the last step. Summed over a response's steps the advantages telescope to r_i − V̂(prompt).

    Special cases: a response of one step gets r_i − V̂(prompt) (with the default prompt value:
    ``dr_grpo``); a group of one gets 0 on a one-step response.
    Paper: VinePPO, arXiv 2410.01679 (K = 9 fresh rollouts per step boundary).
    Our choices: the values come from outside (the tree sampler's extra rollouts); the prompt value
    defaults to the group mean reward (a leave-in estimate) when the sampler gives none.

    Args:
        batch: responses ``(B, T)``, rewards ``(B,)``, groups ``(B,)``.
        mc_values: ``(B, T)`` float, V̂ of the prefix ending with token t; read only at step ends
            (not at the last one). Required.
        prompt_values: ``(B,)`` float, V̂ of each response's prompt; default the group mean reward.
        step_ends, delimiter, step_tokens: the step boundaries (one of them, required).
    Returns:
        ``(B, T)`` float32, zero on masked tokens.
    """
    B, T = batch.shape
    if mc_values is None:
        fail("mc_values", "is required by 'vine'",
             "pass mc_values=(B, T) Monte Carlo values of each prefix at the step ends (the tree sampler "
             "produces them), together with a step option")
    values = to_numpy(mc_values, "mc_values")
    check_shape(values, (B, T), "mc_values", "(B, T) like response_ids")
    ends = resolve_step_ends(batch, step_ends=step_ends, delimiter=delimiter, step_tokens=step_tokens)
    assert ends is not None  # required=True: resolve_step_ends raises instead of returning None
    if prompt_values is None:
        start_value = group_mean(batch.rewards, batch.group_index, batch.n_groups)[batch.group_index]
    else:
        start_value = to_numpy(prompt_values, "prompt_values")
        check_ndim(start_value, 1, "prompt_values", "(B,)")
        check_shape(start_value, (B,), "prompt_values", "response (B)")
        check_finite(start_value, "prompt_values")
        _check_magnitude(start_value, "prompt_values", np.arange(B))
        start_value = start_value.astype(np.float64)
    row, end_tok = np.nonzero(ends)
    if row.size == 0:  # every response is empty
        return np.zeros((B, T), dtype=np.float32)
    last = np.append(row[1:] != row[:-1], True)
    read = values[row[~last], end_tok[~last]]
    _check_read(read, row[~last], end_tok[~last])
    after = np.empty(row.size)
    after[~last] = read
    after[last] = batch.rewards[row[last]]
    first = np.append(True, row[1:] != row[:-1])
    before = np.where(first, start_value[row], np.append(0.0, after[:-1]))
    seg_start = np.where(first, 0, np.append(0, end_tok[:-1] + 1))
    out = spread_segments((B, T), row, seg_start, end_tok + 1, after - before)
    return zero_masked_tokens(out, batch)


def _check_read(read: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> None:
    """Refuse non-numeric, complex, NaN, infinite or huge ``mc_values`` at the step ends that are read, naming
    their (row, column) in the ``(B, T)`` array."""
    check_finite(read[:0], "mc_values")  # dtype checks only
    bad = np.flatnonzero(~np.isfinite(read))
    if bad.size:
        where = [(int(rows[k]), int(cols[k])) for k in bad[:5]]
        fail("mc_values", f"is NaN or infinite at step ends (row, column) {where}",
             "replace non-finite mc_values at the step ends (only those are read) before computing advantages")
    _check_magnitude(read, "mc_values", np.stack([rows, cols], axis=1))


def _check_magnitude(values: np.ndarray, argument: str, where: np.ndarray) -> None:
    """Refuse values beyond ±``REWARD_LIMIT`` (float32 advantages would overflow), naming the first position."""
    from treecredit.api import REWARD_LIMIT

    if values.size and float(np.abs(values).max()) > REWARD_LIMIT:
        k = int(np.argmax(np.abs(values)))
        at = tuple(int(v) for v in where[k]) if where.ndim > 1 else int(where[k])
        fail(argument, f"reaches {float(values[k]):.3g} at {'(row, column) ' if where.ndim > 1 else 'row '}{at}, "
             f"beyond the {REWARD_LIMIT:.0e} that float32 advantages can be computed from",
             f"rescale {argument} together with the rewards (the same units)")
