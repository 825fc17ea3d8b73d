"""A :class:`~treecredit.sampling.backend.GenerationBackend` on a vLLM *server*, through TRL's ``VLLMClient``.

TRL's server mode (``trl vllm-serve``, which runs vLLM's OpenAI-compatible server with
``--logprobs-mode processed_logprobs --max-logprobs -1`` and automatic prefix caching) holds the engine in
another process. This backend sends segment requests there with TRL's own client
(``trl.generation.vllm_client.VLLMClient.generate``, i.e. ``POST /v1/completions`` with token-id prompts)
and gives back the same :class:`~treecredit.sampling.backend.Segment` as the in-process
:class:`~treecredit.sampling.vllm_backend.VLLMBackend`, whose logic it shares
(:func:`~treecredit.sampling.vllm_backend.plan_call`, :func:`~treecredit.sampling.vllm_backend.finish_segment`,
:func:`~treecredit.sampling.vllm_backend.topk_entropy`): processed log-probabilities (of the distribution
sampled from), stop ids (``stop_token_ids``, ``ignore_eos``), stop strings matched on the whole response
text, greedy continuations copied ``n`` times, top-k entropy lower bounds, and base log-probabilities
(π at temperature 1) from a teacher-forcing pass when τ ∉ {0, 1} or top-p < 1 (``get_sequence_logprobs``:
``prompt_logprobs``, which vLLM computes from the raw logits).

**HTTP calls per round.** ``/v1/completions`` applies one set of sampling parameters to every prompt of a
call (one ``n``, one ``max_tokens``, one stop list and one ``seed``; the i-th continuation of a prompt gets
``seed + i``, so two requests seeded s and s + 1 would share continuations). So a seeded continuation is
its own prompt with ``n = 1`` and its own seed (:func:`~treecredit.sampling.vllm_backend.continuation_seeds`,
the in-process backend's: the same seeds draw the same segments there and here), and a round's prompts are
grouped by ``(n, max_tokens, stop ids, stop strings, seed)``: each group is one call, and the calls of a
round are sent at once (a thread pool), so the server's scheduler batches them into the same engine steps.
A seeded round costs one call per continuation; an unseeded one, one call per distinct setting. The
re-scoring pass (when asked for) is one more call per round.

**Seeds.** As :func:`~treecredit.sampling.vllm_backend.continuation_seeds`: from a request's ``seed``
(hashed with the continuation's index); else from the sampler's ``chain_keys`` (the tree and i.i.d.
samplers give them), so that a tree does not depend on how the server batches; else from one seed drawn
from the ``generator`` passed to ``generate``; else none (the server's own randomness). vLLM seeds each
request's sampler on its own, so seeded segments do not depend on what else the server runs, up to the
float differences of batching (not seen in the tests here).

**Checked up front** (``/server_info``, which needs ``VLLM_SERVER_DEV_MODE=1``, as ``trl vllm-serve``
sets): the server's log-probabilities are the processed ones, and its ``max_logprobs`` allows
``entropy_top_k``.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any, Hashable, Sequence

from treecredit._validation import fail
from treecredit.sampling.backend import SamplingSettings, Segment, SegmentRequest
from treecredit.sampling.vllm_backend import (
    PROCESSED,
    CallPlan,
    continuation_seeds,
    copies_for_greedy,
    eos_ids_of,
    finish_segment,
    plan_call,
    topk_entropy,
)


class VLLMServerBackend:
    """Generate segments on a running vLLM server through TRL's ``VLLMClient``.

    Args:
        client: a ``trl.generation.vllm_client.VLLMClient``, or the server's base URL (a client is made,
            waiting up to ``connection_timeout`` seconds for ``/health``).
        tokenizer: the served model's tokenizer (stop strings, decoding, default eos and pad ids).
        pad_id, eos_ids: as for :class:`~treecredit.sampling.vllm_backend.VLLMBackend` (defaults from the
            tokenizer).
        entropy_top_k: k of the top-k entropy lower bound (≥ 1; at most the server's ``max_logprobs``).
        base_logprobs: re-score at temperature 1 when τ ∉ {0, 1} or top-p < 1 (False: skip it unless
            entropies are asked for; for hosts that recompute old log-probabilities, as TRL does).
        vocab_size: logits per position, for the entropy bound (default: the tokenizer's length; only a
            bound with every token known depends on it).
        max_concurrency: most HTTP calls in flight at once.
        connection_timeout: seconds to wait for the server when ``client`` is a URL.

    Raises:
        ValueError: ``entropy_top_k`` < 1 or above the server's ``max_logprobs``, a server whose
            log-probabilities are not the processed ones, or one that does not report its configuration.
    """

    def __init__(self, client: Any, tokenizer, *, pad_id: int | None = None, eos_ids: Sequence[int] | None = None,
                 entropy_top_k: int = 20, base_logprobs: bool = True, vocab_size: int | None = None,
                 max_concurrency: int = 64, connection_timeout: float = 0.0):
        if entropy_top_k < 1:
            fail("entropy_top_k", f"is {entropy_top_k}, must be ≥ 1", "pass entropy_top_k=20")
        if max_concurrency < 1:
            fail("max_concurrency", f"is {max_concurrency}, must be ≥ 1", "pass max_concurrency=64")
        if isinstance(client, str):
            from trl.generation.vllm_client import VLLMClient

            client = VLLMClient(base_url=client, connection_timeout=connection_timeout)
        config = _server_config(client)
        model_config = config["model_config"]
        if model_config.get("logprobs_mode") != PROCESSED:
            fail("client", f"the server returns {model_config.get('logprobs_mode')!r} log-probabilities, not those "
                 "of the distribution sampled from", f"start it with --logprobs-mode {PROCESSED} (trl vllm-serve does)")
        max_logprobs = model_config.get("max_logprobs", 20)
        if max_logprobs != -1 and entropy_top_k > max_logprobs:
            fail("entropy_top_k", f"is {entropy_top_k}, above the server's max_logprobs ({max_logprobs})",
                 f"pass entropy_top_k ≤ {max_logprobs}, or start the server with --max-logprobs -1")
        self.client = client
        self.prefix_caching = bool(config.get("cache_config", {}).get("enable_prefix_caching"))
        self.tokenizer = tokenizer
        self.entropy_top_k = int(entropy_top_k)
        self.base_logprobs = bool(base_logprobs)
        self.vocab_size = int(vocab_size) if vocab_size is not None else len(tokenizer)
        self.max_concurrency = int(max_concurrency)
        self.eos_ids = tuple(eos_ids) if eos_ids is not None else eos_ids_of(tokenizer)
        if pad_id is None:
            pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else self.eos_ids[0]
        self.pad_id = int(pad_id)
        self.http_calls = 0  # POSTs sent so far (generation and re-scoring)

    def generate(self, requests: Sequence[SegmentRequest], settings: SamplingSettings,
                 generator=None) -> list[list[Segment]]:
        """For each request, its ``n`` segments, in request order (see the module docstring for the calls)."""
        if not requests:
            return []
        plan = plan_call(settings, self.entropy_top_k, self.base_logprobs)
        groups: dict[tuple, list[tuple[int, int]]] = {}  # call key -> (request, its first continuation) per prompt
        for index, request in enumerate(requests):
            stops = (request.max_tokens, tuple(request.stop_ids), tuple(request.stop_strings))
            seeds = continuation_seeds(request, settings, generator)
            if all(seed is None for seed in seeds):  # the server's own randomness: one prompt, n continuations
                groups.setdefault((len(seeds), *stops, None), []).append((index, 0))
            else:  # each continuation its own seed, as in-process: one prompt with n=1 per continuation
                for j, seed in enumerate(seeds):
                    groups.setdefault((1, *stops, seed), []).append((index, j))
        calls = list(groups.items())
        self.http_calls += len(calls)
        with ThreadPoolExecutor(max_workers=min(self.max_concurrency, len(calls))) as pool:
            outputs = list(pool.map(lambda call: self._generate_call(call[0], [requests[i] for i, _ in call[1]],
                                                                     settings, plan), calls))
        drawn: list[dict[int, Segment]] = [{} for _ in requests]
        for (key, members), output in zip(calls, outputs):
            n = key[0]
            for slot, (index, first) in enumerate(members):
                for j in range(n):
                    drawn[index][first + j] = self._segment(requests[index], output, slot * n + j, plan)
        segments = [copies_for_greedy([by_index[j] for j in sorted(by_index)], request, settings)
                    for by_index, request in zip(drawn, requests)]
        if plan.rescore:
            self._rescore([(r.prefix, s) for r, per in zip(requests, segments) for s in per], plan.top_k)
        return segments

    def _generate_call(self, key: tuple, requests: list[SegmentRequest], settings: SamplingSettings,
                       plan: CallPlan) -> dict:
        n, max_tokens, stop_ids, stop_strings, seed = key
        extra: dict[str, Any] = {"stop_token_ids": list(stop_ids), "ignore_eos": True,
                                 "stop": list(stop_strings), "include_stop_str_in_output": True}
        if seed is not None:
            extra["seed"] = seed
        return self.client.generate(prompts=[list(r.prefix) for r in requests], n=n, temperature=settings.temperature,
                                    top_p=settings.top_p, max_tokens=max_tokens, logprobs=plan.draw_k,
                                    generation_kwargs=extra)

    def _segment(self, request: SegmentRequest, output: dict, row: int, plan: CallPlan) -> Segment:
        """Continuation ``row`` of a ``VLLMClient.generate`` output (choices are prompt-major)."""
        tokens = list(output["completion_ids"][row])
        values, ids = output["logprobs"][row], output["logprob_token_ids"][row]
        logprobs = [values[t][ids[t].index(token)] for t, token in enumerate(tokens)]  # the sampled token's
        entropies = None
        if plan.top_k is not None and not plan.tempered:  # the sampled distribution is π: its top-k came along
            entropies = [topk_entropy([v for v in known if v is not None], plan.top_k, self.vocab_size)
                         for known in values]
        reason = "stop_id" if tokens and tokens[-1] in request.stop_ids else "length"  # stop strings: below
        return finish_segment(request, tokens, logprobs, entropies, reason, not plan.tempered, self.decode)

    def _rescore(self, items: list[tuple[Sequence[int], Segment]], top_k: int | None) -> None:
        """Set ``base_logprobs`` (and ``entropies`` when ``top_k``) by teacher forcing: one
        ``VLLMClient.get_sequence_logprobs`` call (prompt log-probabilities, from the raw logits)."""
        self.http_calls += 1
        scored = self.client.get_sequence_logprobs([list(p) + list(s.tokens) for p, s in items],
                                                   [len(p) for p, _ in items], top_logprobs=top_k or 0,
                                                   temperature=1.0)
        for row, (_, segment) in enumerate(items):
            actual = [position[0] for position in scored["actual_logprobs"][row]]
            segment.base_logprobs = actual
            if top_k is not None:
                segment.entropies = [self._scored_entropy(token, a, top, top_ids, top_k) for token, a, top, top_ids
                                     in zip(segment.tokens, actual, scored["logprobs"][row],
                                            scored["logprob_token_ids"][row])]

    def _scored_entropy(self, token: int, actual: float, top: list[float], top_ids: list[int], top_k: int) -> float:
        """The bound from one re-scored position: its top-k (padded with -inf by TRL) and the scored token."""
        known = {i: v for v, i in zip(top, top_ids) if v != float("-inf")}
        known.setdefault(token, actual)
        return topk_entropy(list(known.values()), top_k, self.vocab_size)

    def release(self, keys: Sequence[Hashable] = ()) -> None:
        """Nothing to release: the server's prefix cache evicts by itself."""

    def decode(self, ids: Sequence[int]) -> str:
        """Text of ``ids``, special tokens left out (as the server's own output text)."""
        return self.tokenizer.decode(list(ids), skip_special_tokens=True)


def _server_config(client) -> dict:
    try:
        return client.get_server_info()
    except RuntimeError as error:  # TRL's message when the development endpoints are off
        fail("client", f"the server does not report its configuration ({error})",
             "start it with VLLM_SERVER_DEV_MODE=1 (trl vllm-serve sets it)")
