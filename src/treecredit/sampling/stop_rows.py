"""Stop strings of a batch's rows, checked without a matcher at the tokens where that is exact.

:class:`~treecredit.sampling.stops.StopMatcher` answers, for each token, whether it completes a new occurrence
of a stop string in the window of the row's last ``W`` ids; made for every row and pushed at every token of
every row with stop strings (the tree's rows stop at step ends), it cost half the tree's drawing time at 64
prompts × 8 (≈ 3 µs a token, ≈ 15 µs a row made).

Where the decode joins token texts (*pieces*, :mod:`treecredit.text_pieces`) and every piece of the window is
whole text, the matcher compares the string counts of the joined window with and without the new piece. An
occurrence the new token completes then ends inside the new piece (``str.count`` scans left to right without
overlaps: the scans with and without the new piece agree on every occurrence ending before it, and any further
one ends in it), so it holds the string's last character: a token whose piece is whole and holds none of the
strings' last characters (*silent*, :class:`QuietTokens`) completes none. :class:`RowStops` answers a row's
tokens so: False for a silent token, and for another token with a whole piece the matcher's own comparison on
the window's pieces, while the window holds only whole pieces (it stays so: each such token adds a whole
piece). At any other token (a piece that is part of a character, a stop id of the pieces, a window not yet
whole) it asks a :class:`StopMatcher` made from the row's last ids (kept while it is pushed at every token):
a matcher's answer depends only on the window. The same answers as a matcher pushed at every token
(``tests/sampling/test_stop_rows.py``). Rows whose decode has no pieces push a matcher at every token, as before.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from treecredit.sampling.stops import StopMatcher
from treecredit.text_pieces import Pieces


class QuietTokens:
    """The pieces of ids under ``pieces`` for ``strings``: per id ``(piece or None, silent)`` (None: a stop id of
    the pieces or part of a character, as a matcher's window holds them; silent: a whole piece holding no
    string's last character), looked up once each (:meth:`Pieces.texts`). ``width``: a matcher's window."""

    __slots__ = ("_known", "ends", "pieces", "strings", "width")

    def __init__(self, decode: Callable[[Sequence[int]], str], strings: Sequence[str], pieces: Pieces) -> None:
        self.pieces, self.strings = pieces, tuple(s for s in strings if s)
        self.ends = frozenset(s[-1] for s in self.strings)
        self.width = StopMatcher(decode, self.strings, (), pieces).width
        self._known: dict[int, tuple] = {}

    def __getitem__(self, token: int) -> tuple:
        known = self._known.get(token)
        if known is None:
            known = self._known[token] = self._look_up(token)
        return known

    def _look_up(self, token: int) -> tuple:
        if token in self.pieces.stop_ids:
            return None, False
        texts = self.pieces.texts([token])
        piece = None if texts is None else texts[0]
        return piece, piece is not None and not any(ch in self.ends for ch in piece)

    def count(self, text: str) -> int:
        return sum(text.count(s) for s in self.strings)


def quiet_tokens(cache: dict, decode, strings: Sequence[str], pieces: Pieces | None) -> QuietTokens | None:
    """The :class:`QuietTokens` of ``strings`` under ``pieces`` from ``cache`` (one per strings, pieces' table, skip
    setting and stop ids; a cached one holds its pieces, so the table's id is not reused); None without pieces."""
    if pieces is None:
        return None
    key = (tuple(strings), id(pieces.table), pieces.skip, pieces.stop_ids)
    quiet = cache.get(key)
    if quiet is None:
        quiet = cache[key] = QuietTokens(decode, strings, pieces)
    return quiet


def window_is_whole(quiet: QuietTokens | None, response: Sequence[int]) -> tuple[tuple, bool]:
    """``(tail, whole)`` for rows after ``response``: its last ``quiet.width`` ids, and whether each has a whole
    piece (for :class:`RowStops`; ``((), False)`` without ``quiet``)."""
    if quiet is None:
        return (), False
    tail = tuple(response[len(response) - quiet.width:] if len(response) > quiet.width else response)
    return tail, all(quiet[int(i)][0] is not None for i in tail)


class RowStops:
    """One row's stop strings, answered as :meth:`StopMatcher.push` answers them (module docstring).

    Args:
        decode, strings: as :class:`StopMatcher` takes them.
        response: response ids already in the row's context, before the tokens pushed here.
        quiet: the :class:`QuietTokens` of ``strings`` under ``decode``'s pieces, or None (no pieces: a matcher
            pushed at every token).
        tail, whole: :func:`window_is_whole` of ``response`` (with ``quiet``).
    """

    __slots__ = ("_matcher", "_whole", "decode", "quiet", "strings", "tail")

    def __init__(self, decode: Callable[[Sequence[int]], str], strings: Sequence[str], response: Sequence[int],
                 quiet: QuietTokens | None, tail: tuple = (), whole: bool = False) -> None:
        self.decode, self.strings, self.quiet = decode, tuple(strings), quiet
        self.tail, self._whole = tail, whole and quiet is not None
        # without pieces: one matcher pushed at every token; else made when needed (the window's last ids)
        self._matcher = StopMatcher(decode, self.strings, response, None) if quiet is None else None

    def push(self, token: int, tokens: list) -> bool:
        """True when ``token`` completes a new occurrence of a stop string; ``tokens``: the ids pushed so far,
        ``token`` last (the row's segment; read where the window's ids are needed)."""
        quiet = self.quiet
        if quiet is None:  # no pieces: the matcher, at every token
            return self._matcher.push(token)  # type: ignore[union-attr]
        if self._whole:
            piece, silent = quiet[token]
            if silent:
                return False
            if piece is not None:  # the matcher's comparison, on the window's whole pieces
                width, n = quiet.width, len(tokens)
                window = tokens[-width:] if n >= width else self.tail[max(0, len(self.tail) + n - width):] + tuple(
                    tokens)
                text = "".join([quiet[i][0] for i in window])
                return quiet.count(text) > quiet.count(text[: len(text) - len(piece)])
            self._matcher = None  # tokens were answered without it: made again from the last ids
        matcher = self._matcher
        if matcher is None:
            before = (self.tail + tuple(tokens[-quiet.width - 1:-1]))[-quiet.width:]
            matcher = self._matcher = StopMatcher(self.decode, self.strings, before, quiet.pieces)
        done = matcher.push(token)
        self._whole = matcher.odd == 0
        return done
