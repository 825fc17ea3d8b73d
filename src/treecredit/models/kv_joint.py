"""Every layer's keys and values in one buffer, so that rows are copied with one operation for the whole cache.

A continuous batch (:mod:`treecredit.sampling.kv_stream`) copies KV rows at each fork, join and compaction. With
each layer's keys and values in buffers of their own that is ``2 × layers`` copies (and as many zero fills) per
batch of rows, and on a small model each costs its fixed ≈ 10–25 µs however few rows it moves: on the tiny
``transformers`` Llama of the benchmarks (2 layers) an event of 1–3 rows spent most of its time there
(docs/performance.md [2t], [2x]). A *joint* buffer is one ``(2 · layers, R, H, C, D)`` block whose slices
``2i`` and ``2i + 1`` are layer ``i``'s keys and values: a cache whose layers view one such block (each layer's
keys and values the same rows and columns of its slices) is read as one ``(2 · layers, B, H, L, D)`` tensor
(:func:`joint_view`: a strided view, no copy), and its rows are copied into another block with one
``index_select`` (:func:`copy_rows_joint`). The numbers are the same: every element goes where the per-layer
copies put it, and nothing else is written.

:data:`JOINT` False turns the joint buffers and copies off (per-layer buffers and copies, as before; for
comparison in tests and benchmarks).
"""

from __future__ import annotations

import torch

JOINT = True
"""Whether stacked ``transformers`` caches get one joint buffer for all layers, and rows are copied between joint
buffers with one operation (False: a buffer per layer's keys and values, copies per layer)."""


def joint_view(tensors: list) -> torch.Tensor | None:
    """``(N, *shape)``: ``tensors`` (``N ≥ 2`` tensors of one shape, strides, dtype and storage, each at the same
    distance in memory from the one before) as one strided view (element ``[j, …]`` is ``tensors[j][…]``); None
    when they are not laid out so (or :data:`JOINT` is off)."""
    if not JOINT or len(tensors) < 2:
        return None
    first = tensors[0]
    shape, stride, offset = first.shape, first.stride(), first.storage_offset()
    step = tensors[1].storage_offset() - offset
    if step <= 0:
        return None
    storage = first.untyped_storage().data_ptr()
    for j, t in enumerate(tensors):
        if (t.storage_offset() != offset + j * step or t.shape != shape or t.stride() != stride
                or t.dtype != first.dtype or t.untyped_storage().data_ptr() != storage):
            return None
    return first.as_strided((len(tensors), *shape), (step, *stride), offset)


def copy_rows_joint(target, b: int, k: int, n: int, groups) -> None:
    """Write ``k`` rows into rows ``b : b + k``, columns ``: n`` of the joint buffer ``target`` ``(N, R, H, C, D)``
    (``b + k ≤ R``, ``n ≤ C``), each copied once from its source, with operations for all ``N`` slices at once:
    ``groups`` as :func:`treecredit.models.kv_buffer.copy_rows_into` takes them with one joint source
    ``(N, B_s, H, W_s, D)`` in place of its keys and values (zeros in front of each row's columns).

    One zero fill for every added row's leading columns (as far as the group that starts latest needs them; the
    copies then write over what is not zeros), then one ``index_select`` per run of a group's rows that land on
    consecutive added rows, straight into the buffer: groups whose rows interleave (a fork's rows from several
    kept states) took an index, an ``index_copy_`` and an ``index_fill_`` each
    (:func:`~treecredit.models.kv_buffer.runs`). The same elements either way."""
    from treecredit.models.kv_buffer import runs

    added = target[:, b:b + k, :, :n]
    zeros = max(column for *_, column in groups)
    if zeros:
        added[:, :, :, :zeros] = 0
    for source, rows, at, start, column in groups:
        source = source[:, :, :, start:start + n - column]
        to = added[:, :, :, column:]
        for first, i, j in runs(at):
            torch.index_select(source, 1, rows[i:j] if j - i < rows.shape[0] else rows, out=to[:, first:first + j - i])


def stacked_joint(parts, width: int, rows: int, room: int, like) -> torch.Tensor:
    """A new joint buffer ``(N, rows, H, room, D)`` from :data:`~treecredit.models.kv_buffer.POOL` (``like``: a
    tensor ``(·, H, ·, D)`` of the dtype and device) whose first rows hold the rows of ``parts`` in their first
    ``width`` columns, each part right-aligned (zeros in front), in order: ``parts`` are ``(source, index, count)``
    with ``source`` a joint ``(N, B_i, H, L_i ≤ width, D)`` tensor or a list of ``N`` tensors ``(B_i, H, L_i, D)``,
    ``index`` ``(K_i,)`` long or None (all ``B_i`` rows), ``count`` the rows it adds. Spare rows and columns are
    left unwritten."""
    from treecredit.models.kv_buffer import POOL

    n = len(parts[0][0])
    block = POOL.take((n, rows, like.shape[1], room, like.shape[3]), like)
    row = 0
    for source, index, count in parts:
        length = source.shape[3] if not isinstance(source, list) else source[0].shape[2]
        span, pad = slice(row, row + count), width - length
        to = block[:, span]
        if pad:
            to[:, :, :, :pad] = 0
        if isinstance(source, list):  # not one joint view: a copy per slice
            for j, tensor in enumerate(source):
                if index is None:
                    to[j, :, :, pad:width] = tensor
                else:
                    torch.index_select(tensor, 0, index, out=to[j, :, :, pad:width])
        elif index is None:
            to[:, :, :, pad:width] = source
        else:
            torch.index_select(source, 1, index, out=to[:, :, :, pad:width])
        row += count
    return block
