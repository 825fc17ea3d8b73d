"""Each token id's text decoded alone once, for the decoders under which texts concatenate.

Step ends (:mod:`treecredit.step_text`) and stop strings (:mod:`treecredit.sampling.stops`) decode short
windows of ids token by token: two Hugging Face ``decode`` calls per token, microseconds of Python each,
which dominate a sampling call on a small model. For some decoders the text of any ids is the
concatenation of each id's text decoded alone (its *piece*), and a window's text is a string join:

* ``ByteLevel`` (GPT-2, SmolLM2, Qwen, Llama 3): each token stands for bytes, and the bytes of all tokens
  are decoded together as UTF-8 (an invalid or unfinished sequence as U+FFFD). When each token's bytes are
  whole UTF-8 text on their own, decoding the concatenation gives the concatenation of the pieces. A token
  holding part of a character (an emoji over several byte tokens) has a piece with U+FFFD, and every window
  holding it is decoded by the tokenizer, as before.
* ``Fuse`` (character vocabularies, as the tests' and benchmarks' tokenizer): tokens are joined as they are.
* a ``Sequence`` of these two.

Left to the tokenizer (:func:`pieces_of` gives None): ``Metaspace`` / SentencePiece (a leading "▁" is no
space at the start of a text only), ``WordPiece`` (spaces between tokens, "##"), no decoder (tokens joined
by spaces), ``clean_up_tokenization_spaces`` (rewrites " ." across token boundaries), slow tokenizers, and a
tokenizer class overriding ``decode`` or ``_decode`` (CodeGen, Whisper, ...). Special tokens are kept as
their text, or skipped, the same way alone as in a window.

Where the choice comes from: the Hugging Face ``tokenizers`` decoders (``ByteLevel`` maps each token's
characters back to its bytes and decodes all bytes at once, lossily; ``Fuse`` joins the tokens; ``Metaspace``
treats the first token apart), and ``transformers``' fast-tokenizer ``_decode`` (the backend's decode, then
the optional cleanup). The tests compare every use with the decoding path on local tokenizers, random ids
included. :mod:`treecredit.step_text` also checks each row against its one full ``decode`` and decodes
window by window where they differ; the stop matcher, which works on a window per token, relies on the
decoder's kind alone.
"""

from __future__ import annotations

import json
import sys
import weakref
from collections.abc import Callable, Sequence
from itertools import accumulate
from typing import Any

UNFINISHED = "\ufffd"  # what a byte-level decoder writes for an incomplete UTF-8 sequence
_CONCATENATIVE = {"ByteLevel", "Fuse"}
_FAST_DECODE = {"TokenizersBackend._decode", "PreTrainedTokenizerFast._decode"}  # transformers 5, 4
_TABLES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # tokenizer -> _Table


class _Table:
    """The pieces of one tokenizer: ``texts[skip_special_tokens][id]`` (None: the piece holds U+FFFD)."""

    def __init__(self, backend: Any, decoder_state: bytes) -> None:
        self.backend, self.decoder_state = backend, decoder_state
        self.texts: dict[bool, dict[int, str | None]] = {False: {}, True: {}}

    def fill(self, ids: Sequence[int], skip: bool) -> dict[int, str | None]:
        texts = self.texts[skip]
        missing = sorted({int(i) for i in ids if i not in texts})
        if missing:
            decoded = self.backend.decode_batch([[i] for i in missing], skip_special_tokens=skip)
            texts.update((i, None if UNFINISHED in s else s) for i, s in zip(missing, decoded))
        return texts


class Pieces:
    """Window texts of one decode from cached pieces.

    Args:
        table: the tokenizer's cache (internal).
        skip_special_tokens: as the decode passes it to the tokenizer.
        stop_ids: ids at which the decode ends the text (HFPolicy: its end-of-sequence ids); empty for none.
    """

    def __init__(self, table: _Table, skip_special_tokens: bool, stop_ids: frozenset[int] = frozenset()) -> None:
        self.table, self.skip, self.stop_ids = table, bool(skip_special_tokens), stop_ids

    def texts(self, ids: Sequence[int]) -> list[str | None] | None:
        """Per id its piece (None: holds part of a character), or None when the tokenizer refuses an id
        (then the caller's decode raises its own error). Pieces of stop ids are ``""``."""
        try:
            table = self.table.fill(ids, self.skip)
        except (TypeError, ValueError, OverflowError):  # negative or odd ids: let the decode raise its own error
            return None
        stops = self.stop_ids
        return ["" if i in stops else table[i] for i in ids]


def _concatenative(tokenizer: Any) -> tuple[Any, bytes] | None:
    """``(backend, decoder state)`` when ``tokenizer`` decodes by concatenation of pieces (module docstring)."""
    cls = type(tokenizer)
    base_decode = getattr(sys.modules.get("transformers.tokenization_utils_base"), "PreTrainedTokenizerBase", None)
    backend = getattr(tokenizer, "_tokenizer", None)
    if base_decode is None or backend is None or getattr(cls, "decode", None) is not base_decode.decode:
        return None
    if getattr(getattr(cls, "_decode", None), "__qualname__", "") not in _FAST_DECODE:
        return None
    decoder = getattr(backend, "decoder", None)
    if decoder is None or not hasattr(backend, "decode_batch"):
        return None
    state = decoder.__getstate__()
    spec = json.loads(state)
    kinds = [d.get("type") for d in spec.get("decoders", [])] if spec.get("type") == "Sequence" else [spec.get("type")]
    if not kinds or not all(kind in _CONCATENATIVE for kind in kinds):
        return None
    return backend, state


def tokenizer_pieces(tokenizer: Any, skip_special_tokens: bool, clean_up_tokenization_spaces: bool | None,
                     stop_ids: frozenset[int] = frozenset()) -> Pieces | None:
    """Pieces for ``tokenizer.decode(ids, skip_special_tokens=..., clean_up_tokenization_spaces=...)``
    (None for the tokenizer's default cleanup), or None when that decode does not concatenate pieces."""
    if clean_up_tokenization_spaces is None:
        clean_up_tokenization_spaces = getattr(tokenizer, "clean_up_tokenization_spaces", True)
    if clean_up_tokenization_spaces:
        return None
    try:
        table = _TABLES.get(tokenizer)
    except TypeError:  # unhashable
        return None
    if table is not None:
        decoder = getattr(table.backend, "decoder", None)
        if table.backend is not getattr(tokenizer, "_tokenizer", None) or decoder is None \
                or decoder.__getstate__() != table.decoder_state:
            table = None  # the tokenizer was changed since: start again
    if table is None:
        found = _concatenative(tokenizer)
        if found is None:
            return None
        table = _Table(*found)
        try:
            _TABLES[tokenizer] = table
        except TypeError:
            return None
    return Pieces(table, skip_special_tokens, stop_ids)


def first_stop(ids: Sequence[int], stop_ids) -> int:
    """The position of the first id of ``ids`` in ``stop_ids`` (``len(ids)`` when none is): where a decode
    with stop ids ends the text."""
    return next((t for t, i in enumerate(ids) if i in stop_ids), len(ids)) if stop_ids else len(ids)


def policy_decode(tokenizer: Any, ids: Sequence[int], stop_ids) -> str:
    """A policy's text of ``ids`` (``HFPolicy.decode``): cut at the first of ``stop_ids`` (its end-of-sequence
    ids), special tokens skipped, the tokenizer's default cleanup. :func:`policy_pieces` gives its pieces."""
    ids = [int(i) for i in ids]
    return tokenizer.decode(ids[: first_stop(ids, stop_ids)], skip_special_tokens=True)


def policy_pieces(tokenizer: Any, stop_ids) -> Pieces | None:
    """Pieces for :func:`policy_decode` with these ``stop_ids``, or None (as :func:`tokenizer_pieces`)."""
    return tokenizer_pieces(tokenizer, True, None, frozenset(int(i) for i in stop_ids))


def _loaded(module: str, name: str) -> Any:
    """The class ``module.name`` when that module is imported (an object of it cannot exist otherwise)."""
    return getattr(sys.modules.get(module), name, None)


def pieces_of(source: Any) -> Pieces | None:
    """Pieces reproducing ``source``'s decode, or None when it is not one known to concatenate.

    ``source``: a treecredit ``HFPolicy`` (its ``decode``: special tokens skipped, the text cut at the first
    end-of-sequence id, the tokenizer's default cleanup) or a bound ``decode`` method of one, of a
    ``KVCacheBackend`` over one, or of a Hugging Face fast tokenizer (called without keywords).
    """
    owner = getattr(source, "__self__", None)
    if owner is not None:  # a bound method: which one?
        func = getattr(source, "__func__", None)
        if func is getattr(type(owner), "decode", None):
            backend_cls = _loaded("treecredit.sampling.kv_backend", "KVCacheBackend")
            if backend_cls is not None and func is backend_cls.decode:
                return pieces_of(getattr(owner, "policy", None))
            return pieces_of(owner)
        return None
    policy_cls = _loaded("treecredit.models.hf_policy", "HFPolicy")
    if policy_cls is not None and isinstance(source, policy_cls) and type(source).decode is policy_cls.decode:
        return policy_pieces(source.tokenizer, source.eos_ids)
    if _concatenative_candidate(source):
        return tokenizer_pieces(source, False, None)
    return None


def _concatenative_candidate(source: Any) -> bool:
    base = _loaded("transformers.tokenization_utils_base", "PreTrainedTokenizerBase")
    return base is not None and isinstance(source, base)


def window_texts(ids: Sequence[int], pieces: Pieces | None,
                 decode: Callable[[list[int]], str]) -> Callable[[int, int], str]:
    """``text(a, b) == decode(ids[a:b])`` for one row: joined pieces where they are whole text, else decoded.

    Precomputes, over the row, each position's piece, the next stop id at or after it and a running count
    of unfinished pieces, so a window is checked in O(1) and joined in O(b - a).
    """
    ids = list(ids)
    texts = None if pieces is None else pieces.texts(ids)
    if pieces is None or texts is None:
        return lambda a, b: decode(ids[a:b])
    n, stops = len(ids), pieces.stop_ids
    next_stop = [n] * (n + 1)
    for t in range(n - 1, -1, -1):
        next_stop[t] = t if ids[t] in stops else next_stop[t + 1]
    unfinished = [0] * (n + 1)
    for t in range(n):
        unfinished[t + 1] = unfinished[t] + (texts[t] is None)
    strings = [text or "" for text in texts]

    def text(a: int, b: int) -> str:
        if b <= a:
            return decode(ids[a:b])
        end = min(b, next_stop[a])  # the decode ends the text at a stop id
        if unfinished[end] - unfinished[a]:
            return decode(ids[a:b])
        return "".join(strings[a:end])

    return text


def piece_ends(ids: Sequence[int], pieces: Pieces) -> tuple[str, list[int]] | None:
    """``(text, ends)`` of a row from its pieces alone: the joined text and, per token, the text length
    through it (flat from the first stop id on); None when a piece before that holds part of a character."""
    texts = pieces.texts(ids)
    if texts is None:
        return None
    cut = first_stop(ids, pieces.stop_ids)
    head = texts[:cut]
    if None in head:
        return None
    whole = [text or "" for text in head]
    return "".join(whole), list(accumulate([len(text) for text in whole] + [0] * (len(ids) - cut)))
