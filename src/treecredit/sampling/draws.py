"""Random draws that do not depend on scheduling: counter-based uniforms, and tokens drawn by inversion.

A *chain* is one sequence of draws (a root chain, or a continuation opened at a fork point). Its key is a
64-bit integer derived from its parent's key, the response position of the fork point and the index of
the continuation there (:func:`child_keys`). Token t (response position) of chain c is drawn with

    u = U(c, t) ∈ [0, 1)      (SplitMix64 finaliser of c and t, 53 bits)

so a chain draws the same tokens whether it is decoded alone, in a batch with other prompts, in one
loop that forks as it goes, or in rounds that continue kept KV caches: only the model's numbers decide.
The tree sampler, the i.i.d. sampler and the built-in backend all draw this way.

A token is picked by inversion, token = min{v : F(v) > u·F(V)} with F the cumulative distribution of
π^(1/τ) restricted to the top-p nucleus (the token order of the vocabulary): one uniform per row, no draw
over the vocabulary. τ = 0 is greedy.
"""

from __future__ import annotations

import numpy as np

_MASK = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15


def _mix(x: np.ndarray) -> np.ndarray:
    """SplitMix64 finaliser on uint64 arrays (wrapping arithmetic)."""
    with np.errstate(over="ignore"):
        x = x ^ (x >> np.uint64(30))
        x = x * np.uint64(0xBF58476D1CE4E5B9)
        x = x ^ (x >> np.uint64(27))
        x = x * np.uint64(0x94D049BB133111EB)
        return x ^ (x >> np.uint64(31))


def _mix_int(x: int) -> int:
    """:func:`_mix` of one 64-bit Python integer (the same bits; a numpy scalar costs ~20× more per call)."""
    x ^= x >> 30
    x = (x * 0xBF58476D1CE4E5B9) & _MASK
    x ^= x >> 27
    x = (x * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


def combine(*parts: int) -> int:
    """One 64-bit key from integers (order matters)."""
    x = _GOLDEN
    for part in parts:
        x = _mix_int(x ^ (((int(part) & _MASK) + _GOLDEN) & _MASK))
    return x


def prompt_key(seed: int, group: int) -> int:
    """Key of the fork point 'after the prompt' of ``group`` in a call seeded with ``seed``."""
    return combine(seed, 0x70726F6D7074, group)


def child_keys(parent: int, position: int, first: int, count: int) -> list[int]:
    """Keys of continuations ``first .. first+count-1`` opened at response ``position`` of chain ``parent``."""
    return [combine(parent, position, first + i) for i in range(count)]


SMALL_DRAW = 16
"""Rows up to which :func:`uniforms` mixes in Python integers (the same bits): a dozen numpy calls on a few rows cost
more than the rows themselves (a tree's thin steps: 7 against 65 µs at 1 row, 25 against 29 at 16), while from
about 20 rows on numpy is cheaper (44 against 30 µs at 32 rows, one CPU thread)."""
_OFFSET = 0x632BE59BD9B4E019
_UNIT = 1.0 / (1 << 53)


def uniforms(keys, positions):
    """``(R,)`` float64 tensor: U(keys[r], positions[r]) ∈ [0, 1) (see the module docstring)."""
    import torch

    if len(keys) <= SMALL_DRAW:  # the numpy form's bits: wrapping uint64 arithmetic, then (x >> 11) · 2⁻⁵³ exactly
        return torch.tensor([(_mix_int(int(key) ^ _mix_int((int(p) * _GOLDEN + _OFFSET) & _MASK)) >> 11) * _UNIT
                             for key, p in zip(keys, positions)], dtype=torch.float64)
    k = np.asarray(keys, dtype=np.uint64)
    p = np.asarray(positions, dtype=np.uint64)
    with np.errstate(over="ignore"):
        x = _mix(k ^ _mix(p * np.uint64(_GOLDEN) + np.uint64(0x632BE59BD9B4E019)))
    return torch.from_numpy((x >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53)))


def seed_from(generator) -> int:
    """A 62-bit seed drawn from a ``torch.Generator`` (or a fixed one when ``generator`` is None)."""
    import torch

    if generator is None:
        return 0
    return int(torch.randint(0, 2**62, (1,), generator=generator))


def _float(logits):
    import torch

    return logits.to(torch.promote_types(logits.dtype, torch.float32))


def _shifted(logits, temperature: float):
    """``(weights, z)``: weights = exp(z) ∝ π^(1/τ); z = log π^(1/τ) (log-softmax) for a small vocabulary
    (≤ 512 ids, where the number of operations costs more than passes over the vocabulary), else
    logits/τ minus the row maximum (weights not normalised: one pass fewer)."""
    import torch

    scaled = _float(logits) if temperature == 1 else _float(logits) / temperature
    z = torch.log_softmax(scaled, -1) if _small(logits) else scaled - scaled.amax(-1, keepdim=True)
    return z.exp(), z


def _small(logits) -> bool:
    return logits.shape[-1] <= 2 * BLOCK


def nucleus_probs(logits, temperature: float, top_p: float):
    """``(R, V)`` weights ∝ π^(1/τ), zero outside the top-p nucleus, *not* renormalised (τ > 0): at top-p = 1
    exp(z − max z), the weights :func:`draw_and_score` inverts, bit for bit; below, the probabilities."""
    import torch

    weights, _ = _shifted(logits, temperature)
    if top_p >= 1.0:
        return weights
    probs = weights / weights.sum(-1, keepdim=True)
    sorted_probs, order = probs.sort(dim=-1, descending=True)
    before = sorted_probs.cumsum(-1) - sorted_probs  # mass strictly above each token
    sorted_probs = sorted_probs.masked_fill(before >= top_p, 0.0)  # the top token always stays
    return torch.zeros_like(probs).scatter(-1, order, sorted_probs)


BLOCK = 256


def invert(weights, u):
    """``(R,)`` ids: the first v with W(v) > u·W(V), W the running sum of ``weights (R, V)`` (≥ 0).

    Two levels instead of one scan over a large vocabulary: sums of blocks of 256 ids, the running sum
    over the blocks, then the running sum inside the chosen block only. An id of weight 0 is never chosen.
    """
    return _invert(weights, u)[0]


def _running(weights):
    """``(blocks, cdf)``: for a small vocabulary (≤ 512 ids) ``(None, running sum (R, V))``, else the weights
    as ``(R, V/256, 256)`` blocks and the running sum over block sums ``(R, V/256)``; ``cdf[:, -1]`` is the
    total, added in the same order wherever it is used."""
    import torch

    R, V = weights.shape
    if V <= 2 * BLOCK:  # a small vocabulary: one scan is cheaper than two levels
        return None, weights.cumsum(-1)
    pad = (-V) % BLOCK
    blocks = torch.nn.functional.pad(weights, (0, pad)).view(R, -1, BLOCK) if pad else weights.view(R, -1, BLOCK)
    return blocks, blocks.sum(-1).cumsum(-1)


def _invert(weights, u):
    """``(ids (R,), W(V) (R,))``: :func:`invert` and the total weight of each row."""
    import torch

    R, V = weights.shape
    blocks, cdf = _running(weights)
    target = u.to(cdf.dtype) * cdf[:, -1]  # (R,)
    if blocks is None:
        found = torch.searchsorted(cdf, target[:, None], right=True).squeeze(-1)
        return _last_positive_at_most(weights, found), cdf[:, -1]
    block = torch.searchsorted(cdf, target[:, None], right=True).squeeze(-1).clamp(max=cdf.shape[1] - 1)
    before = torch.where(block > 0, cdf.gather(-1, (block - 1).clamp(min=0)[:, None]).squeeze(-1), 0.0)
    inner = blocks[torch.arange(R), block]  # (R, 256)
    inside = torch.searchsorted(inner.cumsum(-1), (target - before)[:, None], right=True).squeeze(-1)
    return block * BLOCK + _last_positive_at_most(inner, inside), cdf[:, -1]


def _last_positive_at_most(weights, found):
    """``min(found, last id of positive weight)`` per row of ``weights (R, W)`` (``found (R,)`` ≥ 0, from a search
    of the running sum: rounding may put it past the last positive weight, never on a zero weight before it).

    A found id of positive weight is kept as it is (it is at most the last one); only rows whose found id (capped at
    ``W − 1``) has weight 0 look for their last positive weight: the same ids as the minimum over every row,
    without a pass over every row's weights (a row of all zeros gives −1, as that minimum did)."""
    import torch

    capped = found.clamp(max=weights.shape[1] - 1)
    zero = ~(weights.gather(-1, capped[:, None]).squeeze(-1) > 0)
    if not bool(zero.any()):
        return capped
    rows = zero.nonzero().squeeze(-1)
    last = torch.where(weights[rows] > 0, torch.arange(weights.shape[1]), -1).max(-1).values
    return capped.index_put((rows,), torch.minimum(capped[rows], last))


def _base_and_entropy(weights, z, total, tokens, with_entropy: bool):
    """log π(tokens) and the entropy of π (or None) from :func:`_shifted`'s weights and z and the total of
    the weights (None when they are normalised)."""
    base = z.gather(-1, tokens[:, None]).squeeze(-1)
    if total is None:
        return base, (-(weights * z).sum(-1) if with_entropy else None)
    log_total = total.log()
    return base - log_total, (log_total - (weights * z).sum(-1) / total if with_entropy else None)


def draw_tokens(logits, u, temperature: float, top_p: float):
    """Token ids ``(R,)`` picked by inversion of ``u (R,)`` in π^(1/τ) within the top-p nucleus."""
    if temperature == 0:
        return logits.argmax(-1)
    return invert(nucleus_probs(logits, temperature, top_p), u)


def draw_and_score(logits, u, temperature: float, top_p: float, with_entropy: bool):
    """``(tokens, sampled, base, entropy or None)`` for one step, as :func:`draw_tokens` and
    :func:`token_stats` give them, with one pass over the distribution where τ ∈ {0, 1} and top-p = 1."""
    if top_p < 1.0 or temperature not in (0, 1.0):
        tokens = draw_tokens(logits, u, temperature, top_p)
        return (tokens, *token_stats(logits, tokens, temperature, top_p, with_entropy))
    weights, z = _shifted(logits, 1.0)  # exp(z) ∝ π: one pass for the draw, the total and the entropy
    if temperature == 0:
        tokens, total = logits.argmax(-1), None if _small(logits) else _running(weights)[1][:, -1]
    else:
        tokens, total = _invert(weights, u)
    base, entropy = _base_and_entropy(weights, z, None if _small(logits) else total, tokens, with_entropy)
    return tokens, base, base, entropy


def sampled_logprobs(logits, tokens, temperature: float, top_p: float):
    """``(R,)`` log-probability of ``tokens`` under π^(1/τ) restricted to the top-p nucleus and
    renormalised (−inf outside the nucleus); log π at τ = 0 (greedy has no distribution of its own)."""
    import torch

    if temperature == 0:
        temperature = 1.0
    logp = torch.log_softmax(_float(logits) / temperature, dim=-1).gather(-1, tokens[:, None]).squeeze(-1)
    if top_p >= 1.0:
        return logp
    probs = nucleus_probs(logits, temperature, top_p)
    inside = probs.gather(-1, tokens[:, None]).squeeze(-1) > 0
    return torch.where(inside, logp - probs.sum(-1).log(), torch.full_like(logp, float("-inf")))


def token_stats(logits, tokens, temperature: float = 1.0, top_p: float = 1.0, with_entropy: bool = True):
    """``(sampled (R,), base (R,), entropy (R,) or None)`` for ``tokens`` drawn from ``logits (R, V)``.

    ``sampled`` = log-probability under the distribution sampled from (:func:`sampled_logprobs`),
    ``base`` = log π(token) at temperature 1, ``entropy`` = entropy of π (nats).
    """
    weights, z = _shifted(logits, 1.0)  # as draw_and_score computes them, bit for bit
    total = None if _small(logits) else _running(weights)[1][:, -1]
    base, entropy = _base_and_entropy(weights, z, total, tokens, with_entropy)
    if temperature in (0, 1.0) and top_p >= 1.0:
        return base, base, entropy
    return sampled_logprobs(logits, tokens, temperature, top_p), base, entropy
