"""Spreading per-turn advantages onto the tokens of each turn, for a trainer with ``(B, T)`` token rows."""

from __future__ import annotations

from typing import Any

import numpy as np

from treecredit._validation import check_finite, check_integer, check_ndim, fail, to_numpy


def spread_turn_advantages(turn_advantages: Any, *, token_turn_ids: Any):
    """Token advantages from turn advantages: every token of turn n gets the advantage of turn n.

    A_{b,t} = turn_advantages[token_turn_ids[b, t]]   where token_turn_ids[b, t] ≥ 0, else 0.

    A multi-turn trainer packs an episode (or several) into token rows; ``token_turn_ids`` says, for each
    token, which turn row (the index into the arrays given to ``compute_turn_advantages``) generated it,
    and −1 on observation/tool tokens, prompt tokens and padding, which get advantage 0.

    Args:
        turn_advantages: ``(N,)`` per-turn advantages (NumPy or torch), as returned by
            :func:`treecredit.compute_turn_advantages`.
        token_turn_ids: ``(B, T)`` int in ``[−1, N)`` (any shape works; the output has the same shape).

    Returns:
        float32 advantages shaped like ``token_turn_ids``; torch on ``turn_advantages``' device when
        ``turn_advantages`` is a torch tensor, else NumPy.
    """
    adv = to_numpy(turn_advantages, "turn_advantages")
    check_ndim(adv, 1, "turn_advantages", "(N,)")
    check_finite(adv, "turn_advantages")
    ids = to_numpy(token_turn_ids, "token_turn_ids")
    check_integer(ids, "token_turn_ids")
    n_turns = adv.shape[0]
    if ids.size and (ids.min() < -1 or ids.max() >= n_turns):
        fail("token_turn_ids", f"has values in [{ids.min()}, {ids.max()}], outside [-1, {n_turns})",
             "use the turn's row in turn_advantages for action tokens and -1 for observation/padding tokens")
    table = np.zeros(n_turns + 1, dtype=np.float32)
    table[:n_turns] = adv
    out = table[ids.astype(np.int64)]  # −1 reads the trailing zero
    if type(turn_advantages).__module__.startswith("torch"):
        import torch

        return torch.from_numpy(np.ascontiguousarray(out)).to(turn_advantages.device)
    return out
