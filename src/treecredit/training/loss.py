"""The token-level PPO-clip / GRPO objective for (B, T) advantages from any registered estimator.

Per response token t of row i (mask m_it = 1 on trained tokens), with r = π_θ(y_t)/π_old(y_t):

    ℓ_it = −min(r·A_it, clip(r, 1 − ε_low, 1 + ε_high)·A_it)              (PPO clip; asymmetric allowed)
         + β·KL_it,   KL_it = exp(q − p) − (q − p) − 1, p = log π_θ, q = log π_ref   (Schulman's k3, ≥ 0)
         − c_H·H_it   (entropy bonus, H_it the entropy of π_θ at that position)

Aggregation over the batch (``aggregation``):

- ``"token_mean"``: Σ m·ℓ / Σ m (DAPO's token-level mean);
- ``"seq_mean"``: (1/B') Σ_i (Σ_t m_it·ℓ_it / Σ_t m_it) over the B' rows with any trained token (GRPO's
  per-sequence mean);
- ``"constant"``: Σ m·ℓ / (B·L_max), with L_max a fixed length (Dr. GRPO's constant normaliser: no length
  bias). An empty batch gives loss 0 in every mode.
"""

from __future__ import annotations

from treecredit._validation import check_choice, fail

AGGREGATIONS = ("token_mean", "seq_mean", "constant")


def ppo_loss(logprobs, old_logprobs, advantages, mask, *, clip_low: float = 0.2, clip_high: float = 0.2,
             aggregation: str = "token_mean", max_length: int | None = None, ref_logprobs=None,
             kl_coef: float = 0.0, entropy=None, entropy_coef: float = 0.0):
    """Return ``(loss, stats)``; all tensors are ``(B, T)``, ``mask`` bool, ``stats`` a dict of floats.

    ``max_length`` is L_max for ``aggregation="constant"`` (default: T). ``ref_logprobs`` is needed
    only when ``kl_coef > 0``, ``entropy`` only when ``entropy_coef != 0``.
    """
    import torch

    check_choice(aggregation, AGGREGATIONS, "aggregation")
    if kl_coef > 0 and ref_logprobs is None:
        fail("ref_logprobs", "is None but kl_coef > 0", "pass the reference policy's log-probs or set kl_coef=0")
    m = mask.float()
    ratio = torch.exp(logprobs - old_logprobs)
    unclipped = ratio * advantages
    clipped = ratio.clamp(1 - clip_low, 1 + clip_high) * advantages
    per_token = -torch.minimum(unclipped, clipped)
    stats = {}
    if kl_coef > 0:
        diff = ref_logprobs - logprobs
        kl = torch.exp(diff) - diff - 1
        per_token = per_token + kl_coef * kl
        stats["kl"] = float((kl * m).sum() / m.sum().clamp(min=1))
    if entropy is not None:
        stats["entropy"] = float((entropy.detach() * m).sum() / m.sum().clamp(min=1))
        if entropy_coef:
            per_token = per_token - entropy_coef * entropy
    loss = aggregate(per_token, m, aggregation, max_length)
    with torch.no_grad():
        stats["clip_frac"] = float(((unclipped != clipped).float() * m).sum() / m.sum().clamp(min=1))
        stats["ratio_mean"] = float((ratio * m).sum() / m.sum().clamp(min=1))
    return loss, stats


def aggregate(per_token, m, aggregation: str, max_length: int | None = None):
    """Reduce ``per_token (B, T)`` under float mask ``m`` as described in the module docstring."""
    if aggregation == "token_mean":
        return (per_token * m).sum() / m.sum().clamp(min=1)
    if aggregation == "seq_mean":
        lengths = m.sum(1)
        has = lengths > 0
        if not bool(has.any()):
            return (per_token * m).sum()  # exactly 0, still attached to the graph
        return ((per_token * m).sum(1)[has] / lengths[has]).mean()
    length = max_length if max_length is not None else per_token.shape[1]
    return (per_token * m).sum() / max(1, per_token.shape[0] * length)
