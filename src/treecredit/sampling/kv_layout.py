"""The two cache layouts of the built-in adapters, as :mod:`treecredit.sampling.kv_states` reads and rebuilds them.

A list of per-layer ``(k, v)`` tensors ``(B, H, L, D)`` (the small GPT's, or its
:class:`~treecredit.models.kv_buffer.GrowingKV` layers), or a ``transformers`` cache whose ``layers`` hold
``keys`` / ``values`` ``(B, H, L, D)`` (:class:`~treecredit.models.hf_cache.GrowingLayer` among them): each
layer's keys and values (:func:`_layers`), a cache like another with new tensors or layers (:func:`_rebuild`,
:func:`_with_layers`), the joint ``(2 · layers, B, H, L, D)`` view where the layers view one buffer
(:func:`_joint`), and the layers' own stacking constructors (:func:`_stack`, :func:`_stack_all`).
"""

from __future__ import annotations

import copy

from treecredit._validation import fail


def _layers(cache) -> list:
    if isinstance(cache, (list, tuple)):
        return [tuple(kv) for kv in cache]
    if hasattr(cache, "layers"):
        return [(layer.keys, layer.values) for layer in cache.layers]
    fail("policy", f"its KV cache of type {type(cache).__name__} is not one the built-in backend can merge",
         "give the policy a concat_states(states) method, or use a GPTPolicy / HFPolicy")


def _rebuild(template, layers: list):
    if isinstance(template, (list, tuple)):
        return [(k, v) for k, v in layers]
    out = copy.copy(template)
    out.layers = []
    for layer, (k, v) in zip(template.layers, layers):
        fresh = copy.copy(layer)
        fresh.keys, fresh.values = k, v
        out.layers.append(fresh)
    return out


def _with_layers(template, layers: list):
    """A cache like ``template`` whose layers are ``layers`` (the layers themselves, not rebuilt)."""
    if isinstance(template, (list, tuple)):
        return list(layers)
    out = copy.copy(template)
    out.layers = list(layers)
    return out


def _joint(cache):
    """The ``(2 · layers, B, H, L, D)`` joint view of a cache's keys and values
    (:func:`treecredit.models.kv_joint.joint_view`: its layers view one joint buffer), or None."""
    from treecredit.models.kv_joint import joint_view

    if isinstance(cache, (list, tuple)):
        return None
    return joint_view([t for layer in cache.layers for t in (layer.keys, layer.values)])


def _joint_method(cache, name: str):
    """The layers' class's all-layer ``name`` (``stack_layers`` / ``append_layers``: a ``transformers`` cache's
    :class:`~treecredit.models.hf_cache.GrowingLayer`), or None."""
    if isinstance(cache, (list, tuple)) or not getattr(cache, "layers", None):
        return None
    return getattr(type(cache.layers[0]), name, None)


def _stack_all(cache, parts: list, width: int, total_rows: int = 0, max_row_growth: int | None = None):
    """The layers of a cache like ``cache`` holding ``parts`` (per part: its cache's layers' ``(keys, values)``,
    its cache, the columns ``cut : w`` it brings, and rows ``index`` or None) in one joint buffer
    (:meth:`~treecredit.models.hf_cache.GrowingLayer.stack_layers`), or None where the cache's layers cannot."""
    stack_layers = _joint_method(cache, "stack_layers")
    if stack_layers is None:
        return None
    sources = []
    for of, part_cache, cut, w, index in parts:
        joint = _joint(part_cache)
        sources.append((joint[:, :, :, cut:w] if joint is not None else [t[:, :, cut:w] for kv in of for t in kv],
                        index))
    return stack_layers(list(cache.layers), sources, width, total_rows, max_row_growth)


def _offers_rows(cache) -> bool:
    """Whether ``cache``'s layers can be stacked into buffers with spare rows and take rows in place: the small
    GPT's (:class:`~treecredit.models.kv_buffer.GrowingKV`), or a ``transformers`` cache whose layers are all
    filled :class:`~treecredit.models.hf_cache.GrowingLayer` (while ``hf_cache.ROWS_JOIN_IN_PLACE`` is on)."""
    if isinstance(cache, (list, tuple)):
        return bool(cache) and hasattr(type(cache[0]), "stack")
    layers = getattr(cache, "layers", None)
    return bool(layers) and all(callable(getattr(layer, "offers_spare_rows", None)) and layer.offers_spare_rows()
                                for layer in layers)


def _stack(cache, i: int, parts: list, width: int, total_rows: int = 0, max_row_growth: int | None = None):
    """Layer ``i`` of a cache like ``cache`` (:func:`_offers_rows`) holding ``parts`` (``(keys, values)`` or
    ``(keys, values, rows)``) right-aligned under ``width`` columns, in one new buffer with spare room and rows
    (``max_row_growth``, where given: the buffer's rows at most that many times the rows it holds, however many
    the hint ``total_rows`` asks for; else the layer's own bound)."""
    more = {} if max_row_growth is None else {"max_row_growth": max_row_growth}
    if isinstance(cache, (list, tuple)):
        return type(cache[0]).stack(parts, width, total_rows, **more)
    return cache.layers[i].stacked(parts, width, total_rows, **more)
