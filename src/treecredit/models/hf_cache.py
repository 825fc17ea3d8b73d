"""A ``transformers`` KV-cache layer that grows into spare room instead of concatenating every step.

``DynamicLayer.update`` concatenates the new keys and values onto the old ones, copying the whole cache
of every layer at every decoding step (9 % of a SmolLM2-135M decoding step, 17 % under load). A
:class:`GrowingLayer` keeps its keys and values as views of a buffer with spare columns and writes each
step's keys and values into the next free columns; it reallocates (with room for
``max(64, length / 2)`` more) only when the buffer is full, or when the layer does not own the buffer
it views (a shallow copy, a selected or truncated state), so a state that shares a buffer with another
is never written through; selecting rows gathers them into a new buffer with room. :func:`grow_in_place`
converts the plain dynamic layers of a cache. :func:`share_kv_heads` keeps ``transformers`` from copying
grouped key/value heads at every decoding step.
"""

from __future__ import annotations

import torch
from transformers.cache_utils import DynamicLayer


class GrowingLayer(DynamicLayer):
    """``DynamicLayer`` with preallocated room; keys/values are ``(B, H, L, D)`` views of the buffer."""

    spare = 64

    def update(self, key_states, value_states, *args, **kwargs):
        if not self.is_initialized or self.keys is None or self.keys.numel() == 0:
            return super().update(key_states, value_states, *args, **kwargs)
        n, s = self.keys.shape[-2], key_states.shape[-2]
        keys, values = self.room_for(s)
        keys[:, :, n:n + s] = key_states
        values[:, :, n:n + s] = value_states
        self.keys, self.values = keys[:, :, :n + s], values[:, :, :n + s]
        return self.keys, self.values

    def room_for(self, s: int) -> tuple:
        """``(keys, values)`` buffers ``(B, H, room, D)`` of this layer (initialized), owned by it, whose first
        ``L`` columns are its keys and values and whose room holds ``s`` more (regrown when it does not).
        The caller writes the new columns and rebinds ``keys`` / ``values`` to the longer views."""
        n = self.keys.shape[-2]
        buffer = self.__dict__.get("_buffer")
        if not (buffer is not None and buffer[2] is self and n + s <= buffer[0].shape[-2]
                and buffer[0].shape[0] == self.keys.shape[0] and self.keys.data_ptr() == buffer[0].data_ptr()
                and self.keys.stride() == buffer[0].stride() and self.values.data_ptr() == buffer[1].data_ptr()):
            b, h, _, d = self.keys.shape
            room = n + s + max(self.spare, n // 2)
            keys = self.keys.new_empty((b, h, room, d))
            values = self.values.new_empty((b, h, room, self.values.shape[-1]))
            keys[:, :, :n] = self.keys
            values[:, :, :n] = self.values
            buffer = (keys, values, self)
            self._buffer = buffer
        return buffer[0], buffer[1]

    def batch_select_indices(self, indices) -> None:
        """Keep rows ``indices``, gathered straight into the leading columns of a new buffer with room for
        ``max(spare, L / 2)`` more (the room is left untouched), so the layer grows in place at its next step
        instead of copying its whole cache again (the prefill's cache has no room; a 32-row fork of it did
        that copy at the first decoding step, in all 30 layers of SmolLM2)."""
        if not self.is_initialized or self.keys is None or self.keys.numel() == 0:
            return super().batch_select_indices(indices)
        (_, h, n, d), width = self.keys.shape, self.values.shape[-1]
        k, room = int(indices.shape[0]), n + max(self.spare, n // 2)
        keys, values = self.keys.new_empty((k, h, room, d)), self.values.new_empty((k, h, room, width))
        torch.index_select(self.keys, 0, indices, out=keys[:, :, :n])
        torch.index_select(self.values, 0, indices, out=values[:, :, :n])
        self._buffer = (keys, values, self)
        self.keys, self.values = keys[:, :, :n], values[:, :, :n]


def grow_in_place(cache):
    """``cache`` with each plain ``DynamicLayer`` turned into a :class:`GrowingLayer` (same data)."""
    for layer in getattr(cache, "layers", []):
        if type(layer) is DynamicLayer:
            layer.__class__ = GrowingLayer
    return cache


SHARED_KV_SDPA = "treecredit_sdpa"


def _sdpa_shared_kv(module, query, key, value, attention_mask, dropout=0.0, scaling=None, is_causal=None, **kwargs):
    """``transformers``' sdpa attention, except for a one-token step on CPU with a padding mask: there the
    query heads share their key/value heads through ``enable_gqa`` instead of copies of them.

    ``transformers`` copies each key/value head ``num_key_value_groups`` times (``repeat_kv``) whenever a
    mask is given on CPU — every layer, every decoding step, the whole cache (SmolLM2: 3 copies). The CPU
    kernel takes grouped heads with a mask and gives the same numbers (checked by the tests)."""
    import torch
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    if (getattr(module, "num_key_value_groups", 1) == 1 or attention_mask is None or query.shape[2] != 1
            or query.device.type != "cpu" or kwargs.get("position_bias") is not None):
        return sdpa_attention_forward(module, query, key, value, attention_mask, dropout=dropout, scaling=scaling,
                                      is_causal=is_causal, **kwargs)
    out = torch.nn.functional.scaled_dot_product_attention(query, key, value, attn_mask=attention_mask,
                                                           dropout_p=dropout, scale=scaling, enable_gqa=True)
    return out.transpose(1, 2).contiguous(), None


def share_kv_heads(model) -> bool:
    """Switch a model that uses ``sdpa`` attention to :func:`_sdpa_shared_kv` (same masks, same numbers);
    True when it did. A model on another attention, or one whose ``set_attn_implementation`` refuses the
    registered name (``ValueError``, ``AttributeError``, ``NotImplementedError``: e.g. a custom model
    class), keeps its own attention: the same numbers, with ``transformers``' copies of the shared heads."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, sdpa_mask

    config = getattr(model, "config", None)
    if getattr(config, "_attn_implementation", None) != "sdpa":
        return False
    AttentionInterface.register(SHARED_KV_SDPA, _sdpa_shared_kv)
    AttentionMaskInterface.register(SHARED_KV_SDPA, sdpa_mask)
    try:
        model.set_attn_implementation(SHARED_KV_SDPA)
    except (ValueError, AttributeError, NotImplementedError):  # refused: it keeps its own attention (above)
        return False
    return True
