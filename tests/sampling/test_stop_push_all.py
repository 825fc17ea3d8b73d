"""``StopMatcher.push_all`` (the step-end search of a whole segment, :func:`stop_positions`) answers as pushing its
tokens one by one and leaves the same window: the small GPT's characters, a byte-level BPE with tokens holding part
of a character and added tokens, both with their pieces and decoding every window, stop ids inside the windows."""

import random

import pytest
import torch
from tree_helpers import tiny_gpt

from treecredit.sampling.stops import StopMatcher, policy_pieces, stop_positions


def _check(decode, pieces, alphabet, stops, seed: int, rows: int = 150) -> int:
    rng = random.Random(seed)
    found = 0
    for _ in range(rows):
        start = [rng.choice(alphabet) for _ in range(rng.randrange(0, 14))]
        strings = rng.sample(stops, k=rng.randrange(1, min(4, len(stops)) + 1))
        one, bulk = StopMatcher(decode, strings, start, pieces), StopMatcher(decode, strings, start, pieces)
        ids = [rng.choice(alphabet) for _ in range(rng.randrange(0, 45))]
        cut = rng.randrange(0, len(ids) + 1)  # in two parts: the window carries over from one call to the next
        singly = [t for t, i in enumerate(ids) if one.push(i)]
        together = bulk.push_all(ids[:cut]) + [cut + t for t in bulk.push_all(ids[cut:])]
        assert together == singly, (strings, start, ids, cut)
        assert (bulk.ids, bulk.texts, bulk.odd) == (one.ids, one.texts, one.odd)
        after = [rng.choice(alphabet) for _ in range(5)]
        assert [bulk.push(i) for i in after] == [one.push(i) for i in after]
        assert stop_positions(decode, strings, ids, start, pieces) == singly
        found += len(singly)
    return found


def test_push_all_equals_pushing_one_by_one_on_the_small_gpts_characters():
    policy = tiny_gpt(torch.float64)
    alphabet = policy.encode("0123456789+-*=;, >:") + [policy.tokenizer.eos_id, policy.tokenizer.pad_id]
    stops = ["=", ";", "; ", "1>", "2=1", "==", "=;="]
    found = 0
    for pieces in (policy_pieces(policy), None):
        found += _check(policy.decode, pieces, alphabet, stops, seed=0)
    assert found > 100
    assert StopMatcher(policy.decode, []).push_all(policy.encode("1=2")) == []


def test_push_all_equals_pushing_one_by_one_on_a_byte_level_bpe():
    pytest.importorskip("transformers")
    pytest.importorskip("tokenizers")
    from text_tokenizers import byte_level_bpe
    from treecredit import text_pieces

    tokenizer = byte_level_bpe((" hi\n", "<tool>"))
    texts = ["Step 1: add 3.\n\nStep 2: 7.\n\n", "café\n\n🙂 ok\n\nRésumé ✓", "x = 1<eos> hi\n<tool>\n\n"]
    alphabet = sorted({i for text in texts for i in tokenizer(text, add_special_tokens=False)["input_ids"]})
    alphabet += random.Random(0).sample(range(len(tokenizer)), 40)
    stops = ["\n\n", "é", "🙂", "sum", " hi", "<eos>", "✓"]
    found = 0
    for pieces in (text_pieces.pieces_of(tokenizer.decode), None):
        found += _check(tokenizer.decode, pieces, alphabet, stops, seed=1)
    assert found > 50


def test_one_character_strings_without_the_matcher_answer_as_the_matcher(monkeypatch):
    """``stop_positions`` for strings of one character each (the tasks' step marks) over whole pieces answers without
    a matcher (``stops._one_character_positions``), as the matcher does; a window or segment holding a token without a
    whole piece (a stop id, part of a character) goes to the matcher."""
    pytest.importorskip("transformers")
    pytest.importorskip("tokenizers")
    from text_tokenizers import byte_level_bpe
    from treecredit import text_pieces
    from treecredit.sampling import stops as stops_module

    taken = []
    direct = stops_module._one_character_positions

    def counted(*args):
        out = direct(*args)
        taken.append(out is not None)
        return out

    monkeypatch.setattr(stops_module, "_one_character_positions", counted)
    policy = tiny_gpt(torch.float64)
    gpt_alphabet = policy.encode("0123456789+-*=;, >:") + [policy.tokenizer.eos_id, policy.tokenizer.pad_id]
    tokenizer = byte_level_bpe((" hi\n", "<tool>"))
    text = "café = 1; 🙂 ok\n\nRésumé ✓ x = 2;<eos>"
    bpe_alphabet = sorted(set(tokenizer(text, add_special_tokens=False)["input_ids"]))
    cases = [(policy.decode, policy_pieces(policy), gpt_alphabet, ["=", ";", " "]),
             (tokenizer.decode, text_pieces.pieces_of(tokenizer.decode), bpe_alphabet, ["=", ";", "é", "\n", "✓"])]
    rng = random.Random(3)
    for decode, pieces, alphabet, chars in cases:
        for _ in range(300):
            start = [rng.choice(alphabet) for _ in range(rng.randrange(0, 14))]
            strings = rng.sample(chars, k=rng.randrange(1, len(chars) + 1))
            ids = [rng.choice(alphabet) for _ in range(rng.randrange(0, 30))]
            assert stop_positions(decode, strings, ids, start, pieces) == \
                StopMatcher(decode, strings, start, pieces).push_all(ids), (strings, start, ids)
    assert any(taken) and not all(taken)  # both paths taken
