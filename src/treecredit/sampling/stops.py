"""Stop strings matched incrementally, for any tokenizer.

A token *completes* an occurrence of a stop string when the decoded response text through it holds more
occurrences than the text before it. Decoding the whole prefix at every token costs O(T²) per row;
:class:`StopMatcher` decodes only a window of the last ``W`` tokens (W = 2·longest string + 4), twice
per token, which gives the same answer whenever an occurrence spans fewer than W tokens (every token
decodes to at least one character in the tokenizers we use; a multi-token character or an empty special
token only shortens what the window covers).

For a decode known to concatenate each token's text (:func:`treecredit.text_pieces.pieces_of`: an
``HFPolicy``'s or a byte-level / character tokenizer's) the two window texts are joins of cached pieces,
and only a window holding part of a character is decoded: the same texts, so the same positions.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any

from treecredit.text_pieces import Pieces, pieces_of

_FIND: Any = object()  # StopMatcher: look the pieces up from decode


class StopMatcher:
    """Per-row state: the last response ids and the stop strings.

    Args:
        decode: ids → text (the policy's or the backend's decoder).
        strings: the stop strings (non-empty texts).
        response: response ids already in the context (only their tail is kept).
        pieces: ``decode``'s cached token texts; by default found from ``decode``, None to decode every window.
    """

    def __init__(self, decode: Callable[[Sequence[int]], str], strings: Sequence[str],
                 response: Sequence[int] = (), pieces: Pieces | None = _FIND) -> None:
        self.decode = decode
        self.strings = tuple(s for s in strings if s)
        self.width = 2 * max((len(s) for s in self.strings), default=0) + 4
        self.ids = list(response)[-self.width:]
        self.pieces = (pieces_of(decode) if pieces is _FIND else pieces) if self.strings else None
        self._table = None if self.pieces is None else self.pieces.table.texts[self.pieces.skip]
        self.texts = [self._piece(int(i)) for i in self.ids]  # per id of the window: its piece or None
        self.lasts = frozenset(s[-1] for s in self.strings)  # a whole piece without one completes no occurrence
        self.odd = sum(text is None for text in self.texts)  # ids of the window without a usable piece

    def _piece(self, token: int) -> str | None:
        """``token``'s piece; None for a stop id, a piece holding part of a character, or no pieces."""
        if self.pieces is None or self._table is None or token in self.pieces.stop_ids:
            return None
        text = self._table.get(token, _FIND)
        if text is _FIND:
            texts = self.pieces.texts([token])
            text = None if texts is None else texts[0]
        return text

    def _text(self, end: int) -> str:
        """``decode(self.ids[:end])``, joined from the pieces when those before the first stop id are whole."""
        if self.pieces is not None:
            stops = self.pieces.stop_ids
            cut = next((k for k in range(end) if self.ids[k] in stops), end) if stops else end
            head = self.texts[:cut]
            if None not in head:
                return "".join(head)  # type: ignore[arg-type]
        return self.decode(self.ids[:end])

    def _count(self, text: str) -> int:
        return sum(text.count(s) for s in self.strings)

    def push(self, token: int) -> bool:
        """Append ``token``; True when it completes a new occurrence of a stop string."""
        if not self.strings:
            return False
        token = int(token)
        piece = self._piece(token)
        self.ids.append(token)
        self.texts.append(piece)
        self.odd += piece is None
        if len(self.ids) > self.width:
            del self.ids[0]
            self.odd -= self.texts.pop(0) is None
        if self.odd == 0 and piece is not None:  # every piece whole, no stop id: one join
            if not any(c in piece for c in self.lasts):  # an occurrence it completes would end in its piece
                return False
            text = "".join(self.texts)  # type: ignore[arg-type]
            return self._count(text) > self._count(text[: len(text) - len(piece)])
        return self._count(self._text(len(self.ids))) > self._count(self._text(len(self.ids) - 1))


    def push_all(self, tokens: Sequence[int]) -> list[int]:
        """Offsets ``t`` in ``tokens`` whose :meth:`push` (in order) returns True, all pushed: the same answers and
        state, without the per-token window updates. Only a token that :meth:`push` would not answer False at once
        (its piece holds a stop string's last character, or its window holds a token without a whole piece) is
        looked at; windows are slices of the ids laid end to end."""
        if not self.strings:
            return []
        tokens = [int(token) for token in tokens]
        if self.pieces is None or self._table is None:
            texts: list = [None] * len(tokens)
        else:
            table, stops = self._table, self.pieces.stop_ids
            texts = [None if token in stops else table.get(token, _FIND) for token in tokens]
            if _FIND in texts:
                texts = [self._piece(token) if text is _FIND else text for token, text in zip(tokens, texts)]
        width, lasts, head = self.width, self.lasts, len(self.ids)
        ids, pieces = self.ids + tokens, self.texts + texts
        hits = {text: text is None or any(c in text for c in lasts) for text in set(texts)}
        looked = [t for t, text in enumerate(texts) if hits[text]]  # tokens push looks at, if the window is whole
        odd = None
        if None in pieces:  # Nones before each id: a window holding one is looked at whatever its last piece
            odd = list(itertools.accumulate((text is None for text in pieces), initial=0))
            looked = [t for t in range(len(texts)) if hits[texts[t]] or
                      odd[head + t + 1] != odd[max(0, head + t + 1 - width)]]
        out = []
        for t in looked:
            piece = texts[t]
            i = head + t + 1  # the window after this push: ids[lo:i]
            lo = max(0, i - width)
            if piece is not None and (odd is None or odd[i] == odd[lo]):
                text = "".join(pieces[lo:i])
                if self._count(text) > self._count(text[: len(text) - len(piece)]):
                    out.append(t)
                continue
            self.ids, self.texts = ids[lo:i], pieces[lo:i]
            if self._count(self._text(i - lo)) > self._count(self._text(i - lo - 1)):
                out.append(t)
        lo = max(0, len(ids) - width)
        self.ids, self.texts = ids[lo:], pieces[lo:]
        self.odd = 0 if odd is None else odd[-1] - odd[lo]
        return out


def stop_positions(decode, strings: Sequence[str], ids: Sequence[int], start: Sequence[int] = (),
                   pieces: Pieces | None = _FIND) -> list[int]:
    """Offsets ``t`` in ``ids`` whose token completes a stop string (``start``: response ids before ``ids``;
    ``pieces``: ``decode``'s token texts, as :class:`StopMatcher` takes them). Stop strings of one character each
    (the tasks' step marks) over whole pieces are found without a matcher (:func:`_one_character_positions`)."""
    if pieces is not None and pieces is not _FIND and strings and all(len(s) == 1 for s in strings):
        found = _one_character_positions(strings, ids, start, pieces)
        if found is not None:
            return found
    return StopMatcher(decode, strings, start, pieces).push_all(ids)


def _one_character_positions(strings: Sequence[str], ids: Sequence[int], start: Sequence[int],
                             pieces: Pieces) -> list[int] | None:
    """:meth:`StopMatcher.push_all`'s answer for stop strings of one character each, or None where a token of ``ids``
    or of the matcher's window over ``start`` has no whole cached piece (or is a stop id): there the matcher decodes.
    With whole pieces the window's text is their join, and a one-character string's occurrences in it are those in
    each piece, so a token completes one exactly when its piece holds one of the characters (≈ 40 µs a segment less
    for the matcher's set-up: docs/performance.md [3a])."""
    table, stops = pieces.table.texts[pieces.skip], pieces.stop_ids
    width = 2 + 4  # StopMatcher's window for strings of one character
    chars = frozenset(strings)
    for token in start[-width:]:
        if token in stops or table.get(token) is None:
            return None
    out = []
    for t, token in enumerate(ids):
        piece = None if token in stops else table.get(token)
        if piece is None:
            return None
        if not chars.isdisjoint(piece):
            out.append(t)
    return out


def policy_pieces(policy) -> Pieces | None:
    """The pieces of ``policy.decode``: :func:`~treecredit.text_pieces.pieces_of` (a ``transformers`` policy), else
    the policy's own ``text_pieces()`` (the small GPT's character tokenizer), else None."""
    pieces = pieces_of(policy.decode)
    if pieces is None and callable(getattr(policy, "text_pieces", None)):
        pieces = policy.text_pieces()
    return pieces
