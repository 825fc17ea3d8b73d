"""The generation-backend contract: samplers ask for *segments*, a backend generates them.

Every sampler (i.i.d., every tree branching strategy, early cutoff, replay, vine's Monte Carlo values)
talks to the model only through :class:`GenerationBackend.generate`, one batched call per round across
all prompts of the batch:

    requests: [SegmentRequest(prefix ids, n continuations, stop ids / strings, max tokens), ...]
    → for each request, n :class:`Segment` (tokens, log-probabilities, entropies, why it stopped)

So a round of a tree costs one call, whatever the number of prompts, and the same sampler code runs on
the built-in KV-cache decoder (small GPT, ``transformers``) and on vLLM. A backend is free to compute a
shared prefix once (the built-in one keeps the KV cache of every prefix it was asked to keep, vLLM uses
automatic prefix caching).

Log-probabilities are those of the distribution actually sampled from: π(·)^(1/τ) renormalised and
restricted to the top-p nucleus (vLLM's "processed" log-probabilities). At τ = 0 (greedy) they are those
of π at temperature 1. Entropies, where the backend gives them, are of π at temperature 1 (nats) at the
position the token was drawn from; ``None`` where the backend cannot give them.

Refinements since the first version (all additive, defaults keep the old meaning):

- ``SegmentRequest.cache_key`` may name a kept state whose context *begins with* the prefix (not only
  equals it): the backend truncates the kept state to the prefix, so a later round forks in the middle
  of a kept segment without prefilling again.
- ``SegmentRequest.chain_keys``: per continuation, the 64-bit key of its chain of draws (see
  :mod:`treecredit.sampling.draws`); the built-in backend draws token t of continuation j with the
  uniform U(chain_keys[j], t), so a tree does not depend on how its rounds are scheduled.
- ``SamplingSettings.with_entropy``: False lets a backend skip entropies (the i.i.d. sampler needs none).
- ``Segment.base_logprobs``: log π(token) at temperature 1 where the backend gives it (the built-in one
  does); samplers put these in ``RolloutBatch.old_logprobs`` for the PPO ratio, and use ``logprobs``
  (the sampled distribution's) for every ratio between sampling distributions (replay weights).
- A backend may offer ``score(prefixes, continuations, settings) -> (B, T)`` log-probabilities of given
  continuations under the distribution sampled from (teacher forcing); subtree replay needs it.
- A backend may offer ``stream(requests, settings, on_end)``: continuous batching, where
  ``on_end([(request id, seq, segment)])`` receives the segments that ended at a decoding step and
  returns requests that join the running batch (the built-in one does,
  :mod:`treecredit.sampling.kv_stream`); the tree sampler then grows its trees in one stream instead of
  rounds (:mod:`treecredit.sampling.schedule`). Backends without it get rounds of ``generate`` calls.
  A ``stream`` that takes a ``max_rows`` keyword gets the most rows the caller expects at once (a hint);
  one that takes ``on_step`` and ``cancelled`` (forks from rows still decoding, dropped requests) serves
  the speculative schedule (:mod:`treecredit.sampling.speculate`).

Index names: ``_req`` indexes requests of one call, ``_seq`` the n continuations of one request.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Hashable, Protocol, Sequence, runtime_checkable

FINISH_REASONS = ("stop_id", "stop_string", "length")
"""Why a segment ended: it wrote a stop id (the id is its last token), it completed a stop string (the
token that completes the string is its last token), or it reached ``max_tokens``."""


@dataclass(frozen=True)
class SamplingSettings:
    """Decoding settings shared by every request of one call.

    Attributes:
        temperature: τ ≥ 0; 0 = greedy.
        top_p: nucleus mass in (0, 1].
        with_entropy: compute per-token entropies (False: ``Segment.entropies`` is None).
    """

    temperature: float = 1.0
    top_p: float = 1.0
    with_entropy: bool = True


@dataclass(frozen=True)
class SegmentRequest:
    """Ask for ``n`` continuations of one prefix.

    Attributes:
        prefix: prompt ids followed by the response ids generated so far (the whole context).
        response_start: index in ``prefix`` where the response begins (= prompt length); stop strings
            are matched on the text of ``prefix[response_start:] + continuation``, counting only
            occurrences that the continuation completes.
        n: continuations to draw (≥ 1), independently, from the same prefix.
        max_tokens: most tokens per continuation (≥ 1).
        stop_ids: ids that end a continuation (kept as its last token).
        stop_strings: texts that end a continuation at the token that completes one (kept).
        seed: per-request seed. The same seed and prefix give the same continuations; different seeds give
            independent ones (no continuation of one is bound to equal one of another); on one prefix,
            continuation i depends on (seed, i) only, so ``n=2`` draws the first two of ``n=3``. The
            built-in backend derives the request's chain keys from it when ``chain_keys`` is None (and,
            when ``seed`` is None too, draws a seed per request from the generator passed to ``generate``,
            in request order, so one generator seed fixes a whole call). The in-process vLLM backend gives
            continuation i a hash of (seed, i) as its own vLLM seed
            (:func:`~treecredit.sampling.vllm_backend.continuation_seeds`; there ``seed`` wins over
            ``chain_keys``); the vLLM server backend sends each seeded continuation as its own prompt with
            that seed, so it draws what the in-process one draws. Seeds fix
            draws per backend: the built-in and the vLLM backends draw different tokens for one seed.
        keep_key: when not None, ask the backend to keep the state after each continuation so that a
            later request whose ``cache_key`` equals ``(keep_key, seq)`` continues from it without
            recomputing the prefix. Backends without such state ignore it.
        cache_key: the key of a kept state whose context (its prefix + its segment) begins with
            ``prefix`` (or None); the backend truncates the kept state to ``prefix``.
        chain_keys: None, or ``n`` 64-bit keys, one per continuation: the chain of draws each continues
            (:mod:`treecredit.sampling.draws`). Backends that cannot honour them ignore them.
    """

    prefix: tuple[int, ...]
    response_start: int
    n: int = 1
    max_tokens: int = 48
    stop_ids: tuple[int, ...] = ()
    stop_strings: tuple[str, ...] = ()
    seed: int | None = None
    keep_key: Hashable | None = None
    cache_key: Hashable | None = None
    chain_keys: tuple[int, ...] | None = None


@dataclass
class Segment:
    """One continuation of a request.

    Attributes:
        tokens: generated ids (≥ 1 token).
        logprobs: per token, log-probability under the distribution sampled from (see module docstring).
        entropies: per token, entropy of π at temperature 1 (nats), or None.
        finish_reason: one of :data:`FINISH_REASONS`.
        uniforms: per token, the uniform draw u ∈ [0, 1) that picked it by inversion (built-in backend
            only; lets a test replay a path token for token), or None.
        base_logprobs: per token, log π(token) at temperature 1, or None where the backend cannot give it
            (then samplers use ``logprobs``, equal to it at τ = 1 and top-p = 1).
    """

    tokens: list[int]
    logprobs: list[float]
    entropies: list[float] | None = None
    finish_reason: str = "length"
    uniforms: list[float] | None = field(default=None, repr=False)
    base_logprobs: list[float] | None = field(default=None, repr=False)


@runtime_checkable
class GenerationBackend(Protocol):
    """What a sampler needs from whatever generates text."""

    pad_id: int
    eos_ids: tuple[int, ...]

    def generate(self, requests: Sequence[SegmentRequest], settings: SamplingSettings,
                 generator=None) -> list[list[Segment]]:
        """For each request, its ``n`` segments, in request order. One call = one batched round."""

    def release(self, keys: Sequence[Hashable] = ()) -> None:
        """Forget kept states (all of them when ``keys`` is empty)."""

    def decode(self, ids: Sequence[int]) -> str:
        """Text of response ids (for stop strings, rewards and display)."""
