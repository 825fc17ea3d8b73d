"""The policy interface every sampler and the trainer use, whatever model sits behind it.

A policy decodes incrementally with a KV cache:

- ``prefill(prompts)`` runs a batch of prompts (lists of ids, any lengths; left-padded inside) and
  returns the next-token logits ``(B, V)`` and a :class:`DecodeState`;
- ``step(state, tokens)`` appends one token per row and returns the next logits and the new state;
- ``select(state, rows)`` returns the state of the given rows, in that order (rows may repeat), so a
  sampler can branch a prefix into several continuations without recomputing it. States are never
  modified in place: a selected state and its source stay valid together.

For the loss, ``token_logprobs(prompts, response_ids, with_entropy)`` recomputes, with gradients, log π(token) and the
entropy of π at every response position under teacher forcing.

Two adapters implement it: :class:`treecredit.models.GPTPolicy` (the small GPT with the character
tokenizer) and :class:`treecredit.models.HFPolicy` (any ``transformers`` causal LM).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable


@dataclass(frozen=True)
class DecodeState:
    """Where incremental decoding stands for B rows.

    Attributes:
        cache: the adapter's KV cache (per-layer key/value tensors with batch first).
        key_valid: ``(B, L)`` bool, True on cached positions that hold real tokens (False on left padding).
        next_pos: ``(B,)`` long, the position id the next token of each row gets.
    """

    cache: Any
    key_valid: Any
    next_pos: Any

    @property
    def batch_size(self) -> int:
        return int(self.key_valid.shape[0])


@runtime_checkable
class Policy(Protocol):
    """What a sampler and the trainer need from a model and its tokenizer."""

    pad_id: int
    eos_id: int
    vocab_size: int

    @property
    def module(self):
        """The trainable ``torch.nn.Module``."""

    def encode_prompt(self, text: str) -> list[int]:
        """Ids of a prompt, with whatever the model needs in front (bos, chat template)."""

    def encode(self, text: str) -> list[int]:
        """Ids of response text, no specials."""

    def decode(self, ids) -> str:
        """Text of response ids, stopping at eos."""

    def prefill(self, prompts: list[list[int]]):
        """``(logits (B, V), DecodeState)`` after the prompts."""

    def step(self, state: DecodeState, tokens):
        """``(logits (B, V), DecodeState)`` after appending ``tokens (B,)``."""

    def select(self, state: DecodeState, rows) -> DecodeState:
        """The state of ``rows (K,)`` (long), in that order."""

    def token_logprobs(self, prompts: list[list[int]], response_ids, with_entropy: bool = True, *,
                       temperature: float = 1.0, top_p: float = 1.0, layout: str = "rows", groups=None,
                       response_mask=None):
        """``(logprobs (B, T), entropy (B, T) or None)`` of ``response_ids`` after ``prompts``, with gradients,
        under the distribution softmax(z/τ) within the top-p nucleus, in the row or packed layout (see
        :func:`treecredit.models.teacher_forcing.teacher_forced_logprobs`)."""


def left_pad(prompts: list[list[int]], pad_id: int):
    """Left-pad id lists into ``(ids (B, P) long, valid (B, P) bool, positions (B, P) long)``.

    Position ids count real tokens only (0 at each row's first real token; clamped to 0 on padding).
    """
    import torch

    width = max(len(p) for p in prompts)
    ids = torch.full((len(prompts), width), pad_id, dtype=torch.long)
    valid = torch.zeros((len(prompts), width), dtype=torch.bool)
    for row, prompt in enumerate(prompts):
        if prompt:
            ids[row, width - len(prompt):] = torch.as_tensor(prompt, dtype=torch.long)
            valid[row, width - len(prompt):] = True
    positions = (valid.long().cumsum(1) - 1).clamp(min=0)
    return ids, valid, positions


def teacher_forcing_inputs(prompts: list[list[int]], response_ids, pad_id: int):
    """Inputs for one full forward pass over prompt + response.

    Returns ``(ids (B, P+T), valid (B, P+T), positions (B, P+T), P)``; the logits predicting response
    token t sit at column ``P − 1 + t``.
    """
    import torch

    p_ids, p_valid, _ = left_pad(prompts, pad_id)
    ids = torch.cat([p_ids, response_ids.long()], dim=1)
    valid = torch.cat([p_valid, torch.ones_like(response_ids, dtype=torch.bool)], dim=1)
    positions = (valid.long().cumsum(1) - 1).clamp(min=0)
    return ids, valid, positions, p_ids.shape[1]
