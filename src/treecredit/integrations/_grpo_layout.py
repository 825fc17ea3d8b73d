"""TRL's GRPO batch layout → treecredit's arguments: the conversion the TRL trainer delegates to.

Kept apart from :mod:`treecredit.integrations.trl` so that it is testable with torch alone. TRL lays a
generation batch out as consecutive groups: rows ``g·G, ..., g·G + G - 1`` are the ``G =
num_generations`` completions of prompt ``g`` (that is how TRL's own baseline reshapes its rewards).
"""

from __future__ import annotations

from treecredit._validation import fail
from treecredit.api import compute_advantages


def completion_rewards(rewards_per_func, reward_weights):
    """``(N, F)`` rewards of F reward functions → ``(N,)`` weighted sums, NaN where all F are NaN.

    r_i = Σ_f w_f · r_{i,f}, NaN terms skipped (TRL's "sum_then_normalize" reward, before it normalises);
    a completion that no reward function could score (every r_{i,f} NaN) keeps NaN.
    """
    import torch

    weights = reward_weights.to(device=rewards_per_func.device, dtype=rewards_per_func.dtype)
    rewards = (rewards_per_func * weights.unsqueeze(0)).nansum(dim=1)  # (N, F) -> (N,)
    unscorable = torch.isnan(rewards_per_func).all(dim=1)
    return torch.where(unscorable, torch.full_like(rewards, float("nan")), rewards)


def grouped_completion_advantages(estimator: str, *, completion_ids, completion_mask, rewards, num_generations: int,
                                  **options):
    """Per-token advantages ``(N, T)`` for completions grouped in consecutive blocks of ``num_generations``.

    Args:
        estimator: a token-level treecredit name.
        completion_ids: ``(N, T)`` int tensor, right-padded completions.
        completion_mask: ``(N, T)`` 0/1 tensor; 0 on padding and on tool-output tokens.
        rewards: ``(N,)`` float tensor, one reward per completion; NaN marks a completion no reward
            function could score: it is left out of its group and gets advantage 0 (as in TRL).
        num_generations: ``G``, the group size; ``N`` must be a multiple of it.
        **options: options of ``estimator``.

    Returns:
        ``(N, T)`` float32 advantages on the device of ``completion_ids``, 0 on masked tokens.
    """
    import torch

    n_rows = completion_ids.shape[0]
    if num_generations < 1 or n_rows % num_generations:
        fail("num_generations", f"{num_generations} does not divide the {n_rows} completions into groups",
             "use TRL's sampler, which repeats every prompt num_generations times in a row")
    group_ids = torch.arange(n_rows, device=completion_ids.device) // num_generations  # (N,)
    scorable = ~torch.isnan(rewards)
    advantages = torch.zeros(completion_ids.shape, dtype=torch.float32, device=completion_ids.device)
    if scorable.any():
        advantages[scorable] = compute_advantages(
            estimator,
            response_ids=completion_ids[scorable],
            response_mask=completion_mask[scorable],
            rewards=rewards[scorable],
            group_ids=group_ids[scorable],
            **options,
        ).to(completion_ids.device)
    return advantages
