"""The samplers' step-end mask (``rollout.step_end_mask``) given the response texts they made for the rewards: the
same mask as decoding every row again, rows that end on eos (whose text may hold an added end marker) decoded
again, the others not; ``step_ends_from_text(known_texts=...)`` refuses a list of the wrong length."""

import random

import numpy as np
import pytest
import torch

from treecredit.models import GPTPolicy
from treecredit.sampling.rollout import step_end_mask
from treecredit.step_text import step_ends_from_text

MARKS = ("=", ";")


def _rows(policy, n: int, seed: int):
    """Padded ids, lengths and the samplers' texts (``leaf_scores.response_text``): rows of characters of the
    task's alphabet, some ending on eos (their text gets the end marker ';' when it lacks one)."""
    rng = random.Random(seed)
    alphabet = [policy.tokenizer.encode(c)[0] for c in "0123456789+-*=; >:"]
    rows = []
    for _ in range(n):
        row = [rng.choice(alphabet) for _ in range(rng.randrange(0, 20))]
        if rng.random() < 0.3:
            row.append(policy.eos_id)
        rows.append(row)
    T = max(map(len, rows))
    ids = torch.full((n, T), policy.pad_id, dtype=torch.long)
    for r, row in enumerate(rows):
        ids[r, :len(row)] = torch.tensor(row, dtype=torch.long)
    texts = []
    for row in rows:
        text = policy.decode(row)
        if row and row[-1] == policy.eos_id and ";" not in text:
            text += ";"
        texts.append(text)
    return ids, torch.tensor([len(row) for row in rows]), texts, rows


def test_the_mask_from_known_texts_equals_the_decoded_one_and_decodes_only_rows_ending_on_eos():
    policy = GPTPolicy.build(seed=0, n_layer=1, n_head=1, n_embd=8, max_len=32)
    ids, lengths, texts, rows = _rows(policy, 200, seed=3)
    plain = step_end_mask(policy, ids, lengths, MARKS)
    assert plain.any()
    calls = []
    decode = policy.decode

    def counted(row):
        calls.append(list(row))
        return decode(row)

    policy.decode = counted  # the instance's decode: still the one the step ends use
    known = step_end_mask(policy, ids, lengths, MARKS, texts)
    assert torch.equal(known, plain)
    ends_on_eos = [row for row in rows if row and row[-1] == policy.eos_id]
    assert ends_on_eos and sorted(calls) == sorted(ends_on_eos)
    # a text the end marker was added to, given as known, would mark a step the tokens do not hold: not used
    assert any(text.endswith(";") and ";" not in decode(row) for text, row in zip(texts, rows)
               if row and row[-1] == policy.eos_id)


def test_known_texts_are_not_used_for_a_decode_the_step_ends_do_not_use():
    policy = GPTPolicy.build(seed=0, n_layer=1, n_head=1, n_embd=8, max_len=32)
    ids, lengths, texts, _ = _rows(policy, 40, seed=5)
    wrong = ["=" * 30 for _ in texts]
    policy.decode = lambda row, **kwargs: GPTPolicy.decode(policy, row)  # takes keywords: another decode path
    assert torch.equal(step_end_mask(policy, ids, lengths, MARKS, wrong), step_end_mask(policy, ids, lengths, MARKS))


def test_known_texts_of_the_wrong_length_are_refused():
    policy = GPTPolicy.build(seed=0, n_layer=1, n_head=1, n_embd=8, max_len=32)
    ids, lengths, texts, _ = _rows(policy, 5, seed=1)
    with pytest.raises(ValueError, match="known_texts"):
        step_ends_from_text(ids.numpy(), policy, list(MARKS), known_texts=texts[:4])
    mask = (np.arange(ids.shape[1])[None, :] < lengths.numpy()[:, None]).astype(np.int64)
    got = step_ends_from_text(ids.numpy(), policy, list(MARKS), mask, known_texts=[None] * 5)
    np.testing.assert_array_equal(got, step_ends_from_text(ids.numpy(), policy, list(MARKS), mask))
