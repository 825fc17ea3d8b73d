"""``RolloutBatch``: what every sampler returns and the trainer consumes.

It carries exactly the arguments of :func:`treecredit.compute_advantages` (its layout, right padding, included)
plus what the loss and the metrics need, so an estimator is always called as
``compute_advantages(name, **rollout.estimator_inputs(), **options)``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class RolloutBatch:
    """B sampled responses (rows), grouped by prompt, right-padded to T tokens.

    Attributes:
        response_ids: ``(B, T)`` long; padding holds the policy's pad id.
        response_mask: ``(B, T)`` bool, True on generated tokens (the stop token included).
        rewards: ``(B,)`` float32 terminal rewards from the task's final verifier.
        group_ids: ``(B,)`` long; rows with one id answer the same prompt.
        old_logprobs: ``(B, T)`` float32, log π_old(token) at temperature 1 under the sampling policy
            (0 on padding), for the PPO ratio.
        prompt_ids: B lists of prompt ids (one per row, repeated within a group).
        prompt_texts: B prompt texts; response_texts: B decoded responses.
        problem_index: ``(B,)`` long, index of each row's problem in the list given to the sampler.
        step_ends: ``(B, T)`` bool, True on the token that closes each step (the task's delimiter or end
            marker, wherever the tokenizer put it), or None.
        tree_nodes: ``(B, T)`` long sampled-tree node ids (-1 on padding), from a tree sampler, or None.
        mc_values: ``(B, T)`` float32 Monte Carlo prefix values (for ``vine``), or None.
        generated_tokens: tokens the sampler actually generated (a tree sampler shares prefixes, so this
            can be below ``response_mask.sum()``), ``wasted_tokens`` included.
        wasted_tokens: of ``generated_tokens``, those decoded and then discarded (a speculative tree schedule's
            cancelled or unused children, :mod:`~treecredit.sampling.speculate`); 0 for every other sampler.
            :attr:`kept_tokens` is the rest, what a run's token budget counts, so that a budget does not depend
            on the schedule that grew the same trees. The one record of the waste: the run logs it as
            ``tree_speculative_wasted_tokens`` (:func:`~treecredit.sampling.branch_stats.sampler_metrics`).
        row_weights: ``(B,)`` float32 per-row weights that multiply the row's advantages (replayed
            subtrees' truncated importance weights; 1.0 on fresh rows), or None (all 1). Applied in one
            place only, :func:`weighted_advantages`.
        extras: metrics only: nothing in ``extras`` may change an advantage or a loss.
    """

    response_ids: Any
    response_mask: Any
    rewards: Any
    group_ids: Any
    old_logprobs: Any
    prompt_ids: list
    prompt_texts: list
    response_texts: list
    problem_index: Any
    step_ends: Any = None
    tree_nodes: Any = None
    mc_values: Any = None
    generated_tokens: int = 0
    wasted_tokens: int = 0
    row_weights: Any = None
    extras: dict = field(default_factory=dict)

    @property
    def kept_tokens(self) -> int:
        """``generated_tokens`` less ``wasted_tokens``: the tokens of the rows (each shared segment once) and of
        Monte Carlo value rollouts, the same for every schedule that grows the same trees."""
        return self.generated_tokens - self.wasted_tokens

    @property
    def shape(self) -> tuple[int, int]:
        return tuple(self.response_ids.shape)  # type: ignore[return-value]

    def estimator_inputs(self) -> dict:
        """The four required keyword arguments of ``compute_advantages``, and ``padding_side="right"``: a rollout is
        right-padded by construction, so its layout is said, not guessed from its ids and mask (a right-padded batch
        whose rows begin with a masked repeated id and fill the width reads as left-padded and would be refused)."""
        return {"response_ids": self.response_ids, "response_mask": self.response_mask,
                "rewards": self.rewards, "group_ids": self.group_ids, "padding_side": "right"}

    def available_options(self) -> dict:
        """Per-rollout estimator options this batch can supply (``step_ends``, ``tree_nodes``, ``mc_values``)."""
        found = {"step_ends": self.step_ends, "tree_nodes": self.tree_nodes, "mc_values": self.mc_values}
        return {name: value for name, value in found.items() if value is not None}


def weighted_advantages(advantages, rollout: RolloutBatch):
    """``advantages (B, T)`` times ``rollout.row_weights[:, None]`` (unchanged when there are none).

    The one place where per-row weights enter training; NumPy or torch in, the same type out.
    """
    if rollout.row_weights is None:
        return advantages
    import numpy as np

    weights = rollout.row_weights
    if isinstance(advantages, np.ndarray):
        weights = np.asarray(weights.numpy() if hasattr(weights, "numpy") else weights, dtype=np.float32)
        return advantages * weights[:, None]
    return advantages * weights.to(advantages.dtype)[:, None]


def step_end_mask(policy, response_ids, lengths, marks: tuple[str, ...], texts: list[str] | None = None):
    """``(B, T)`` bool: True on the token whose text completes an occurrence of one of ``marks``.

    The samplers' call of :func:`treecredit.step_ends_from_text` (incremental decoding, right for any
    tokenizer) on rows of the given ``lengths (B,)``; empty marks are skipped (an empty end marker means
    "the model's eos"). ``texts``: the rows' response texts as the samplers made them for the rewards
    (``policy.decode`` of the row, the task's end marker added to a row that ends on ``policy.eos_id``):
    a row not ending on eos is not decoded again, where ``policy.decode`` is the decode the step ends use.
    """
    import torch

    from treecredit.step_text import _decoder, step_ends_from_text

    B, T = response_ids.shape
    marks = tuple(mark for mark in marks if mark)
    if not marks or B == 0:
        return torch.zeros((B, T), dtype=torch.bool)
    mask = torch.arange(T)[None, :] < torch.as_tensor(lengths).reshape(B, 1)  # (B,T)
    known = None
    if texts is not None and len(texts) == B and _decoder(policy)[0] == getattr(policy, "decode", None):
        eos, ends = getattr(policy, "eos_id", None), torch.as_tensor(lengths).reshape(B).tolist()
        last = response_ids.gather(1, (torch.as_tensor(ends).clamp(min=1) - 1).reshape(B, 1)).reshape(B).tolist()
        # a row ending on eos may have had the end marker added to its text: decoded again
        known = [None if n and token == eos else text for text, n, token in zip(texts, ends, last)]
    return torch.as_tensor(step_ends_from_text(response_ids, policy, list(marks), mask, padding_side="right",
                                               known_texts=known), dtype=torch.bool)
