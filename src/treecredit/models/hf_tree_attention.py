"""Tree attention (:mod:`treecredit.models.tree_attention`) inside a ``transformers`` model.

``transformers`` 5.x looks each layer's attention function up by ``config._attn_implementation`` in its
``AttentionInterface`` registry and passes the model call's extra keyword arguments on to it. The
function registered here as ``"treecredit_tree"`` takes the packed trie's blocks as the keyword argument
``tree_blocks``; :func:`tree_attention_on` switches a model to it for one forward call (the backward pass
needs no switch) and back. A model whose layers do not route attention and keywords that way (an older
or custom architecture) is found by :func:`takes_tree_blocks`, which runs a 2-block probe once per policy
and compares it with the dense mask; such a model keeps the dense mask.
"""

from __future__ import annotations

from contextlib import contextmanager

NAME = "treecredit_tree"


def _attention(module, query, key, value, attention_mask, dropout: float = 0.0, scaling=None, **kwargs):
    """The ``AttentionInterface`` signature: ``query (1, H, N, D)``, ``key``/``value`` ``(1, Hkv, N, D)``;
    returns ``((1, N, H, D), None)``; ``attention_mask`` is the blocks' own mask (not read again)."""
    from treecredit.models.tree_attention import tree_attention

    blocks = kwargs.get("tree_blocks")
    if blocks is None:
        raise ValueError("tree_blocks: the treecredit_tree attention was called without the packed blocks; "
                         "it is switched on only by treecredit.models.hf_tree_attention.tree_attention_on")
    repeat = query.shape[1] // key.shape[1]  # grouped-query attention: each key head serves `repeat` heads
    if repeat > 1:
        key, value = key.repeat_interleave(repeat, dim=1), value.repeat_interleave(repeat, dim=1)
    out = tree_attention(query, key, value, blocks, scale=scaling, dropout_p=dropout)
    return out.transpose(1, 2).contiguous(), None


@contextmanager
def tree_attention_on(model):
    """Within the block, ``model`` attends with the tree attention (registered on first use)."""
    from transformers import AttentionInterface

    if NAME not in AttentionInterface._global_mapping:
        AttentionInterface.register(NAME, _attention)
    config = model.config
    before = config._attn_implementation
    config._attn_implementation = NAME
    try:
        yield
    finally:
        config._attn_implementation = before


def takes_tree_blocks(policy) -> bool:
    """Whether ``policy.model`` computes a packed trie with the tree attention exactly as with the dense
    mask (probed once on 2 blocks of a 2-row trie without gradient, then remembered on the policy)."""
    if not hasattr(policy, "_tree_blocks_ok"):
        import torch

        from treecredit.models.packing import pack_rows

        ids = torch.tensor([[3, 4, 5] * 6, [3, 5, 4] * 6]) % policy.vocab_size
        packed = pack_rows([[1, 2, 3], [1, 2, 3]], ids, [18, 18], [0, 0], policy.pad_id, block=16)
        args = (packed.ids, packed.positions)
        training = policy.model.training
        policy.model.eval()  # no dropout in the comparison
        try:
            with torch.no_grad():
                dense = policy._logits(*args, packed.attend.dense(), packed.logits_at)
                with tree_attention_on(policy.model):
                    blocks = policy._head({"input_ids": args[0], "position_ids": args[1], "use_cache": False,
                                           "attention_mask": packed.attend.mask[:, None],
                                           "tree_blocks": packed.attend}, packed.logits_at)
            policy._tree_blocks_ok = bool(torch.allclose(blocks, dense, atol=1e-4, rtol=1e-3))
        except (TypeError, ValueError, RuntimeError, KeyError):
            policy._tree_blocks_ok = False
        finally:
            policy.model.train(training)
    return policy._tree_blocks_ok
