"""The public entry points: by estimator name, from user arrays (NumPy or torch) to advantages.

These functions only validate, convert and dispatch; the math lives in the registered estimators.
NumPy in gives NumPy out; torch in gives torch out, float32, on the device of ``response_ids``
(the computation itself runs in NumPy on the CPU).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from treecredit.batch import make_token_batch
from treecredit.registry import available_from_options, get_estimator


def _is_torch(value: Any) -> bool:
    return type(value).__module__.startswith("torch") and hasattr(value, "detach")


def _options_to_numpy(options: dict) -> dict:
    return {k: (v.detach().cpu().numpy() if _is_torch(v) else v) for k, v in options.items()}


def _like(result: np.ndarray, reference: Any):
    if _is_torch(reference):
        import torch

        return torch.from_numpy(np.ascontiguousarray(result, dtype=np.float32)).to(reference.device)
    return np.asarray(result, dtype=np.float32)


def compute_advantages(estimator: str, *, response_ids, response_mask, rewards, group_ids, **options):
    """Per-token advantages for a batch of grouped responses, by estimator name.

    Args:
        estimator: a registered token-level name (see :func:`treecredit.estimators`).
        response_ids: ``(B, T)`` non-negative integer token ids, right-padded.
        response_mask: ``(B, T)`` 0/1 (or bool); 0 on padding and on tool/observation tokens, which stay
            part of the prefix but get advantage 0.
        rewards: ``(B,)`` finite terminal rewards.
        group_ids: ``(B,)`` ids (ints ≥ 0 or strings); equal ids form one group (one prompt).
        **options: estimator options (``norm_by_std``, ``epsilon``, ``step_ends``, ``delimiter``,
            ``step_tokens``, ``tau``, ``scale``, ``gamma``, ``kappa``, ``omega``, ...). An option the
            estimator does not take raises ``ValueError``.

    Returns:
        ``(B, T)`` float32 advantages, 0 on masked tokens; NumPy or torch like ``response_ids``.
    """
    spec = get_estimator(estimator, level="token")
    spec.check_options(options)
    spec.check_requirements(available_from_options(options))
    batch = make_token_batch(response_ids, response_mask, rewards, group_ids)
    if batch.shape[0] == 0:
        return _like(np.zeros(batch.shape, dtype=np.float32), response_ids)
    result = spec.fn(batch, **_options_to_numpy(options))
    return _like(result, response_ids)


def compute_turn_advantages(
    estimator: str, *, group_ids, episode_ids, turn_index, state_sigs, action_sigs, rewards, **options
):
    """One advantage per turn of multi-turn episodes, by estimator name (``rtmc``, ``gigpo``, baselines).

    Args:
        estimator: a registered turn-level name (see ``treecredit.estimators("turn")``).
        group_ids: ``(N,)`` the group (task instance) of each turn's episode.
        episode_ids: ``(N,)`` the episode each turn belongs to.
        turn_index: ``(N,)`` int, the position of the turn within its episode (0, 1, 2, ...).
        state_sigs: ``(N,)`` hashable state signatures (ints or strings); equal signatures in one group
            are one state, however it was reached.
        action_sigs: ``(N,)`` hashable action signatures.
        rewards: ``(N,)`` finite per-turn rewards (terminal-only tasks put the reward on the last turn).
        **options: estimator options (``gamma``, ``kappa``, ``omega``, ``norm_by_std``, ``epsilon``, ...).

    Returns:
        ``(N,)`` float32 advantages, NumPy or torch like ``rewards``.
    """
    from treecredit.turns import make_turn_batch

    spec = get_estimator(estimator, level="turn")
    spec.check_options(options)
    turns = make_turn_batch(group_ids, episode_ids, turn_index, state_sigs, action_sigs, rewards)
    if turns.n_turns == 0:
        return _like(np.zeros(0, dtype=np.float32), rewards)
    result = spec.fn(turns, **_options_to_numpy(options))
    return _like(result, rewards)
