"""RowStops (stop strings checked without a matcher where that is exact) answers every token as a StopMatcher
pushed at every token and decoding every window does: byte-level BPE with characters split over tokens, special
and added tokens, a character vocabulary, the small GPT's tokenizer, random ids, responses already begun, and a
decode without pieces."""

import random

import pytest

pytest.importorskip("transformers")
pytest.importorskip("tokenizers")

from hf_tiny import local_tokenizer  # noqa: E402
from text_tokenizers import byte_level_bpe  # noqa: E402
from treecredit import text_pieces  # noqa: E402
from treecredit.models.gpt_policy import GPTPolicy  # noqa: E402
from treecredit.models.tokenizer import CharTokenizer  # noqa: E402
from treecredit.sampling.stop_rows import QuietTokens, RowStops, quiet_tokens, window_is_whole  # noqa: E402
from treecredit.sampling.stops import StopMatcher  # noqa: E402

ADDED = (" hi\n", "<tool>")
TEXTS = ["Step 1: add 3 and 4.\n\nStep 2: the sum is 7.\n\n", "café\n\n🙂 ok\n\nRésumé ✓",
         "x = 12 + 30\n\n\n\ny = x * 2<eos> hi\n<tool>\n\n", "12+7=19;4*5=20;", "a.\n\nb.\n\nc"]
STOPS = ["\n\n", "é", "🙂", "sum", " hi", "<eos>", "✓", "=", ";", "7=", ":", "1"]


def _decodes():
    """(name, decode, pieces, vocabulary size, encode) for the decodes the backend meets."""
    byte_level, chars = byte_level_bpe(ADDED), local_tokenizer()
    gpt = GPTPolicy.build(n_layer=1, n_head=1, n_embd=8)

    def encode(tokenizer):
        return lambda text: tokenizer(text, add_special_tokens=False)["input_ids"]

    def gpt_encode(text):
        return gpt.encode("".join(ch for ch in text if ch in gpt.tokenizer.alphabet))

    return [("byte-level", byte_level.decode, text_pieces.pieces_of(byte_level.decode), len(byte_level),
             encode(byte_level)),
            ("chars", chars.decode, text_pieces.pieces_of(chars.decode), len(chars), encode(chars)),
            ("small GPT", gpt.decode, gpt.text_pieces(), gpt.tokenizer.vocab_size, gpt_encode)]


def _rows(encode, vocab: int, n: int, rng) -> list[list[int]]:
    encoded = [encode(text) for text in TEXTS]
    rows = list(encoded)
    for _ in range(n):
        if rng.random() < 0.5:
            rows.append([i for part in rng.choices(encoded, k=3) for i in part])
        else:
            rows.append([rng.randrange(vocab) for _ in range(rng.randrange(0, 40))])
    return rows


@pytest.mark.parametrize("case", range(3))
def test_row_stops_answer_as_a_matcher_pushed_at_every_token(case):
    name, decode, pieces, vocab, encode = _decodes()[case]
    assert pieces is not None, name
    rng = random.Random(case)
    rows, cache, skipped = _rows(encode, vocab, 150, rng), {}, 0
    for ids in rows:
        response = rows[rng.randrange(len(rows))][:rng.randrange(12)]
        strings = tuple(rng.sample(STOPS, k=rng.randrange(1, 4)))
        quiet = quiet_tokens(cache, decode, strings, pieces)
        rows_stops = RowStops(decode, strings, response, quiet, *window_is_whole(quiet, response))
        every = StopMatcher(decode, strings, response, None)  # decodes every window
        pushed: list = []
        for token in ids:
            pushed.append(token)
            skipped += rows_stops._matcher is None
            assert rows_stops.push(token, pushed) == every.push(token), (name, strings, response, ids, len(pushed))
    assert skipped > 0  # the matcher was left out at some tokens


def test_quiet_tokens_hold_no_stop_string_end_and_no_split_character():
    tokenizer = byte_level_bpe()
    pieces = text_pieces.pieces_of(tokenizer.decode)
    quiet = QuietTokens(tokenizer.decode, ("\n\n", "🙂"), pieces)
    split = tokenizer("🙂", add_special_tokens=False)["input_ids"]
    assert len(split) > 1 and all(quiet[i] == (None, False) for i in split)  # part of a character each
    newline = tokenizer("\n", add_special_tokens=False)["input_ids"]
    assert quiet[newline[0]] == ("\n", False)  # ends "\n\n": asked
    word = tokenizer("Step", add_special_tokens=False)["input_ids"]
    assert all(quiet[i][1] for i in word)
    assert quiet_tokens({}, tokenizer.decode, ("x",), None) is None


def test_the_small_gpts_pieces_join_to_its_decode():
    policy = GPTPolicy.build(n_layer=1, n_head=1, n_embd=8)
    pieces = policy.text_pieces()
    assert pieces is policy.text_pieces()  # made once
    rng = random.Random(0)
    for _ in range(200):
        ids = [rng.randrange(policy.tokenizer.vocab_size) for _ in range(rng.randrange(30))]
        texts = pieces.texts(ids)
        cut = next((k for k, i in enumerate(ids) if i in pieces.stop_ids), len(ids))
        assert "".join(texts[:cut]) == policy.decode(ids)
    assert pieces.texts([policy.tokenizer.vocab_size + 3]) is None  # outside the vocabulary: the matcher decodes

    class Other(CharTokenizer):
        def decode(self, ids):
            return super().decode(ids).upper()

    assert GPTPolicy.build(Other(), n_layer=1, n_head=1, n_embd=8).text_pieces() is None
