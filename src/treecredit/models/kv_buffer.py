"""Per-layer keys and values that grow into spare room instead of being concatenated every step.

The small GPT's decoding step used to concatenate each layer's cache with the new token's keys and
values, copying the whole cache at every step (30 % of a 32-row decoding step of the default GPT). A
:class:`GrowingKV` holds ``(B, H, L, D)`` views of a buffer with spare columns; :meth:`GrowingKV.extend`
writes the new columns in place when this state is the one that filled the buffer so far (copy on write
otherwise), so a state that was stepped, selected or kept before stays valid: states are never modified.
:meth:`GrowingKV.select` copies the chosen rows of the whole buffer (spare room included) when the room is
at most as long as the cache, so a selected state grows in place instead of reallocating at its next step.

Buffers come from :data:`POOL` (:class:`BufferPool`): memory of buffers that nothing holds any more is reused
for new ones instead of being returned to the system and faulted in again page by page (on the small GPT a
sampling call's copies of rows cost mostly those page faults: docs/sampling.md, "Reused KV buffers").
"""

from __future__ import annotations

import bisect
import threading

import torch

SPARE = 64


class BufferPool:
    """Flat tensors this module allocated, handed out again once nothing but the pool holds their memory.

    :meth:`take` returns a tensor of the asked shape viewing the smallest free block that fits (the same
    dtype and device), else a new block. A block is free when its storage is used as when the pool made it
    (``torch._C._storage_Use_Count``): every view of it (a cache's keys, a kept state's, a truncated copy's)
    holds the storage, so memory that anything can still read is never handed out. Free blocks of at most
    ``keep_bytes`` in all are held (the largest others are dropped, their memory returned to the system);
    :meth:`clear` drops every free block. A reused block holds old keys and values, never read: every column
    a cache shows is written first (as with ``new_empty``)."""

    def __init__(self, keep_bytes: int = 1 << 30) -> None:
        self.keep_bytes = keep_bytes
        self.enabled = hasattr(torch._C, "_storage_Use_Count")
        self._blocks: list = []  # [numel, dtype, device, storage handle, use count when free, block, bytes], by numel
        self._lock = threading.Lock()
        self.reused = 0  # blocks handed out again (tests, benchmarks)

    @staticmethod
    def _free(entry) -> bool:
        return torch._C._storage_Use_Count(entry[3]) <= entry[4]

    def take(self, shape: tuple, like) -> torch.Tensor:
        """An uninitialised tensor of ``shape`` with ``like``'s dtype and device."""
        need = 1
        for size in shape:
            need *= int(size)
        if not self.enabled:
            return like.new_empty(shape)
        dtype, device = like.dtype, like.device
        with self._lock:
            blocks = self._blocks
            for i in range(bisect.bisect_left(blocks, need, key=lambda e: e[0]), len(blocks)):
                entry = blocks[i]
                if entry[1] == dtype and entry[2] == device and self._free(entry):
                    self.reused += 1
                    return _shaped(entry[5], shape)
            self._trim(self.keep_bytes - need * like.element_size())
            block = like.new_empty((need,))
            handle = block.untyped_storage()._cdata
            size = need * block.element_size()
            entry = [need, dtype, device, handle, torch._C._storage_Use_Count(handle), block, size]
            bisect.insort(self._blocks, entry, key=lambda e: e[0])
            return _shaped(block, shape)

    def _trim(self, keep: int) -> None:
        """Drop free blocks, the largest first, until those left hold at most ``keep`` bytes."""
        free = sorted((entry for entry in self._blocks if self._free(entry)), key=lambda e: -e[6])
        excess, drop = sum(entry[6] for entry in free) - keep, set()
        for entry in free:
            if excess <= 0:
                break
            drop.add(id(entry))
            excess -= entry[6]
        if drop:
            self._blocks = [entry for entry in self._blocks if id(entry) not in drop]

    def clear(self) -> None:
        """Drop every free block (their memory goes back to the system)."""
        with self._lock:
            self._trim(0)


def _shaped(block, shape: tuple) -> torch.Tensor:
    """A contiguous tensor of ``shape`` on the leading part of ``block``'s memory, not a view of ``block``
    (no ``_base``: the views of it a cache holds have it as their base, as with ``new_empty``;
    :func:`treecredit.models.compiled_step.buffer_of` finds the buffer that way)."""
    return block.new_empty((0,)).set_(block.untyped_storage(), 0, shape)


POOL = BufferPool()


STACKED_MAX_ROW_GROWTH = 2
"""How far a stream's row hint may grow a stacked buffer: its rows reserved for the hint at most this many times the
rows it holds (a ratio, buffer rows per held row; 0: the whole hint, uncapped)."""


def spare_rows(rows: int) -> int:
    """Spare rows of a new buffer for ``rows`` rows (room for rows joining a continuous batch)."""
    return max(16, rows // 2)


def stacked_size(b: int, width: int, total_rows: int = 0, max_row_growth: int = 0, least_spare: int = 0) -> tuple:
    """``(rows, columns)`` of a new stacked buffer holding ``b`` rows of ``width`` columns (:func:`stacked_buffers`)."""
    if max_row_growth:
        total_rows = min(total_rows, max(max_row_growth * b, b + least_spare))
    return max(b + spare_rows(b), total_rows), width + max(SPARE, width // 2)


def stacked_buffers(parts, width: int, total_rows: int = 0, max_row_growth: int = 0, least_spare: int = 0) -> tuple:
    """``(keys, values, B)``: new buffers ``(R, H, room, D)`` from :data:`POOL` whose first ``B`` rows hold the rows
    of ``parts`` (as :meth:`GrowingKV.stack` takes them) in their first ``width`` columns, each part right-aligned
    (zeros in front); ``room = width + max(SPARE, width / 2)``, ``R = max(B + spare_rows(B), total_rows)``, with
    ``total_rows`` counted only up to ``max(max_row_growth · B, B + least_spare)`` where ``max_row_growth`` (buffer
    rows per held row, as :data:`STACKED_MAX_ROW_GROWTH`) is given. The spare rows and columns are left unwritten (no
    page faults until used)."""
    counts = [int(p[2].shape[0]) if len(p) > 2 else int(p[0].shape[0]) for p in parts]
    b = sum(counts)
    k0, v0 = parts[0][0], parts[0][1]
    spare, room = stacked_size(b, width, total_rows, max_row_growth, least_spare)
    keys = POOL.take((spare, k0.shape[1], room, k0.shape[3]), k0)
    values = POOL.take((spare, v0.shape[1], room, v0.shape[3]), v0)
    row = 0
    for part, count in zip(parts, counts):
        k, v = part[0], part[1]
        rows, pad = slice(row, row + count), width - k.shape[2]
        if pad:
            keys[rows, :, :pad] = 0
            values[rows, :, :pad] = 0
        if len(part) > 2:  # the chosen rows gathered straight into the buffer: one pass, no temporary
            torch.index_select(k, 0, part[2], out=keys[rows, :, pad:width])
            torch.index_select(v, 0, part[2], out=values[rows, :, pad:width])
        else:
            keys[rows, :, pad:width] = k
            values[rows, :, pad:width] = v
        row += count
    return keys, values, b


def copy_rows_into(keys, values, b: int, k: int, n: int, groups) -> None:
    """Write ``k`` rows into rows ``b : b + k``, columns ``: n`` of the buffers ``keys`` / ``values`` ``(R, H, C, D)``
    (``b + k ≤ R``, ``n ≤ C``), each copied once from its source: ``groups`` as :meth:`GrowingKV.append_copies`
    takes them (zeros in front of each row's columns). One zero fill of the added rows' leading columns (as far as
    the group that starts latest needs them; the copies write over the rest), then one ``index_select`` per run of
    a group's rows that land on consecutive added rows, straight into the buffer (:func:`runs`)."""
    zeros = max(column for *_, column in groups)
    spans = [runs(at) for *_, at, _, _ in groups]
    for i, mine in enumerate((keys, values)):
        added = mine[b:b + k, :, :n]
        if zeros:
            added[:, :, :zeros] = 0
        for (*tensors, rows, _, start, column), spans_of in zip(groups, spans):
            source, to = tensors[i][:, :, start:start + n - column], added[:, :, column:]
            for first, lo, hi in spans_of:
                torch.index_select(source, 0, rows[lo:hi] if hi - lo < rows.shape[0] else rows,
                                   out=to[first:first + hi - lo])


def runs(at) -> list:
    """``(first added row, i, j)`` per maximal run of ``at (K,)`` that counts up by one: entries ``i : j`` go to added
    rows ``first : first + j − i``. Rows of several sources that interleave (a fork's rows from several kept states)
    took an index, an ``index_copy_`` and an ``index_fill_`` a source, ≈ 115 µs on this CPU, against ≈ 15 µs a run
    (docs/performance.md [2z]); ``at`` is read as one list (a handful of rows)."""
    positions = at.tolist()
    out, i = [], 0
    for j in range(1, len(positions) + 1):
        if j == len(positions) or positions[j] != positions[j - 1] + 1:
            out.append((positions[i], i, j))
            i = j
    return out


class _Buffer:
    __slots__ = ("filled", "keys", "rows", "values")

    def __init__(self, keys, values, filled: int, rows: int) -> None:
        self.keys, self.values, self.filled, self.rows = keys, values, filled, rows


class GrowingKV:
    """One layer's cache: ``kv[0]`` keys, ``kv[1]`` values, ``(B, H, L, D)`` each (iterable as a pair)."""

    __slots__ = ("_buffer", "keys", "values")

    def __init__(self, keys, values, buffer: _Buffer | None = None) -> None:
        self.keys, self.values, self._buffer = keys, values, buffer

    def __getitem__(self, i: int):
        return (self.keys, self.values)[i]

    def __iter__(self):
        return iter((self.keys, self.values))

    def __len__(self) -> int:
        return 2

    def _latest(self) -> bool:
        """Whether this state is the one that filled its buffer so far (in rows and columns)."""
        buffer = self._buffer
        return buffer is not None and buffer.filled == self.keys.shape[2] and buffer.rows == self.keys.shape[0]

    def extend(self, keys, values) -> GrowingKV:
        """The cache with ``keys``/``values`` ``(B, H, S, D)`` appended (this one stays as it is)."""
        n, s, b = self.keys.shape[2], keys.shape[2], self.keys.shape[0]
        buffer = self._buffer
        if not self._latest() or n + s > buffer.keys.shape[2] or b != keys.shape[0]:
            _, h, _, d = self.keys.shape
            room, rows = n + s + max(SPARE, n // 2), b + spare_rows(b)
            buffer = _Buffer(POOL.take((rows, h, room, d), self.keys), POOL.take((rows, h, room, d), self.values), n, b)
            buffer.keys[:b, :, :n] = self.keys
            buffer.values[:b, :, :n] = self.values
        buffer.keys[:b, :, n:n + s] = keys
        buffer.values[:b, :, n:n + s] = values
        buffer.filled = n + s
        return GrowingKV(buffer.keys[:b, :, :n + s], buffer.values[:b, :, :n + s], buffer)

    def spare_rows(self) -> int:
        """Rows :meth:`append_copies` can still add in place (0 unless this is the latest state of its buffer)."""
        return int(self._buffer.keys.shape[0]) - int(self.keys.shape[0]) if self._latest() else 0

    def append_copies(self, k: int, groups) -> GrowingKV | None:
        """The cache with ``k`` rows added after its rows, each copied once, straight from another cache into
        this buffer's spare rows (this one stays as it is); None where that cannot be done in place (not the
        latest state of its buffer, or too few spare rows).

        ``groups``: ``(keys, values, rows, at, start, column)`` each: ``keys``/``values`` ``(B_s, H, W_s, D)``
        (any cache's tensors, e.g. a kept state's), ``rows (K_s,)`` and ``at (K_s,)`` long: source row
        ``rows[j]`` becomes added row ``at[j]`` (0 ≤ at < k); its columns ``start : start + n − column`` go to
        columns ``column : n`` (``n`` this cache's columns), zeros in front. Every added row is in one group."""
        n, b = self.keys.shape[2], self.keys.shape[0]
        buffer = self._buffer
        if not self._latest() or b + k > buffer.keys.shape[0]:
            return None
        copy_rows_into(buffer.keys, buffer.values, b, k, n, groups)
        buffer.rows = b + k
        return GrowingKV(buffer.keys[:b + k, :, :n], buffer.values[:b + k, :, :n], buffer)

    @classmethod
    def stack(cls, parts, width: int, total_rows: int = 0, max_row_growth: int | None = None) -> GrowingKV:
        """The rows of ``parts`` (``(k, v)`` pairs ``(B_i, H, L_i, D)``, ``L_i ≤ width``, or ``(k, v, rows)``
        with ``rows (K_i,)`` long: those rows only) in one cache of ``width`` columns, each part right-aligned
        (zeros in front), written once into a new buffer with spare room (so the next :meth:`extend` writes
        in place) and spare rows: :func:`spare_rows`, or up to ``total_rows`` rows in all where that is more (a
        continuous batch that expects that many rows), the hint counted only up to ``2 B`` as a ``transformers``
        layer counts it (:meth:`~treecredit.models.hf_cache.GrowingLayer.stacked`), or ``B +`` :data:`SPARE` where
        that is more: kept states hold the buffers of earlier batches, and a buffer reused from :data:`POOL` has its
        pages in memory, written or not (a 64 × 8 tree call of the small GPT allocated 932 MiB of buffers with
        the whole hint, 380 MiB so; 256 × 8: 4.8 and 1.4 GiB). The floor keeps a small tree's forks in its first
        buffer: a fork's siblings copied after the step into a full buffer take its ended rows along
        (``kv_stream._add_twins``), so there more rows would be stepped than without sibling copies.
        ``max_row_growth``, where given, replaces :data:`STACKED_MAX_ROW_GROWTH` (a stream's first buffer:
        ``kv_stream.START_MAX_ROW_GROWTH``)."""
        growth = STACKED_MAX_ROW_GROWTH if max_row_growth is None else max_row_growth
        keys, values, b = stacked_buffers(parts, width, total_rows, max_row_growth=growth, least_spare=SPARE)
        return cls(keys[:b, :, :width], values[:b, :, :width], _Buffer(keys, values, width, b))

    def select(self, rows) -> GrowingKV:
        """The cache of ``rows (K,)`` (long), in that order; in a new buffer that keeps the spare room when the
        room is at most as long as the cache, else without room (the next :meth:`extend` makes some)."""
        n, buffer = self.keys.shape[2], self._buffer
        if (buffer is None or buffer.keys.shape[2] - n < 1
                or buffer.keys.shape[2] > 2 * n):  # mostly spare room: copying it would cost more than regrowing
            return GrowingKV(self.keys.index_select(0, rows), self.values.index_select(0, rows))
        k = int(rows.shape[0])
        shape = (k + spare_rows(k), *buffer.keys.shape[1:])
        chosen = _Buffer(POOL.take(shape, buffer.keys), POOL.take(shape, buffer.values), n, k)
        torch.index_select(buffer.keys, 0, rows, out=chosen.keys[:k])  # the spare rows are left untouched
        torch.index_select(buffer.values, 0, rows, out=chosen.values[:k])
        return GrowingKV(chosen.keys[:k, :, :n], chosen.values[:k, :, :n], chosen)


def growing(cache) -> list[GrowingKV]:
    """Per-layer ``(k, v)`` pairs as :class:`GrowingKV` (those already growing are kept)."""
    return [kv if isinstance(kv, GrowingKV) else GrowingKV(*kv) for kv in cache]
