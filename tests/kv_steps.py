"""A decoding state to test KV-cache code on, for any policy with ``prefill`` and ``step`` (small GPT, transformers)."""

import torch


def stepped_state(policy, prompts, steps, seed):
    """A state after prefilling ``prompts`` (different lengths: left padding) and ``steps`` random tokens (ids 4–11)."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        _, state = policy.prefill(prompts)
        for _ in range(steps):
            _, state = policy.step(state, torch.randint(4, 12, (len(prompts),), generator=g))
    return state
