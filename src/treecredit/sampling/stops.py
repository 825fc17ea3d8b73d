"""Stop strings matched incrementally, for any tokenizer.

A token *completes* an occurrence of a stop string when the decoded response text through it holds more
occurrences than the text before it. Decoding the whole prefix at every token costs O(T²) per row;
:class:`StopMatcher` decodes only a window of the last ``W`` tokens (W = 2·longest string + 4), twice
per token, which gives the same answer whenever an occurrence spans fewer than W tokens (every token
decodes to at least one character in the tokenizers we use; a multi-token character or an empty special
token only shortens what the window covers).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence


class StopMatcher:
    """Per-row state: the last response ids and the stop strings.

    Args:
        decode: ids → text (the policy's or the backend's decoder).
        strings: the stop strings (non-empty texts).
        response: response ids already in the context (only their tail is kept).
    """

    def __init__(self, decode: Callable[[Sequence[int]], str], strings: Sequence[str],
                 response: Sequence[int] = ()) -> None:
        self.decode = decode
        self.strings = tuple(s for s in strings if s)
        self.width = 2 * max((len(s) for s in self.strings), default=0) + 4
        self.ids = list(response)[-self.width:]

    def _count(self, text: str) -> int:
        return sum(text.count(s) for s in self.strings)

    def push(self, token: int) -> bool:
        """Append ``token``; True when it completes a new occurrence of a stop string."""
        if not self.strings:
            return False
        self.ids.append(int(token))
        if len(self.ids) > self.width:
            del self.ids[0]
        return self._count(self.decode(self.ids)) > self._count(self.decode(self.ids[:-1]))


def stop_positions(decode, strings: Sequence[str], ids: Sequence[int], start: Sequence[int] = ()) -> list[int]:
    """Offsets ``t`` in ``ids`` whose token completes a stop string (``start``: response ids before ``ids``)."""
    matcher = StopMatcher(decode, strings, start)
    return [t for t, token in enumerate(ids) if matcher.push(token)]
