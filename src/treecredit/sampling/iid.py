"""The i.i.d. sampler: G independent responses per prompt, batched, with a KV cache.

Each prompt is prefilled once and its cache is copied to its G rows (``Policy.select``). At every step
the next token is drawn from π^(1/τ) restricted to the top-p nucleus with a seeded ``torch.Generator``
(so a seed fixes the samples); τ = 0 means greedy. A row stops after writing a stop token (the task's end
marker or the policy's eos); later positions are padding.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from treecredit._validation import check_positive, fail
from treecredit.sampling.registry import register_sampler
from treecredit.sampling.rollout import RolloutBatch, step_end_mask


def sample_next(logits, temperature: float, top_p: float, generator):
    """Token ids ``(B,)`` drawn from ``logits (B, V)`` at ``temperature`` within the ``top_p`` nucleus."""
    import torch

    if temperature == 0:
        return logits.argmax(-1)
    probs = torch.softmax(logits.float() / temperature, dim=-1)
    if top_p < 1.0:
        sorted_probs, order = probs.sort(dim=-1, descending=True)
        before = sorted_probs.cumsum(-1) - sorted_probs  # mass strictly above each token
        sorted_probs = sorted_probs.masked_fill(before >= top_p, 0.0)  # the top token always stays
        probs = torch.zeros_like(probs).scatter(-1, order, sorted_probs)
    return torch.multinomial(probs, 1, generator=generator).squeeze(-1)


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

    def sample(self, policy, task, problems: Sequence, group_size: int, generator) -> RolloutBatch:
        """``group_size`` responses for each problem, scored by ``task``; rows of a problem are adjacent."""
        import torch

        if group_size < 1:
            fail("group_size", f"is {group_size}, must be ≥ 1", "pass group_size ≥ 1")
        prompt_texts = [task.format_prompt(p) for p in problems]
        prompts = [policy.encode_prompt(text) for text in prompt_texts]
        rows = torch.arange(len(problems)).repeat_interleave(group_size)  # (B,)
        was_training = policy.module.training
        policy.module.eval()
        with torch.no_grad():
            logits, state = policy.prefill(prompts)
            state = policy.select(state, rows)
            logits = logits.index_select(0, rows)
            tokens, logprobs = decode_rows(policy, logits, state, self, stop_ids_for(policy, task), generator)
        policy.module.train(was_training)
        return build_rollout(policy, task, problems, rows, prompts, prompt_texts, tokens, logprobs)


def decode_rows(policy, logits, state, sampler: IIDSampler, stop_ids: list[int], generator):
    """Decode every row of ``state`` until it stops; returns ``(tokens (B, T), logprobs (B, T))``.

    Positions after a row's stop token hold ``policy.pad_id`` and log-prob 0.
    """
    import torch

    B = logits.shape[0]
    stop = torch.as_tensor(stop_ids, dtype=torch.long)
    done = torch.zeros(B, dtype=torch.bool)
    tokens, logprobs = [], []
    for _ in range(sampler.max_new_tokens):
        token = sample_next(logits, sampler.temperature, sampler.top_p, generator)
        logp = torch.log_softmax(logits.float(), dim=-1).gather(-1, token[:, None]).squeeze(-1)
        token = token.masked_fill(done, policy.pad_id)
        tokens.append(token)
        logprobs.append(logp.masked_fill(done, 0.0))
        done = done | torch.isin(token, stop)
        if bool(done.all()):
            break
        logits, state = policy.step(state, token)
    return torch.stack(tokens, dim=1), torch.stack(logprobs, dim=1)


def response_lengths(tokens, stop_ids: list[int], pad_id: int):
    """``(B,)`` long: tokens through the first stop token, or the full width if none was written."""
    import torch

    B, T = tokens.shape
    is_stop = torch.isin(tokens, torch.as_tensor(stop_ids, dtype=torch.long))
    first = torch.where(is_stop.any(1), is_stop.float().argmax(1), torch.full((B,), T - 1))
    return first + 1


def build_rollout(policy, task, problems, rows, prompts, prompt_texts, tokens, logprobs) -> RolloutBatch:
    """Score decoded ``tokens (B, T)`` with ``task`` and pack them into a :class:`RolloutBatch`."""
    import torch

    B, T = tokens.shape
    lengths = response_lengths(tokens, stop_ids_for(policy, task), policy.pad_id)
    mask = torch.arange(T)[None, :] < lengths[:, None]  # (B,T)
    tokens = tokens.masked_fill(~mask, policy.pad_id)
    texts = []
    for row in range(B):
        text = policy.decode(tokens[row, : int(lengths[row])].tolist())
        if int(tokens[row, int(lengths[row]) - 1]) == policy.eos_id and task.end not in text:
            text += task.end  # a model that stops with eos (not the end marker) has still finished
        texts.append(text)
    index = rows.tolist()
    rewards = torch.tensor([task.reward(problems[i], t) for i, t in zip(index, texts)], dtype=torch.float32)
    return RolloutBatch(
        response_ids=tokens, response_mask=mask, rewards=rewards, group_ids=rows.clone(),
        old_logprobs=(logprobs * mask).float(), prompt_ids=[prompts[i] for i in index],
        prompt_texts=[prompt_texts[i] for i in index], response_texts=texts, problem_index=rows.clone(),
        step_ends=step_end_mask(policy, tokens, lengths, (task.delimiter, task.end)),
        generated_tokens=int(mask.sum()),
    )
