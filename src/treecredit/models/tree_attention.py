"""Tree attention in query blocks: a packed token trie's attention without the sequence's full square.

A packed sequence (:mod:`treecredit.models.packing`) holds one or more tries in depth-first order; a
node attends to its ancestors and itself. A dense ``(N, N)`` mask makes attention cost N² per sequence
although a node has at most depth + 1 keys, and it forces tries into separate, padded sequences. Here
the sequence is cut into blocks of ``block`` consecutive queries; each block gathers only the keys that
some query of the block attends to (the union of their ancestor paths: the group's prompt, the shared
segments above the block, the block's own nodes), and a ``(block, keys)`` mask inside the block keeps
each query to its own ancestors. The cost per block is ``block × keys`` (keys ≤ block + the deepest
ancestor path), so the attention grows with the tokens times the depth instead of the square of a
group's total tokens, and every trie of a minibatch fits in one unpadded sequence. The numbers are
those of the dense mask (the same keys are attended, with the same scores), up to float rounding.

Shapes: ``N`` nodes (a multiple of ``block``), ``NB = N / block`` blocks, ``M`` the most keys any
block gathers, ``H`` heads, ``D`` head width.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

BLOCK = 32
"""Queries per block: with 32 and 64 the update benchmark (CPU, small GPT, tiny Llama) ran fastest of 16 to 128."""


@dataclass(frozen=True)
class TreeBlocks:
    """Which keys each block of queries attends to.

    Attributes:
        key_index: ``(NB, M)`` long, the sequence positions of each block's keys (padded by repeating the
            block's first key).
        mask: ``(NB, block, M)`` bool, query q of the block attends to key m.
        end: ``(N,)`` long, one past the last node of each node's subtree (node j is an ancestor-or-self of
            q iff ``j ≤ q < end[j]``); a padding node is its own subtree.
        block: queries per block.
    """

    key_index: Any
    mask: Any
    end: Any
    block: int

    @property
    def size(self) -> int:
        """N, the sequence length (a multiple of ``block``)."""
        return int(self.end.shape[0])

    def dense(self):
        """``(1, N, N)`` bool: the same pattern as one dense mask (for a model whose attention cannot take
        blocks; costs N² memory)."""
        import torch

        idx = torch.arange(self.size)
        return ((idx[None, :] <= idx[:, None]) & (idx[:, None] < self.end[None, :]))[None]


def plan_blocks(parent: list[int], end, block: int = BLOCK) -> TreeBlocks:
    """The blocks of a depth-first node sequence.

    Args:
        parent: N parent positions (-1 for a root; a parent always comes before its child).
        end: ``(N,)`` one past each node's subtree in the sequence.
        block: queries per block; N must be a multiple of it (pad with roots).

    Raises:
        ValueError: N is not a multiple of ``block``.
    """
    import numpy as np
    import torch

    from treecredit._validation import fail

    N = len(parent)
    if N % block:
        fail("parent", f"holds {N} nodes, not a multiple of block={block}", "pad the sequence with root nodes")
    # A block's keys are its own nodes and the ancestors of its first node: in depth-first order a node's subtree
    # is one run [j, end[j]), so an ancestor j < start of any query of the block has the block's first node in
    # its subtree too. Found by walking up from that node; ascending, as sorted() would give them.
    keys: list[list[int]] = []
    for start in range(0, N, block):
        above = []
        node = parent[start]
        while node >= 0:
            above.append(node)
            node = parent[node]
        keys.append(above[::-1] + list(range(start, start + block)))
    width = max(len(k) for k in keys)
    key_index = np.array([k + [k[0]] * (width - len(k)) for k in keys], dtype=np.int64)
    valid = np.arange(width)[None, :] < np.array([len(k) for k in keys])[:, None]  # (NB, M)
    end = np.asarray(end, dtype=np.int64)
    q = np.arange(N).reshape(-1, block)[:, :, None]  # (NB, block, 1)
    j = key_index[:, None, :]  # (NB, 1, M)
    mask = (j <= q) & (q < end[key_index][:, None, :]) & valid[:, None, :]
    return TreeBlocks(torch.from_numpy(key_index), torch.from_numpy(mask), torch.from_numpy(end), block)


def tree_attention(q, k, v, blocks: TreeBlocks, *, scale: float | None = None, dropout_p: float = 0.0):
    """Attention of ``q``, ``k``, ``v`` ``(1, H, N, D)`` under ``blocks``; returns ``(1, H, N, D)``.

    ``scale`` defaults to 1/√D (as ``scaled_dot_product_attention``); ``dropout_p`` is the attention
    dropout (0 in evaluation).
    """
    import torch.nn.functional as F

    _, H, N, D = q.shape
    NB, M = blocks.key_index.shape
    qb = q[0].view(H, NB, blocks.block, D).transpose(0, 1)  # (NB,H,block,D)
    kb = k[0][:, blocks.key_index].transpose(0, 1)  # (H,NB,M,D) -> (NB,H,M,D)
    vb = v[0][:, blocks.key_index].transpose(0, 1)
    y = F.scaled_dot_product_attention(qb, kb, vb, attn_mask=blocks.mask[:, None], dropout_p=dropout_p, scale=scale)
    return y.transpose(0, 1).reshape(1, H, N, D)
