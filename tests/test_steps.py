import numpy as np
import pytest

from treecredit.batch import make_token_batch
from treecredit.steps import resolve_step_ends, step_index


def batch(ids, mask):
    ids, mask = np.array(ids), np.array(mask)
    return make_token_batch(ids, mask, np.zeros(len(ids)), np.zeros(len(ids), int))


B = batch([[1, 9, 9, 2, 9, 9, 3, 0], [4, 9, 5, 9, 9, 0, 0, 0]],
          [[1, 1, 1, 1, 1, 1, 1, 0], [1, 1, 1, 1, 1, 0, 0, 0]])


def test_delimiter_sequence_closes_steps_and_last_token_always_ends():
    ends = resolve_step_ends(B, delimiter=[9, 9])
    assert np.flatnonzero(ends[0]).tolist() == [2, 5, 6]
    assert np.flatnonzero(ends[1]).tolist() == [4]


def test_single_token_delimiter_and_blocks():
    assert np.flatnonzero(resolve_step_ends(B, delimiter=9)[1]).tolist() == [1, 3, 4]
    assert np.flatnonzero(resolve_step_ends(B, step_tokens=3)[0]).tolist() == [2, 5, 6]


def test_given_mask_is_clipped_to_length():
    given = np.zeros((2, 8), int)
    given[:, 7] = 1
    given[0, 1] = 1
    ends = resolve_step_ends(B, step_ends=given)
    assert np.flatnonzero(ends[0]).tolist() == [1, 6]
    assert np.flatnonzero(ends[1]).tolist() == [4]


def test_step_index_counts_earlier_ends():
    ends = resolve_step_ends(B, delimiter=[9, 9])
    assert step_index(ends)[0].tolist() == [0, 0, 0, 1, 1, 1, 2, 3]


@pytest.mark.parametrize("options, match", [
    (dict(delimiter=9, step_tokens=2), "step_tokens: was given together with delimiter"),
    (dict(step_tokens=0), "step_tokens: is 0"),
    (dict(step_ends=np.ones((2, 3))), "step_ends: has shape"),
    (dict(delimiter=[]), "delimiter: must be"),
    (dict(delimiter="6"), r"delimiter: is the text '6'; delimiter takes token ids.*step_ends_from_text"),
    (dict(delimiter=["\n", "\n"]), "delimiter: is the text .* takes token ids"),
    # was: the empty text got "pass its token ids" with another text's ids; any text got '\n\n' as its example
    (dict(delimiter=""), r"^delimiter: is the empty text '', which marks no step end; .*Fix: pass the token ids that "
                         r"end a step .*or give visible text that closes a step"),
    (dict(delimiter=["Step", ":"]), r"Fix: pass its token ids \(delimiter=tokenizer\.encode\('Step:', .*"
                                    r"step_ends_from_text\(response_ids, tokenizer, 'Step:'\)"),
    ({}, "step_ends: no step boundaries"),
])
def test_bad_step_options(options, match):
    with pytest.raises(ValueError, match=match):
        resolve_step_ends(B, **options)


@pytest.mark.parametrize("delimiter", [[-1], [9, -2]])
def test_a_negative_delimiter_id_is_refused_on_every_path_that_resolves_steps(delimiter):
    # not only compute_advantages: the estimators, the tree builder and TRL's metrics resolve steps here
    with pytest.raises(ValueError, match=r"^delimiter: holds the negative id -\d; token ids are ≥ 0\. Fix: "):
        resolve_step_ends(B, delimiter=delimiter)
