"""The i.i.d. sampler: G independent responses per prompt, batched, with a KV cache.

One segment request per prompt, n = G continuations, all prompts in one ``generate`` call of a
generation backend (the built-in :class:`KVCacheBackend` by default: each prompt is prefilled once and its
cache copied to its G rows). Tokens are drawn by inversion from π^(1/τ) restricted to the top-p nucleus
with counter-based uniforms keyed by the generator's seed, the prompt and the row
(:mod:`treecredit.sampling.draws`), so a seed fixes the samples and row j of a prompt draws what root
chain j of a tree would; τ = 0 means greedy. A row stops after writing a stop token (the task's end
marker or the policy's eos) or a text that completes one of the task's stop strings
(``Task.stop_strings_for``, e.g. the end of a HumanEval function); later positions are padding.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from treecredit._validation import check_positive, fail
from treecredit.sampling.backend import SamplingSettings, SegmentRequest
from treecredit.sampling.draws import child_keys, draw_tokens, prompt_key, seed_from
from treecredit.sampling.registry import register_sampler
from treecredit.sampling.rollout import RolloutBatch, step_end_mask
from treecredit.tasks.base import batch_rewards, response_stop_strings


def sample_next(logits, temperature: float, top_p: float, generator):
    """Token ids ``(B,)`` drawn from ``logits (B, V)`` at ``temperature`` within the ``top_p`` nucleus
    (by inversion, one uniform per row from ``generator``)."""
    import torch

    u = torch.rand(logits.shape[0], generator=generator, dtype=torch.float64)
    return draw_tokens(logits, u, temperature, top_p)


def stop_ids_for(policy, task) -> list[int]:
    """The policy's eos ids (all of them: ``eos_ids`` where the policy has several), plus the task's end
    marker when it is one token."""
    ids = list(getattr(policy, "eos_ids", [policy.eos_id]))
    end = policy.encode(task.end)
    if len(end) == 1:
        ids.append(end[0])
    return ids


def check_decoding_options(temperature: float, top_p: float, max_new_tokens: int) -> None:
    """The checks every sampler makes of its decoding settings."""
    check_positive(temperature, "temperature", allow_zero=True)
    if not 0 < top_p <= 1:
        fail("top_p", f"is {top_p}, must be in (0, 1]", "pass top_p=1.0 to sample the full distribution")
    if max_new_tokens < 1:
        fail("max_new_tokens", f"is {max_new_tokens}, must be ≥ 1", "pass max_new_tokens=48")


@register_sampler("iid")
@dataclass
class IIDSampler:
    """Independent sampling of ``group_size`` responses per problem.

    Args:
        temperature: τ ≥ 0 (0 = greedy).
        top_p: nucleus mass in (0, 1].
        max_new_tokens: cap on response length; a response that hits it without a stop token is
            truncated (and the task's verifier gives it reward 0).
    """

    temperature: float = 1.0
    top_p: float = 1.0
    max_new_tokens: int = 48

    def __post_init__(self) -> None:
        check_decoding_options(self.temperature, self.top_p, self.max_new_tokens)

    def sample(self, policy, task, problems: Sequence, group_size: int, generator, backend=None) -> RolloutBatch:
        """``group_size`` responses for each problem, scored by ``task``; rows of a problem are adjacent.

        ``backend``: a :class:`GenerationBackend` (default: a :class:`KVCacheBackend` over ``policy``).
        """
        import torch

        from treecredit.sampling.kv_backend import KVCacheBackend

        if group_size < 1:
            fail("group_size", f"is {group_size}, must be ≥ 1", "pass group_size ≥ 1")
        if not problems:
            fail("problems", "is empty: there is no prompt to sample responses for", "pass at least one problem")
        prompt_texts = [task.format_prompt(p) for p in problems]
        prompts = [policy.encode_prompt(text) for text in prompt_texts]
        backend = KVCacheBackend(policy) if backend is None else backend
        seed = seed_from(generator)
        stop = tuple(stop_ids_for(policy, task))
        texts = response_stop_strings(task, policy)  # e.g. HumanEval: the end of the function
        requests = [SegmentRequest(tuple(p), len(p), n=group_size, max_tokens=self.max_new_tokens, stop_ids=stop,
                                   stop_strings=texts,
                                   chain_keys=tuple(child_keys(prompt_key(seed, g), 0, 0, group_size)))
                    for g, p in enumerate(prompts)]
        segments = [s for per in backend.generate(requests, SamplingSettings(self.temperature, self.top_p, False))
                    for s in per]
        width = max(len(s.tokens) for s in segments)
        tokens = torch.full((len(segments), width), policy.pad_id, dtype=torch.long)
        logprobs = torch.zeros((len(segments), width), dtype=torch.float64)
        for row, s in enumerate(segments):
            tokens[row, : len(s.tokens)] = torch.tensor(s.tokens, dtype=torch.long)
            base = s.base_logprobs if s.base_logprobs is not None else s.logprobs
            logprobs[row, : len(s.tokens)] = torch.tensor(base, dtype=torch.float64)
        rows = torch.arange(len(problems)).repeat_interleave(group_size)  # (B,)
        lengths = torch.tensor([len(s.tokens) for s in segments]) if texts else None  # a stop string ends a row too
        return build_rollout(policy, task, problems, rows, prompts, prompt_texts, tokens, logprobs, lengths)


def response_lengths(tokens, stop_ids: list[int], pad_id: int):
    """``(B,)`` long: tokens through the first stop token, or the full width if none was written."""
    import torch

    B, T = tokens.shape
    is_stop = torch.isin(tokens, torch.as_tensor(stop_ids, dtype=torch.long))
    first = torch.where(is_stop.any(1), is_stop.float().argmax(1), torch.full((B,), T - 1))
    return first + 1


def build_rollout(policy, task, problems, rows, prompts, prompt_texts, tokens, logprobs, lengths=None) -> RolloutBatch:
    """Score decoded ``tokens (B, T)`` with ``task`` and pack them into a :class:`RolloutBatch`; ``lengths``
    ``(B,)``: each row's response length (default: through its first stop token)."""
    import torch

    B, T = tokens.shape
    if lengths is None:
        lengths = response_lengths(tokens, stop_ids_for(policy, task), policy.pad_id)
    mask = torch.arange(T)[None, :] < lengths[:, None]  # (B,T)
    tokens = tokens.masked_fill(~mask, policy.pad_id)
    ids = [tokens[row, : int(lengths[row])].tolist() for row in range(B)]  # TRL's completion_ids (stop id included)
    texts = []
    for row_ids in ids:
        text = policy.decode(row_ids)
        if row_ids and row_ids[-1] == policy.eos_id and task.end not in text:
            text += task.end  # a model that stops with eos (not the end marker) has still finished
        texts.append(text)
    index = rows.tolist()
    rewards = torch.tensor(batch_rewards(task, [problems[i] for i in index], texts, completion_ids=ids),
                           dtype=torch.float32)
    return RolloutBatch(
        response_ids=tokens, response_mask=mask, rewards=rewards, group_ids=rows.clone(),
        old_logprobs=(logprobs * mask).float(), prompt_ids=[prompts[i] for i in index],
        prompt_texts=[prompt_texts[i] for i in index], response_texts=texts, problem_index=rows.clone(),
        step_ends=step_end_mask(policy, tokens, lengths, (task.delimiter, task.end), texts),
        generated_tokens=int(mask.sum()),
    )
