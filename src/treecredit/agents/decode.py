"""Incremental decoding for multi-turn episodes: actions up to a marker, observations appended to the cache.

Rows of one :class:`treecredit.sampling.DecodeState` decode in lockstep. A row that has finished its
action keeps receiving (pad) tokens while the others finish; :func:`freeze_rows` marks those keys
invalid and holds the row's position, so its cache holds exactly its own tokens, as if decoded alone.
Observations of different lengths are appended in one call (:func:`extend_state`), so the history is
never prefilled again.
"""

from __future__ import annotations

from treecredit.sampling.iid import sample_next
from treecredit.sampling.policy import DecodeState


def freeze_rows(before: DecodeState, after: DecodeState, frozen) -> DecodeState:
    """``after`` with the newest key of ``frozen (B,)`` rows marked invalid and their positions held."""
    import torch

    if not bool(frozen.any()):
        return after
    key_valid = after.key_valid.clone()
    key_valid[frozen, -1] = False
    return DecodeState(after.cache, key_valid, torch.where(frozen, before.next_pos, after.next_pos))


def keep_rows(policy, state: DecodeState, rows: list[int]) -> DecodeState:
    """``policy.select(state, rows)``, or ``state`` itself when ``rows`` keeps every row in order (no copy of
    the cache, whose spare room then keeps growing in place)."""
    import torch

    if rows == list(range(state.batch_size)):
        return state
    return policy.select(state, torch.as_tensor(rows, dtype=torch.long))


def extend_state(policy, state: DecodeState, sequences: list[list[int]], held=None):
    """Append one id list per row (any lengths, possibly empty) to ``state``; returns ``(logits (B, V), state)``.

    The logits are those after each row's last appended token; a row given nothing gets its row of ``held``
    (the logits after its history, which the caller holds), or meaningless logits without ``held``. When no
    row is given anything, ``(held, state)`` comes back with no forward pass (an error without ``held``).
    Uses ``policy.extend`` when the policy has it, one chunked forward for the small GPT and for a Hugging
    Face model (its KV cache carried, the left padding of short rows masked by the attention
    mask), and otherwise one ``policy.step`` per position (rows with shorter sequences frozen meanwhile).
    """
    import torch

    width = max((len(s) for s in sequences), default=0)
    if width == 0:
        if held is not None:
            return held, state
        raise ValueError("sequences: every sequence is empty. Fix: append at least one token, or pass held.")
    logits, state = _extend(policy, state, sequences, width)
    if held is not None:
        given = torch.tensor([len(s) > 0 for s in sequences], dtype=torch.bool, device=logits.device)
        logits = torch.where(given[:, None], logits, held.to(device=logits.device, dtype=logits.dtype))
    return logits, state


def _extend(policy, state: DecodeState, sequences: list[list[int]], width: int):
    """:func:`extend_state`'s forward: logits after each row's last appended token (``width`` ≥ 1)."""
    import torch

    if hasattr(policy, "extend"):
        return policy.extend(state, sequences)
    lengths = torch.tensor([len(s) for s in sequences], dtype=torch.long)
    ids = torch.full((len(sequences), width), policy.pad_id, dtype=torch.long)
    valid = torch.zeros((len(sequences), width), dtype=torch.bool)
    for row, seq in enumerate(sequences):  # left-padded: every row's last real token is in the last column
        if seq:
            ids[row, width - len(seq):] = torch.as_tensor(seq, dtype=torch.long)
            valid[row, width - len(seq):] = True
    model = getattr(policy, "model", None)
    from treecredit.models import GPT, HFPolicy
    from treecredit.models.hf_policy import output_cache

    positions = (state.next_pos[:, None] + valid.long().cumsum(1) - 1).clamp(min=0)
    key_valid = torch.cat([state.key_valid, valid], dim=1)
    if isinstance(model, GPT):  # the head at the last column only
        last = torch.full((len(sequences), 1), width - 1, dtype=torch.long)
        logits, cache = model(ids, positions, key_valid, state.cache, logits_at=last)
        return logits[:, -1], DecodeState(cache, key_valid, state.next_pos + lengths)
    if isinstance(policy, HFPolicy):  # one forward over the chunk: the KV cache carried, padding masked
        keep = {"logits_to_keep": 1} if policy._keeps_logits() else {}  # the head on the last column only
        out = policy.model(input_ids=ids, attention_mask=key_valid.long(), position_ids=positions,
                    use_cache=True, **policy.cache_kwargs(state.cache), **keep)
        return out.logits[:, -1].float(), DecodeState(output_cache(out), key_valid, state.next_pos + lengths)
    logits = None
    for col in range(width):
        before = state
        logits_col, state = policy.step(state, ids[:, col])
        state = freeze_rows(before, state, ~valid[:, col])
        logits = logits_col if logits is None else torch.where(valid[:, col, None], logits_col, logits)
    return logits, state


def decode_actions(policy, logits, state: DecodeState, *, stop_ids: list[int], marker: str, max_tokens: int,
                   temperature: float, top_p: float, generator, defer_last: bool = False):
    """Sample one action per row, each up to and including a stop token (eos or the one-token marker),
    or until its decoded text contains ``marker`` (a marker of several tokens, or one that a BPE tokenizer
    merges into a longer token); at most ``max_tokens``.

    Every generated token (the stop token included) is appended to the cache, nothing after it, except
    with ``defer_last``: the last decoding step (the one after which every row is done) is skipped, since
    its logits are never used (an observation comes next); the rows that got a token in it are marked
    ``pending`` and the caller appends that token with the next observation (:func:`extend_state`), or
    drops it when the episode ends. Sampling is unchanged by it.

    Returns ``(tokens, logprobs, stopped, logits, state, pending)``: per row the list of token ids and their
    log-probabilities at temperature 1 under the policy, ``stopped (B,)`` bool (False = cut at
    ``max_tokens``), the logits/state after the last appended token, and ``pending (B,)`` bool (rows whose
    last token is not in the cache yet; all False without ``defer_last``).
    """
    import torch

    B = logits.shape[0]
    stop = torch.as_tensor(stop_ids, dtype=torch.long)
    done = torch.zeros(B, dtype=torch.bool)
    pending = torch.zeros(B, dtype=torch.bool)
    tokens: list[list[int]] = [[] for _ in range(B)]
    logps: list[list[float]] = [[] for _ in range(B)]
    for i in range(max_tokens):
        token = sample_next(logits, temperature, top_p, generator)
        logp = torch.log_softmax(logits.float(), dim=-1).gather(-1, token[:, None]).squeeze(-1)
        token = token.masked_fill(done, policy.pad_id)
        for row in (~done).nonzero().flatten().tolist():
            tokens[row].append(int(token[row]))
            logps[row].append(float(logp[row]))
        finished = torch.isin(token, stop) & ~done
        if marker:  # a marker of several tokens, or inside a longer token (BPE): look at the text
            for row in (~done & ~finished).nonzero().flatten().tolist():
                # a one-character marker can only be in the newest token (the earlier ones were checked)
                if marker in policy.decode(tokens[row][-1:] if len(marker) == 1 else tokens[row]):
                    finished[row] = True
        if defer_last and (bool((done | finished).all()) or i == max_tokens - 1):
            pending = ~done
            done = done | finished
            break
        before = state
        logits_next, state = policy.step(state, token)
        state = freeze_rows(before, state, done)
        logits = torch.where(done[:, None], logits, logits_next)
        done = done | finished
        if bool(done.all()):
            break
    return tokens, logps, done, logits, state, pending
