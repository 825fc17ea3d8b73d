"""Prefix-shared teacher forcing: a group's rows packed into one sequence with a tree attention mask.

The rows of one group (an i.i.d. group's shared prompt, a sampled tree's shared segments) repeat the same
tokens at the same positions. :func:`pack_rows` merges each group's rows (prompt + response up to the
row's length) into a token trie: a node is one token after one exact prefix, so a shared token is one
node, computed once in the forward and once in the backward pass. All tries of a call are laid out
one after another, each in depth-first order, in one sequence (one batch row of the model call, padded
only to a multiple of the attention block); a node attends to its ancestors and itself only, its
position id is its depth. Attention runs in query blocks that gather only their nodes' ancestors
(:mod:`treecredit.models.tree_attention`), so tries of one sequence never see each other and its cost
does not grow with the square of the sequence. The hidden state of a node is then exactly that of the same
token in the row layout (same tokens before it, same positions), so log-probabilities, entropies and,
by the chain rule, gradients agree with the row layout up to float rounding. A trie over tokens finds
every shared segment of a sampled tree (equal node ids in ``tree_nodes`` mean equal tokens at equal
positions) plus any prefix that two i.i.d. responses happen to share; ``tree_nodes`` is not needed.

Packing skips padding: only real tokens (through each row's last unmasked response token) are packed;
the sequence is right-padded to a multiple of the attention block (fewer than 32 nodes). Rows of one
group may be split across minibatches: a minibatch's trie holds the rows it is given.

Index names: ``N`` nodes (padded to a multiple of the block), ``U`` logit columns, ``B`` rows,
``T`` response width, ``V`` vocabulary.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from treecredit._validation import check_choice, fail

LAYOUTS = ("rows", "packed")
"""How the update lays rows out: ``rows`` (one padded row per response) or ``packed`` (one trie per group)."""


@dataclass(frozen=True)
class PackedRows:
    """The packed model input of B rows and how to read their response log-probabilities back.

    Attributes:
        ids: ``(1, N)`` long node tokens (``pad_id`` on padding).
        positions: ``(1, N)`` long position ids (the node's depth, 0 for a prompt's first token).
        attend: :class:`~treecredit.models.tree_attention.TreeBlocks`: node q attends to node j iff j is q or
            an ancestor of q (a padding node attends to itself only, so no softmax row is empty);
            ``attend.dense()`` gives it as one ``(1, N, N)`` bool mask.
        logits_at: ``(1, U)`` long, the columns whose logits are needed (nodes followed by a response
            token; ``[[0]]`` when there are none).
        source: ``(B, T)`` long, index into the ``U`` logit rows of the node that predicts
            response token t of row i; -1 at and beyond the row's length.
        tokens: ``(B, T)`` long, the response tokens (the row layout's ``response_ids``).
        nodes: real nodes (tokens computed); row_tokens: prompt + response tokens of the rows.
    """

    ids: Any
    positions: Any
    attend: Any
    logits_at: Any
    source: Any
    tokens: Any
    nodes: int
    row_tokens: int


def response_lengths(response_mask):
    """``(B,)`` long: one past each row's last True in ``response_mask (B, T)`` (0 for an empty row)."""
    import torch

    T = response_mask.shape[1]
    m = response_mask.bool()
    last = T - 1 - m.flip(1).int().argmax(1)
    return torch.where(m.any(1), last + 1, torch.zeros_like(last))


def packed_inputs(prompts: list[list[int]], response_ids, pad_id: int, *, groups=None,
                  response_mask=None) -> PackedRows:
    """:func:`pack_rows` with defaults: lengths from ``response_mask`` (one past its last True; the full
    width when None), packs by ``groups`` (by equal prompts when None)."""
    import torch

    B, T = response_ids.shape
    if response_mask is None:
        lengths = torch.full((B,), T, dtype=torch.long)
    else:
        lengths = response_lengths(response_mask)
    keys = [tuple(p) for p in prompts] if groups is None else groups
    return pack_rows(prompts, response_ids, lengths, keys, pad_id)


def check_layout(layout: str) -> None:
    check_choice(layout, LAYOUTS, "layout")


def pack_rows(prompts: list[list[int]], response_ids, lengths, groups, pad_id: int, *,
              block: int | None = None) -> PackedRows:
    """Pack rows into one trie per group, all tries in one sequence (see the module docstring).

    Args:
        prompts: B prompt id lists (each non-empty: its last token predicts the first response token).
        response_ids: ``(B, T)`` long, right-padded.
        lengths: ``(B,)`` tokens of each row's response to pack (beyond: padding, log-prob 0).
        groups: ``(B,)`` trie key per row (group ids); rows with one key share a trie.
        pad_id: token id of padding nodes.
        block: queries per attention block (:data:`treecredit.models.tree_attention.BLOCK` by default).

    Raises:
        ValueError: an empty prompt, or a length outside [0, T].
    """
    import numpy as np
    import torch

    from treecredit.models.tree_attention import BLOCK, plan_blocks

    block = block or BLOCK
    B, T = response_ids.shape
    resp = response_ids.long().cpu().numpy()
    lens = [int(x) for x in (lengths.tolist() if hasattr(lengths, "tolist") else lengths)]
    keys = groups.tolist() if hasattr(groups, "tolist") else list(groups)
    if len(prompts) != B or len(lens) != B or len(keys) != B:
        fail("prompts", f"{len(prompts)} prompts, {len(lens)} lengths, {len(keys)} groups for {B} rows",
             "pass one prompt, one length and one group id per row of response_ids")
    if any(not p for p in prompts):
        fail("prompts", "a prompt is empty", "start every prompt with at least one token (bos)")
    if any(n < 0 or n > T for n in lens):
        fail("lengths", f"must lie in [0, {T}]", "pass the response lengths of response_mask")
    order: dict = {}
    for row, key in enumerate(keys):
        order.setdefault(key, []).append(row)
    token: list[int] = []
    depth: list[int] = []
    parent: list[int] = []
    end: list[int] = []
    predictors: list[int] = []
    source = np.full((B, T), -1, dtype=np.int64)
    for rows in order.values():
        seqs = {row: list(prompts[row]) + resp[row, : lens[row]].tolist() for row in rows}
        first_column = len(predictors)
        paths = _trie(rows, seqs, token, depth, parent, end)
        used = sorted({node for row in rows for node in paths[row][len(prompts[row]) - 1: -1]})
        column = {node: first_column + u for u, node in enumerate(used)}
        predictors += used
        for row in rows:  # the node before each response token
            preds = paths[row][len(prompts[row]) - 1: -1]
            if preds:
                source[row, : len(preds)] = [column[node] for node in preds]
    nodes = len(token)
    pad = -nodes % block  # padding nodes: roots of their own, attending to themselves only
    token += [pad_id] * pad
    depth += [0] * pad
    parent += [-1] * pad
    end += range(nodes + 1, nodes + pad + 1)
    ids = torch.as_tensor(token, dtype=torch.long)[None]
    positions = torch.as_tensor(depth, dtype=torch.long)[None]
    logits_at = torch.as_tensor(predictors or [0], dtype=torch.long)[None]
    row_tokens = sum(len(p) for p in prompts) + sum(lens)
    return PackedRows(ids, positions, plan_blocks(parent, end, block), logits_at,
                      torch.from_numpy(source), response_ids.long(), nodes, row_tokens)


def _trie(rows: list[int], seqs: dict, token: list[int], depth: list[int], parent: list[int], end: list[int]) -> dict:
    """Append one pack's trie, in depth-first order, to ``token``, ``depth``, ``parent`` and ``end`` (one past
    each node's subtree; node ids go on from ``len(token)``); return each row's path of node ids (one per token
    of ``seqs[row]``).

    The rows are taken in lexicographic order of their sequences, so that insertion order is depth-first;
    a row then shares with the trie exactly its longest common prefix with the row before it, only its
    tokens after that prefix are new nodes (the nodes and their order are those of inserting the rows token
    by token into a trie), and the subtrees of the row before's nodes below that prefix end where the new
    nodes begin."""
    paths: dict = {}
    prev: list[int] = []
    prev_path: list[int] = []
    for row in sorted(rows, key=lambda r: seqs[r]):
        seq = seqs[row]
        shared = _common_prefix(seq, prev)
        first, n = len(token), len(seq)
        for node in prev_path[shared:]:
            end[node] = first
        token += seq[shared:]
        depth += range(shared, n)
        end += [0] * (n - shared)
        if n > shared:
            parent.append(prev_path[shared - 1] if shared else -1)
            parent += range(first, first + n - shared - 1)
        path = prev_path[:shared] + list(range(first, first + n - shared))
        paths[row] = path
        prev, prev_path = seq, path
    for node in prev_path:
        end[node] = len(token)
    return paths


def _common_prefix(a: list[int], b: list[int]) -> int:
    """Length of the longest common prefix of ``a`` and ``b`` (slices compared in C, by bisection)."""
    lo, hi = 0, min(len(a), len(b))
    if a[:hi] == b[:hi]:
        return hi
    while hi - lo > 1:  # a[:lo] == b[:lo] and a[:hi] != b[:hi]
        mid = (lo + hi) // 2
        if a[lo:mid] == b[lo:mid]:
            lo = mid
        else:
            hi = mid
    return lo


def gather_logprobs(logits, packed_source, tokens, *, temperature: float = 1.0, top_p: float = 1.0,
                    with_entropy: bool = True):
    """Response log-probabilities and entropies from the logits of the predicting positions.

    Args:
        logits: ``(M, V)`` logits (one row per predicting position; float or half).
        packed_source: ``(B, T)`` long index into ``logits``'s rows, -1 where there is no token.
        tokens: ``(B, T)`` long token ids.
        temperature, top_p: the distribution the sampler drew from (see :func:`tempered_logprobs`).

    Returns:
        ``(logprobs (B, T), entropy (B, T) or None)``, 0 where ``packed_source`` is -1.
    """
    import torch

    logp, log_norm, in_nucleus = tempered_logprobs(logits, temperature, top_p)
    has = packed_source >= 0
    src = packed_source.clamp(min=0)
    taken = logp[src, tokens.long()]  # (B,T)
    if log_norm is not None:
        inside = in_nucleus[src, tokens.long()]
        norm = log_norm[src]
        # the sampled token always belongs to the renormalised set, so a log-prob is never −inf
        taken = taken - torch.where(inside, norm, torch.logaddexp(norm, taken))
    taken = torch.where(has, taken, torch.zeros_like(taken))
    entropy = None
    if with_entropy:
        ent = -(logp.exp() * logp).sum(-1)  # (M,)
        entropy = torch.where(has, ent[src], torch.zeros_like(taken))
    return taken, entropy


def tempered_logprobs(logits, temperature: float = 1.0, top_p: float = 1.0):
    """``(log_softmax(logits/τ) (M, V), log nucleus mass (M,) or None, in_nucleus (M, V) bool or None)``.

    The log-probability of the distribution the samplers draw from is log_softmax(z/τ)[y] minus the log
    of the nucleus mass when ``top_p < 1``: the nucleus is the smallest set of most probable tokens (under
    z/τ) whose mass reaches ``top_p``, the top token always in it, chosen without gradient (as the samplers
    do); the mass is differentiable. A token outside the current nucleus (the policy moved) is renormalised
    with the nucleus plus itself, so a log-probability is always finite. τ = 0 (greedy) uses τ = 1.
    """
    import torch

    z = logits.float()
    if temperature and temperature != 1.0:
        z = z / temperature
    logp = torch.log_softmax(z, dim=-1)
    if top_p >= 1.0:
        return logp, None, None
    with torch.no_grad():
        sorted_p, order = logp.exp().sort(dim=-1, descending=True)
        before = sorted_p.cumsum(-1) - sorted_p
        keep_sorted = before < top_p
        in_nucleus = torch.zeros_like(keep_sorted).scatter(-1, order, keep_sorted)
    log_norm = torch.logsumexp(logp.masked_fill(~in_nucleus, float("-inf")), dim=-1)
    return logp, log_norm, in_nucleus
