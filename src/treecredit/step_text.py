"""Step boundaries from text: mark the token that closes each match of a string or regex.

A step delimiter given as token ids fails silently with BPE tokenizers: the same text is written with
different ids in different contexts (SmolLM2 writes "\\n\\n" as one id at the end of a text and as two
ids, or merged with the next word, inside it), so the id pattern never matches and a step estimator
sees no step at all. :func:`step_ends_from_text` works on the decoded text instead, and
:func:`warn_if_no_steps` tells a host when a whole batch has no step boundary (in
:mod:`treecredit.step_warnings`, with the host's bookkeeping; re-exported here).

Offsets come from incremental decoding (the detokenizer scheme of vLLM and Hugging Face's text
streamers): token t's text is ``decode(ids[p:t+1])`` minus ``decode(ids[p:r])`` for a short window of
already-emitted tokens ``p < r ≤ t``, and a token whose text ends in an unfinished UTF-8 character (the
replacement character U+FFFD) emits nothing until a later token completes it. The emitted pieces are
checked against ``decode(ids)`` of the whole response; a row where they differ falls back to decoding
every prefix (exact for any tokenizer, O(T²)).

For the tokenizers whose decoding concatenates each token's text (byte-level BPE, character vocabularies:
:mod:`treecredit.text_pieces`) the same scheme runs on cached per-token texts: a row whose pieces are all
whole text gets its offsets as running lengths, and a window holding part of a character is decoded as
above. Either way the row is checked against its one full decode, and decoded window by window, as above,
where they differ: the offsets are those of the decoding scheme, with two decodes per token fewer.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from typing import Any, Callable, Sequence

import numpy as np

from treecredit._validation import (
    check_binary_mask,
    check_choice,
    check_integer,
    check_ndim,
    check_shape,
    fail,
    to_numpy,
)
from treecredit.batch import PADDING_SIDES, align_padding, restore_padding
from treecredit.step_warnings import NO_STEPS as NO_STEPS
from treecredit.step_warnings import checked_by_host as checked_by_host
from treecredit.step_warnings import host_step_text as host_step_text
from treecredit.step_warnings import steps_as_text as steps_as_text
from treecredit.step_warnings import warn_if_no_steps as warn_if_no_steps
from treecredit.step_warnings import works_on_steps as works_on_steps
from treecredit.text_pieces import UNFINISHED as _UNFINISHED
from treecredit.text_pieces import Pieces, piece_ends, pieces_of, tokenizer_pieces, window_texts
from treecredit.token_rows import check_decodable, check_id_rows, row_lengths, short_repr, vocabulary_size

_FIND = object()  # token_end_offsets: look the pieces up from decode


def _decoder(tokenizer: Any) -> tuple[Callable[[list[int]], str], Pieces | None]:
    """``(decode, pieces)``: the text of ids, and the cached token texts reproducing it (None: none): a tokenizer's,
    or, for an object with ``decode(ids)`` only, :func:`pieces_of` it or its own ``text_pieces()`` (the small GPT's
    :class:`~treecredit.models.GPTPolicy`: its character pieces, so the samplers' step ends decode each row once
    instead of two windows per token; :func:`token_end_offsets` still checks the joined pieces against the one
    whole decode)."""
    if not hasattr(tokenizer, "decode"):
        fail("tokenizer", f"{type(tokenizer).__name__} has no decode(ids) method",
             "pass a Hugging Face tokenizer or any object with decode(list_of_ids) -> str")
    try:  # Hugging Face tokenizers: keep special tokens, leave spaces as they are
        tokenizer.decode([], skip_special_tokens=False, clean_up_tokenization_spaces=False)

        def decode(ids):
            return tokenizer.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False)
        return decode, tokenizer_pieces(tokenizer, False, False)
    except TypeError:
        pass
    try:  # a raw `tokenizers.Tokenizer` skips special tokens unless told: keep them, as above
        tokenizer.decode([], skip_special_tokens=False)

        def keep_special(ids):
            return tokenizer.decode(ids, skip_special_tokens=False)
        return keep_special, None
    except TypeError:
        pieces = pieces_of(tokenizer)
        own = getattr(tokenizer, "text_pieces", None)
        if pieces is None and callable(own):  # a policy that knows its decode's pieces (the small GPT's characters)
            pieces = own()
        return tokenizer.decode, pieces


def step_pattern_regex(pattern: Any, name: str = "pattern") -> re.Pattern:
    """The regex of a step pattern: a non-empty string (matched literally), a non-empty list of non-empty
    strings (any of them, the longest first) or a compiled regex that cannot match the empty string.

    Raises:
        ValueError: naming ``name`` (the host's argument) and the fix, for anything else. A regex that
            matches the empty string (``re.compile("")``, ``r"\\n*"``) is refused: an empty match closes no
            step, so such a regex marks fewer steps than it seems to (``re.compile("")`` none at all).
    """
    if isinstance(pattern, re.Pattern):
        if pattern.search("") is not None:
            fail(name, f"is {pattern!r}, a regex that matches the empty string (an empty match closes no step)",
                 "make it match at least one character, e.g. re.compile(r'\\n\\n+') instead of "
                 "re.compile(r'\\n*'), or pass the delimiter text, e.g. '\\n\\n'")
        return pattern
    if isinstance(pattern, str) and pattern:
        return re.compile(re.escape(pattern))
    if isinstance(pattern, (list, tuple)) and pattern and all(isinstance(p, str) and p for p in pattern):
        return re.compile("|".join(re.escape(p) for p in sorted(pattern, key=len, reverse=True)))
    fail(name, f"is {short_repr(pattern)}", "pass a non-empty string (matched literally), a list of non-empty "
         "strings, or a compiled regex, e.g. re.compile(r'\\n\\n+')")


def token_end_offsets(ids: Sequence[int], decode, pieces: Any = _FIND,
                      text: str | None = None) -> tuple[str, list[int]]:
    """``(text, ends)``: the decoded text of ``ids`` and, per token, the text length once it is decoded.

    ``ends[t]`` is the number of characters of ``text`` that tokens ``0..t`` produce; it is non-
    decreasing, and equal to ``ends[t-1]`` for a token that only starts a multi-byte character.
    ``pieces``: the decode's cached token texts (:mod:`treecredit.text_pieces`); by default found from
    ``decode`` (a policy's or tokenizer's bound ``decode``), None to decode every window. They give the
    same result with fewer decodes. ``text``: ``decode(ids)`` where the caller has it (not decoded again; a
    text that is not that decode gives wrong offsets).
    """
    ids = list(ids)
    if text is None:
        text = decode(ids)
    if pieces is _FIND:
        pieces = pieces_of(decode)
    if pieces is not None:
        whole = piece_ends(ids, pieces)
        if whole is None:  # a piece holds part of a character: decode the windows that hold one
            ends = _incremental_ends(ids, window_texts(ids, pieces, decode), text)
            if ends is not None:
                return text, ends
        elif whole[0] == text:
            return text, whole[1]
    ends = _incremental_ends(ids, lambda a, b: decode(ids[a:b]), text)
    return text, ends if ends is not None else _exact_end_offsets(ids, decode, text)


def _incremental_ends(ids: list[int], window: Callable[[int, int], str], text: str) -> list[int] | None:
    """The module docstring's incremental decoding (``window(a, b)`` is the text of ``ids[a:b]``); None
    when the emitted pieces do not make ``text``."""
    pieces, ends, total = [], [], 0
    prefix, read = 0, 0  # emitted tokens [prefix, read) give the context of the next piece
    for t in range(len(ids)):
        before = window(prefix, read) if read > prefix else ""
        upto = window(prefix, t + 1)
        if len(upto) > len(before) and not upto.endswith(_UNFINISHED) and upto.startswith(before):
            pieces.append(upto[len(before):])
            total += len(pieces[-1])
            prefix, read = read, t + 1
        ends.append(total)
    return ends if "".join(pieces) == text else None


def _exact_end_offsets(ids: Sequence[int], decode, text: str) -> list[int]:
    """Per token, the length of the common prefix of ``decode(ids[:t+1])`` and ``text`` (monotone)."""
    ends, last = [], 0
    for t in range(len(ids)):
        partial = decode(list(ids[: t + 1]))
        n = 0
        limit = min(len(partial), len(text))
        while n < limit and partial[n] == text[n]:
            n += 1
        last = max(last, n)
        ends.append(last)
    ends[-1] = len(text) if ids else 0
    return ends


def step_ends_from_text(response_ids: Any, tokenizer: Any, pattern: Any, response_mask: Any = None, *,
                        vocab_size: int | None = None, padding_side: str | None = None,
                        known_texts: Sequence[str | None] | None = None):
    """``(B, T)`` bool step ends: True on the token that closes each match of ``pattern`` in the text.

    Each row is decoded (up to its length: one past its last token with ``response_mask`` = 1, or all T
    tokens without a mask); every non-empty, non-overlapping match of ``pattern`` (``re.finditer``)
    marks the first token by which the decoded text contains the whole match. A token that closes two
    matches is marked once. Pass the result as ``step_ends=`` to a step estimator (which also closes a
    step at each response's last token).

    Args:
        response_ids: ``(B, T)`` int token ids (NumPy, torch or nested lists).
        tokenizer: a Hugging Face tokenizer or a raw ``tokenizers.Tokenizer`` (special tokens such as ``<sep>``
            are kept in the text, so a pattern can match them), or any object with ``decode(ids) -> str`` (e.g.
            a treecredit policy).
        pattern: a string (matched literally, not as a regex: ``"\\n\\n"``), a list of strings (any of them),
            or a compiled regex (``re.compile(r"\\n\\n+")``). A string with regex syntax that matches nothing
            in the batch while its regex would gets a ``UserWarning`` (:func:`warn_regex_as_text`).
        response_mask: optional ``(B, T)`` 0/1 mask; tokens at or beyond a row's length (padding) are
            neither decoded nor marked. Masked tokens before it (tool output) are decoded, as they are
            part of the text.
        vocab_size: the ids below which ``response_ids`` must lie (default: the tokenizer's,
            :func:`vocabulary_size`); a host whose model may sample ids the tokenizer lacks passes the model's.
        padding_side: as for :func:`treecredit.compute_advantages` (with ``response_mask``): None (default)
            expects right padding and refuses a batch that looks left-padded; ``"left"`` decodes each row
            from its first unmasked token and returns the step ends in the caller's layout (it needs
            ``response_mask``, and is refused without it); ``"right"`` trusts the layout.
        known_texts: optional, per row, the row's decode as this function makes it (the tokenizer's ``decode``
            of the row's ids up to its length) where the caller has it, else None: that row is not decoded again
            (the samplers pass the texts they decoded for the rewards). A text that is not that decode gives
            wrong step ends.

    Returns:
        ``(B, T)`` bool step ends: a torch tensor on the device of ``response_ids`` when it is one (as
        :func:`treecredit.compute_advantages` returns), else a NumPy array.

    Raises:
        ValueError: on a bad shape, dtype, mask or pattern, or ids a row decodes that are negative or beyond the
            tokenizer's vocabulary (naming ``response_ids``; before any decoding).
    """
    if hasattr(pattern, "decode") and not isinstance(pattern, str | bytes):
        fail("pattern", f"is a {type(pattern).__name__}, not text: the tokenizer and the pattern look swapped",
             "pass (response_ids, tokenizer, pattern), e.g. step_ends_from_text(ids, tokenizer, '\\n\\n')")
    check_id_rows(response_ids)
    ids = to_numpy(response_ids, "response_ids")
    check_ndim(ids, 2, "response_ids", "(B, T)")
    check_integer(ids, "response_ids")
    regex = step_pattern_regex(pattern)
    B, T = ids.shape
    mask = None
    shift = None
    if padding_side is not None:
        check_choice(padding_side, PADDING_SIDES, "padding_side")
    if padding_side == "left" and response_mask is None:
        fail("padding_side", "is 'left' but no response_mask was given, and the padding is found from the mask "
             "(each row's leading masked run)", "pass response_mask=, the (B, T) 0/1 mask of the batch, or drop "
             "padding_side for rows that have no padding")
    if response_mask is not None:
        mask = check_binary_mask(to_numpy(response_mask, "response_mask"), "response_mask")
        check_shape(mask, (B, T), "response_mask", "(B, T) like response_ids")
        ids, mask, _, shift = align_padding(ids, mask, {}, padding_side,
                                            "each row's text would then be read with its padding in front")
    lengths = row_lengths(mask, (B, T))
    decode, pieces = _decoder(tokenizer)
    if vocab_size is not None and (isinstance(vocab_size, bool) or not isinstance(vocab_size, int | np.integer)
                                   or vocab_size < 1):
        fail("vocab_size", f"is {vocab_size!r}, not a positive int", "pass the number of ids the model has, e.g. "
             "vocab_size=model.config.vocab_size, or leave it None (the tokenizer's)")
    check_decodable(ids, lengths, vocabulary_size(tokenizer), None if vocab_size is None else int(vocab_size))
    ends = np.zeros((B, T), dtype=bool)
    texts = []
    marked_rows: list[int] = []
    marked_tokens: list[int] = []
    rows, row_ends = ids.tolist(), lengths.tolist()  # one conversion (a NumPy row's .tolist() each costs more)
    if known_texts is not None and len(known_texts) != B:
        fail("known_texts", f"has {len(known_texts)} entries for {B} rows", "pass one text (or None) per row")
    for row in range(B):
        row_ids = rows[row][: row_ends[row]]
        if not row_ids:
            continue
        text, offsets = token_end_offsets(row_ids, decode, pieces, None if known_texts is None else known_texts[row])
        texts.append(text)
        n = len(row_ids)
        for m in regex.finditer(text):
            if m.end() > m.start():
                token = bisect_left(offsets, m.end())  # the first token whose text reaches the match's end
                if token < n:
                    marked_rows.append(row)
                    marked_tokens.append(token)
    if marked_rows:
        ends[marked_rows, marked_tokens] = True
    if not ends.any() and isinstance(pattern, str):
        warn_regex_as_text(pattern, texts)
    ends = restore_padding(ends, shift)
    if type(response_ids).__module__.startswith("torch") and hasattr(response_ids, "device"):
        import torch

        return torch.from_numpy(ends).to(response_ids.device)
    return ends


# What a plain string rarely holds unless it was meant as a regex: a backslash sequence (``\\n``, ``\\d``, ``\\s``),
# ``+``, ``*``, ``[``, ``|`` or ``(``. Not ``.``, ``?``, ``$``: "Step 1." or "Total: $5" are text as often.
_REGEX_SYNTAX = re.compile(r"\\.|[+*\[|(]", re.S)


def warn_regex_as_text(pattern: str, texts: list[str], name: str = "pattern") -> None:
    """Warn when the plain string ``pattern``, matched literally, found nothing in ``texts`` while the regex it
    spells would have matched (``r"\\n\\n+"`` is the text backslash-n-backslash-n-plus, not blank lines): the
    caller meant ``re.compile(pattern)``. Only for a string that holds regex syntax a literal one rarely does
    (a backslash sequence, ``+``, ``*``, ``[``, ``|``, ``(``): ``"Step 1."`` that occurs nowhere, whose regex
    reading matches ``Step 12``, is text that did not occur, not a regex."""
    if _REGEX_SYNTAX.search(pattern) is None:
        return  # written as text: a '.' or '?' in it is punctuation
    try:
        compiled = re.compile(pattern)
    except re.error:
        return
    if compiled.search("") is None and any(compiled.search(text) for text in texts):
        import warnings

        warnings.warn(f"{name}: {pattern!r} is matched literally (a plain string) and occurs in none of the "
                      f"{len(texts)} decoded responses, so no step end was found; read as a regex it would match. "
                      f"Pass re.compile({pattern!r}) for a regex", UserWarning, stacklevel=3)


def first_response_text(response_ids: Any, tokenizer: Any, response_mask: Any = None) -> str | None:
    """The decoded text of the first non-empty response (up to its length, as :func:`step_ends_from_text`
    decodes it), or None when every response is empty: the ``sample`` of :func:`warn_if_no_steps`."""
    ids = to_numpy(response_ids, "response_ids")
    decode, _ = _decoder(tokenizer)
    for row_ids, length in zip(ids, row_lengths(response_mask, ids.shape)):
        if length:
            return decode(row_ids[:length].tolist())
    return None
