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

Spare rows (a continuous batch, :mod:`treecredit.sampling.kv_stream`): :meth:`GrowingLayer.stacked` writes
rows of several caches into one new buffer with spare rows, and :meth:`GrowingLayer.append_copies` writes rows
joining the batch into them, each copied once from its source, nothing of the batch copied; ownership of the
buffer passes to the grown layer (the one it was grown from stays valid as it is, and regrows if stepped
again). :data:`ROWS_JOIN_IN_PLACE` False turns this off (rows then join by a copy of the whole batch), and so does
a cache off the CPU (:meth:`GrowingLayer.offers_spare_rows`: on a GPU spare rows are allocated memory). Spare rows
are bounded by the rows a buffer holds (:meth:`GrowingLayer.stacked`, :meth:`GrowingLayer.room_for`), since kept
states hold earlier buffers alive.
"""

from __future__ import annotations

import copy
import weakref

import torch
from transformers.cache_utils import DynamicLayer

from treecredit.models import kv_buffer
from treecredit.models.kv_buffer import copy_rows_into, stacked_buffers

ROWS_JOIN_IN_PLACE = True
"""Whether :class:`GrowingLayer` caches on the CPU offer spare rows to a continuous batch (False: the stream copies
the whole batch at every join, as before spare rows; kept for comparison in tests and benchmarks)."""


class _Room:
    """A layer's buffer: ``keys`` / ``values`` ``(R, H, C, D)``; ``owner`` a weak reference to the one layer that
    may write into it (a weak one: a strong one would make a cycle that only the garbage collector frees)."""

    __slots__ = ("keys", "owner", "values")

    def __init__(self, keys, values, owner) -> None:
        self.keys, self.values, self.owner = keys, values, weakref.ref(owner)


class GrowingLayer(DynamicLayer):
    """``DynamicLayer`` with preallocated room; keys/values are ``(B, H, L, D)`` views of the buffer's first
    ``B`` rows and ``L`` columns (the buffer may have more rows: spare rows for rows joining a batch)."""

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

    def _owned(self) -> _Room | None:
        """This layer's buffer when it owns it and its keys and values are the buffer's leading rows and columns."""
        room = self.__dict__.get("_buffer")
        if room is None or room.owner() is not self or self.keys is None:
            return None
        keys, values = self.keys, self.values
        if (keys.shape[0] > room.keys.shape[0] or keys.data_ptr() != room.keys.data_ptr()
                or keys.stride() != room.keys.stride() or values.data_ptr() != room.values.data_ptr()
                or values.stride() != room.values.stride()):
            return None
        return room

    def room_for(self, s: int) -> tuple:
        """``(keys, values)`` buffers ``(B, H, room, D)`` of this layer (initialized), owned by it, whose first
        ``L`` columns are its keys and values and whose room holds ``s`` more (regrown when it does not: with
        spare rows when it owned a buffer with some, at most :func:`~treecredit.models.kv_buffer.spare_rows` of
        its ``B`` rows, not all the old buffer's: kept states may hold the old buffer, and a stream's row hint
        would otherwise be copied into every regrown buffer; else without).
        The caller writes the new columns and rebinds ``keys`` / ``values`` to the longer views."""
        (b, h, n, d), room = self.keys.shape, self._owned()
        if room is None or n + s > room.keys.shape[-2]:
            rows = b if room is None else min(int(room.keys.shape[0]), b + kv_buffer.spare_rows(b))
            width = n + s + max(self.spare, n // 2)
            keys = kv_buffer.POOL.take((rows, h, width, d), self.keys)
            values = kv_buffer.POOL.take((rows, h, width, self.values.shape[-1]), self.values)
            keys[:b, :, :n] = self.keys
            values[:b, :, :n] = self.values
            room = _Room(keys, values, self)
            self._buffer = room
        return room.keys[:b], room.values[:b]

    def batch_select_indices(self, indices) -> None:
        """Keep rows ``indices``, gathered straight into the leading columns of a new buffer with room for
        ``max(spare, L / 2)`` more (the room is left untouched), so the layer grows in place at its next step
        instead of copying its whole cache again (the prefill's cache has no room; a 32-row fork of it did
        that copy at the first decoding step, in all 30 layers of SmolLM2)."""
        if not self.is_initialized or self.keys is None or self.keys.numel() == 0:
            return super().batch_select_indices(indices)
        (_, h, n, d), width = self.keys.shape, self.values.shape[-1]
        k, room = int(indices.shape[0]), n + max(self.spare, n // 2)
        keys = kv_buffer.POOL.take((k, h, room, d), self.keys)
        values = kv_buffer.POOL.take((k, h, room, width), self.values)
        torch.index_select(self.keys, 0, indices, out=keys[:, :, :n])
        torch.index_select(self.values, 0, indices, out=values[:, :, :n])
        self._buffer = _Room(keys, values, self)
        self.keys, self.values = keys[:, :, :n], values[:, :, :n]

    def offers_spare_rows(self) -> bool:
        """Whether copies of this layer get spare rows for rows joining a batch (:meth:`stacked`,
        :meth:`append_copies`): :data:`ROWS_JOIN_IN_PLACE` is on, the layer holds keys and values, and they are
        on the CPU. Elsewhere (a GPU) an allocation's spare rows are memory held whether written or not (on a
        CPU, pages never written cost address space only), and kept states hold several buffers, so the cache
        keeps no spare rows there and rows join by a copy of the batch, as with the flag off."""
        keys = self.keys if self.is_initialized else None
        return (ROWS_JOIN_IN_PLACE and keys is not None and keys.dim() == 4 and self.values is not None
                and keys.device.type == "cpu")

    def spare_rows(self) -> int:
        """Rows :meth:`append_copies` can still add in place (0 unless this layer owns its buffer and
        :meth:`offers_spare_rows`)."""
        room = self._owned() if self.offers_spare_rows() else None
        return 0 if room is None else int(room.keys.shape[0]) - int(self.keys.shape[0])

    def append_copies(self, k: int, groups) -> GrowingLayer | None:
        """A copy of this layer with ``k`` rows added after its rows, each copied once from its source into this
        buffer's spare rows, which the copy then owns (this layer stays as it is, and regrows if it is stepped
        again); None where there are fewer than ``k`` spare rows. ``groups``: as
        :meth:`treecredit.models.kv_buffer.GrowingKV.append_copies` takes them."""
        if self.spare_rows() < k:
            return None
        room = self.__dict__["_buffer"]
        (b, _, n, _) = self.keys.shape
        copy_rows_into(room.keys, room.values, b, k, n, groups)
        grown = copy.copy(self)
        grown.keys, grown.values = room.keys[:b + k, :, :n], room.values[:b + k, :, :n]
        room.owner = weakref.ref(grown)
        return grown

    def stacked(self, parts, width: int, total_rows: int = 0, max_row_growth: int | None = None) -> GrowingLayer:
        """A copy of this layer (its class and settings) holding the rows of ``parts`` in a new buffer with
        spare columns and rows, which it owns: ``parts`` as :meth:`treecredit.models.kv_buffer.GrowingKV.stack`
        takes them (``(keys, values)`` ``(B_i, H, L_i ≤ width, D)``, or with ``rows (K_i,)`` long),
        right-aligned under ``width`` columns (zeros in front). Rows in all: ``B + spare_rows(B)``
        (:func:`~treecredit.models.kv_buffer.spare_rows`), or up to ``total_rows`` (a stream's row hint) where
        that is more, the hint counted only up to :data:`~treecredit.models.kv_buffer.STACKED_MAX_ROW_GROWTH`
        (2) × ``B``: kept states hold the buffers of earlier batches, and buffers sized for the stream's largest
        batch whatever their own rows made a 16 × 8 entropy tree's live cache 2.2× as large (docs/performance.md
        [2i]); ``max_row_growth``, where given, replaces it (a stream's first buffer:
        ``kv_stream.START_MAX_ROW_GROWTH``)."""
        growth = kv_buffer.STACKED_MAX_ROW_GROWTH if max_row_growth is None else max_row_growth
        keys, values, b = stacked_buffers(parts, width, total_rows, max_row_growth=growth)
        out = copy.copy(self)
        out.keys, out.values = keys[:b, :, :width], values[:b, :, :width]
        out._buffer = _Room(keys, values, out)
        return out


    @staticmethod
    def stack_layers(layers, parts, width: int, total_rows: int = 0, max_row_growth: int | None = None) -> list | None:
        """Copies of ``layers`` (every layer of a cache, each a :class:`GrowingLayer`) holding the rows of ``parts`` in
        one joint buffer (:mod:`treecredit.models.kv_joint`: layer ``i``'s keys and values are its slices ``2i`` and
        ``2i + 1``), sized as :meth:`stacked` sizes each layer's buffers, each copy owning its slices; so that later
        copies of these rows take one operation for all layers. ``parts``: ``(source, index)`` each, ``source`` a
        joint ``(2 · layers, B_i, H, L_i ≤ width, D)`` tensor (:func:`~treecredit.models.kv_joint.joint_view`) or the
        list of the part's keys and values per layer (``[k_0, v_0, k_1, …]``), ``index`` ``(K_i,)`` long or None
        (all rows). None where the layers' keys and values differ in heads, head size, dtype or device (or
        :data:`~treecredit.models.kv_joint.JOINT` is off): the caller stacks each layer."""
        from treecredit.models import kv_joint

        like = layers[0].keys
        if not kv_joint.JOINT or any(t.shape[1] != like.shape[1] or t.shape[3] != like.shape[3]
                                     or t.dtype != like.dtype or t.device != like.device
                                     for layer in layers for t in (layer.keys, layer.values)):
            return None
        counts = [int(index.shape[0]) if index is not None else int(source[0].shape[0]) for source, index in parts]
        b = sum(counts)  # sized as stacked() sizes each layer's buffers
        growth = kv_buffer.STACKED_MAX_ROW_GROWTH if max_row_growth is None else max_row_growth
        rows, room = kv_buffer.stacked_size(b, width, total_rows, growth)
        block = kv_joint.stacked_joint([(source, index, count) for (source, index), count in zip(parts, counts)],
                                       width, rows, room, like)
        out = []
        for i, layer in enumerate(layers):
            fresh = copy.copy(layer)
            keys, values = block[2 * i], block[2 * i + 1]
            fresh.keys, fresh.values = keys[:b, :, :width], values[:b, :, :width]
            fresh._buffer = _Room(keys, values, fresh)
            out.append(fresh)
        return out

    @staticmethod
    def append_layers(layers, k: int, groups) -> list | None:
        """Copies of ``layers`` (every layer of a cache) with ``k`` rows added after their rows, as
        :meth:`append_copies` adds them to each, with one copy for all layers: where the buffers the layers own are
        one joint buffer (:meth:`stack_layers`) with ``k`` spare rows. ``groups``: as :meth:`append_copies` takes
        them with one joint source ``(2 · layers, B_s, H, W_s, D)`` in place of each one's keys and values. None
        where the buffers are not so (the caller copies per layer)."""
        from treecredit.models import kv_joint

        rooms = [layer._owned() if layer.offers_spare_rows() else None for layer in layers]
        (b, _, n, _) = layers[0].keys.shape
        if any(room is None or int(room.keys.shape[0]) - b < k or layer.keys.shape[0] != b or layer.keys.shape[2] != n
               for layer, room in zip(layers, rooms)):
            return None
        target = kv_joint.joint_view([t for room in rooms for t in (room.keys, room.values)])
        if target is None:
            return None
        kv_joint.copy_rows_joint(target, b, k, n, groups)
        out = []
        for layer, room in zip(layers, rooms):
            grown = copy.copy(layer)
            grown.keys, grown.values = room.keys[:b + k, :, :n], room.values[:b + k, :, :n]
            room.owner = weakref.ref(grown)
            out.append(grown)
        return out


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
