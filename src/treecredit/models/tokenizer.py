"""A character tokenizer with a fixed vocabulary for the embedded tasks.

Ids: ``0`` = ``<pad>``, ``1`` = ``<bos>`` (starts every prompt), ``2`` = ``<eos>``, then one id per
character of the alphabet in order. The vocabulary never depends on data, so a checkpoint's ids stay
valid for every task that uses the same alphabet.
"""

from __future__ import annotations

from treecredit._validation import fail

DEFAULT_ALPHABET = "0123456789+-*=;, >:"
SPECIALS = ("<pad>", "<bos>", "<eos>")


class CharTokenizer:
    """Maps each alphabet character to one id; specials first (pad 0, bos 1, eos 2)."""

    pad_id = 0
    bos_id = 1
    eos_id = 2

    def __init__(self, alphabet: str = DEFAULT_ALPHABET) -> None:
        if len(set(alphabet)) != len(alphabet) or not alphabet:
            fail("alphabet", f"{alphabet!r} is empty or repeats a character", "pass each character once")
        self.alphabet = alphabet
        self._ids = {ch: i + len(SPECIALS) for i, ch in enumerate(alphabet)}

    @property
    def vocab_size(self) -> int:
        return len(SPECIALS) + len(self.alphabet)

    def encode(self, text: str) -> list[int]:
        """Ids of the characters of ``text`` (no specials added)."""
        try:
            return [self._ids[ch] for ch in text]
        except KeyError as exc:
            fail("text", f"character {exc.args[0]!r} is not in the tokenizer's alphabet {self.alphabet!r}",
                 "build the CharTokenizer with an alphabet covering the task's characters")

    def encode_prompt(self, text: str) -> list[int]:
        """``<bos>`` followed by the ids of ``text``."""
        return [self.bos_id] + self.encode(text)

    def decode(self, ids) -> str:
        """Text of ``ids``; specials are dropped (pad and bos) or end the text (eos)."""
        out = []
        for i in ids:
            i = int(i)
            if i == self.eos_id:
                break
            if i >= len(SPECIALS):
                out.append(self.alphabet[i - len(SPECIALS)])
        return "".join(out)

    def token_id(self, text: str) -> int:
        """The id of the single character ``text``."""
        ids = self.encode(text)
        if len(ids) != 1:
            fail("text", f"{text!r} is {len(ids)} characters, expected 1", "pass a single character")
        return ids[0]
