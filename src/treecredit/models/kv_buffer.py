"""Per-layer keys and values that grow into spare room instead of being concatenated every step.

The small GPT's decoding step used to concatenate each layer's cache with the new token's keys and
values, copying the whole cache at every step (30 % of a 32-row decoding step of the default GPT). A
:class:`GrowingKV` holds ``(B, H, L, D)`` views of a buffer with spare columns; :meth:`GrowingKV.extend`
writes the new columns in place when this state is the one that filled the buffer so far (copy on write
otherwise), so a state that was stepped, selected or kept before stays valid: states are never modified.
:meth:`GrowingKV.select` copies the chosen rows of the whole buffer (spare room included) when the room is
at most as long as the cache, so a selected state grows in place instead of reallocating at its next step.
"""

from __future__ import annotations

SPARE = 64


class _Buffer:
    __slots__ = ("filled", "keys", "values")

    def __init__(self, keys, values, filled: int) -> None:
        self.keys, self.values, self.filled = keys, values, filled


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

    def extend(self, keys, values) -> GrowingKV:
        """The cache with ``keys``/``values`` ``(B, H, S, D)`` appended (this one stays as it is)."""
        n, s = self.keys.shape[2], keys.shape[2]
        buffer = self._buffer
        if (buffer is None or buffer.filled != n or n + s > buffer.keys.shape[2]
                or buffer.keys.shape[0] != keys.shape[0]):
            b, h, _, d = self.keys.shape
            room = n + s + max(SPARE, n // 2)
            buffer = _Buffer(self.keys.new_empty((b, h, room, d)), self.values.new_empty((b, h, room, d)), n)
            buffer.keys[:, :, :n] = self.keys
            buffer.values[:, :, :n] = self.values
        buffer.keys[:, :, n:n + s] = keys
        buffer.values[:, :, n:n + s] = values
        buffer.filled = n + s
        return GrowingKV(buffer.keys[:, :, :n + s], buffer.values[:, :, :n + s], buffer)

    @classmethod
    def stack(cls, parts, width: int) -> GrowingKV:
        """The rows of ``parts`` (``(k, v)`` pairs ``(B_i, H, L_i, D)``, ``L_i ≤ width``, or ``(k, v, rows)``
        with ``rows (K_i,)`` long: those rows only) in one cache of ``width`` columns, each part right-aligned
        (zeros in front), written once into a new buffer with spare room (so the next :meth:`extend` writes
        in place)."""
        parts = [(p[0].index_select(0, p[2]), p[1].index_select(0, p[2])) if len(p) > 2 else p for p in parts]
        b = sum(int(k.shape[0]) for k, _ in parts)
        k0, v0 = parts[0]
        room = width + max(SPARE, width // 2)
        keys = k0.new_empty((b, k0.shape[1], room, k0.shape[3]))  # the room is left untouched (no page faults)
        values = v0.new_empty((b, v0.shape[1], room, v0.shape[3]))
        row = 0
        for k, v in parts:
            rows, pad = slice(row, row + k.shape[0]), width - k.shape[2]
            keys[rows, :, :pad] = 0
            values[rows, :, :pad] = 0
            keys[rows, :, pad:width] = k
            values[rows, :, pad:width] = v
            row += k.shape[0]
        return cls(keys[:, :, :width], values[:, :, :width], _Buffer(keys, values, width))

    def select(self, rows) -> GrowingKV:
        """The cache of ``rows (K,)`` (long), in that order; in a new buffer that keeps the spare room when the
        room is at most as long as the cache, else without room (the next :meth:`extend` makes some)."""
        n, buffer = self.keys.shape[2], self._buffer
        if (buffer is None or buffer.keys.shape[0] != self.keys.shape[0] or buffer.keys.shape[2] - n < 1
                or buffer.keys.shape[2] > 2 * n):  # mostly spare room: copying it would cost more than regrowing
            return GrowingKV(self.keys.index_select(0, rows), self.values.index_select(0, rows))
        chosen = _Buffer(buffer.keys.index_select(0, rows), buffer.values.index_select(0, rows), n)
        return GrowingKV(chosen.keys[:, :, :n], chosen.values[:, :, :n], chosen)


def growing(cache) -> list[GrowingKV]:
    """Per-layer ``(k, v)`` pairs as :class:`GrowingKV` (those already growing are kept)."""
    return [kv if isinstance(kv, GrowingKV) else GrowingKV(*kv) for kv in cache]
