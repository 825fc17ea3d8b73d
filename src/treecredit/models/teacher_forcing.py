"""Teacher-forced response log-probabilities for the update, in the row or the packed layout.

Both adapters (:class:`~treecredit.models.GPTPolicy`, :class:`~treecredit.models.HFPolicy`) implement
``token_logprobs`` through :func:`teacher_forced_logprobs`, giving it one function ``run(ids (K, S),
positions (K, S), attend (K, S, S) bool, logits_at (K, U) long) -> logits (K, U, V)`` that runs the model
under an explicit attention mask and computes the head only at the ``logits_at`` columns. The row layout
is one left-padded row per response (a causal mask over real tokens); the packed layout is one trie per
group (:mod:`treecredit.models.packing`). Either way logits are computed only at the positions that
predict a response token.

Which distribution: with ``temperature`` τ and ``top_p`` p, log-probabilities are those of the
distribution the samplers draw from, softmax(z/τ) restricted to the top-p nucleus and renormalised
(:func:`~treecredit.models.packing.tempered_logprobs`; equal to the generation backends'
``Segment.logprobs`` and ``score``, a test checks it). TRL's and verl's actors divide the logits by τ the
same way but ignore top-p; here the nucleus is applied too, so that the numbers match the backends' (at
p = 1 the two agree). The default τ = 1, p = 1 gives π itself, the distribution of
``RolloutBatch.old_logprobs`` (the samplers store π at temperature 1 there and put the behaviour
correction into replay weights), so the trainer's PPO ratio π_θ/π_old calls it with the defaults: a
ratio must compare log-probabilities of one distribution, and this one is exactly 1 before the first
update at any sampling τ and p. The entropy is that of softmax(z/τ) over the full vocabulary, as in TRL
and verl.
"""

from __future__ import annotations

from abc import ABC, abstractmethod

from treecredit.models.packing import check_layout, gather_logprobs, packed_inputs


def teacher_forced_logprobs(run, prompts: list[list[int]], response_ids, pad_id: int, *, with_entropy: bool = True,
                            temperature: float = 1.0, top_p: float = 1.0, layout: str = "rows", groups=None,
                            response_mask=None):
    """``(logprobs (B, T), entropy (B, T) or None)`` of ``response_ids (B, T)`` after ``prompts``, with gradients.

    Args:
        run: the model call described in the module docstring.
        prompts: B lists of prompt ids (non-empty).
        response_ids: ``(B, T)`` long, right-padded.
        with_entropy: also return the entropy (another pass over the distribution).
        temperature, top_p: the sampling distribution (τ = 0, greedy, counts as τ = 1).
        layout: ``"rows"`` or ``"packed"``; equal results up to float rounding.
        groups: ``(B,)`` pack keys for ``"packed"`` (rows that share a prompt; default: equal prompts).
        response_mask: ``(B, T)``; for ``"packed"``, tokens after a row's last True are not computed and get
            log-prob and entropy 0 (the row layout computes every column).

    Raises:
        ValueError: an unknown ``layout``, an empty prompt.
    """
    import torch

    check_layout(layout)
    B, T = response_ids.shape
    if layout == "packed":
        packed = packed_inputs(prompts, response_ids, pad_id, groups=groups, response_mask=response_mask)
        logits = run(packed.ids, packed.positions, packed.attend, packed.logits_at)
        source = packed.source
    else:
        from treecredit.sampling.policy import teacher_forcing_inputs

        ids, valid, positions, width = teacher_forcing_inputs(prompts, response_ids, pad_id)
        L = ids.shape[1]
        causal = torch.ones((L, L), dtype=torch.bool).tril()
        attend = (causal[None] & valid[:, None, :]) | torch.eye(L, dtype=torch.bool)[None]  # (B,L,L)
        logits_at = torch.arange(width - 1, width - 1 + T).expand(B, T)
        logits = run(ids, positions, attend, logits_at)
        source = torch.arange(B * T).view(B, T)
    return gather_logprobs(logits.reshape(-1, logits.shape[-1]), source, response_ids, temperature=temperature,
                           top_p=top_p, with_entropy=with_entropy)


class TeacherForcing(ABC):
    """Mixin of the policy adapters: ``token_logprobs`` from the adapter's ``pad_id`` and its model call
    ``_logits(ids, positions, attend, logits_at)`` (the ``run`` of :func:`teacher_forced_logprobs`)."""

    pad_id: int

    @abstractmethod
    def _logits(self, ids, positions, attend, logits_at):
        """Each adapter's own model call: logits at ``logits_at`` under the attention pattern ``attend``."""

    def token_logprobs(self, prompts: list[list[int]], response_ids, with_entropy: bool = True, *,
                       temperature: float = 1.0, top_p: float = 1.0, layout: str = "rows", groups=None,
                       response_mask=None):
        """``(logprobs (B, T), entropy (B, T) or None)`` with gradients; see :func:`teacher_forced_logprobs`."""
        return teacher_forced_logprobs(self._logits, prompts, response_ids, self.pad_id, with_entropy=with_entropy,
                                       temperature=temperature, top_p=top_p, layout=layout, groups=groups,
                                       response_mask=response_mask)
