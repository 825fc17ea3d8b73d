"""compute_advantages and step options: a token-id delimiter that closes no step, or step ends that mark
nothing, are warned about (every response would silently be one step); negative delimiter ids are refused."""

import re
import warnings

import numpy as np
import pytest
import torch

import treecredit
from treecredit.step_text import warn_if_no_steps

IDS = np.array([[1, 2, 3, 4, 0], [1, 2, 5, 0, 0], [1, 6, 7, 8, 9], [1, 2, 3, 0, 0]])
MASK = (IDS > 0).astype(int)
MASK[2, :] = 1


def _advantages(estimator="treerpo", **options):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = treecredit.compute_advantages(estimator, response_ids=IDS, response_mask=MASK,
                                               rewards=np.array([1.0, 0.0, 1.0, 0.0]), group_ids=[0, 0, 0, 0],
                                               **options)
    return result, [str(w.message) for w in caught if "no step boundary" in str(w.message)]


@pytest.mark.parametrize("estimator", ["treerpo", "tempo", "ibpo"])
@pytest.mark.parametrize("delimiter", [[99], 99, torch.tensor([99]), [2, 9]])
def test_a_token_id_delimiter_that_closes_no_step_is_warned_about(estimator, delimiter):
    _, warned = _advantages(estimator, delimiter=delimiter)
    assert len(warned) == 1, warned
    assert re.match(rf"{estimator}: no step boundary from delimiter \[[\d, ]+\] in any response of this batch, so "
                    r"every response is one step\. A delimiter given as token ids rarely matches BPE text", warned[0])


@pytest.mark.parametrize("delimiter", [[2], [1, 2]])
def test_a_delimiter_that_closes_a_step_is_not_warned_about(delimiter):
    result, warned = _advantages(delimiter=delimiter)
    assert warned == []
    unsplit, _ = _advantages(step_tokens=5)  # one step per response: a different result
    assert not np.allclose(result, unsplit)


def test_a_delimiter_only_at_a_responses_last_token_closes_no_step():
    _, warned = _advantages(delimiter=[9])  # 9 is row 2's last token only
    assert len(warned) == 1


def test_step_ends_that_mark_no_token_are_warned_about():
    _, warned = _advantages(step_ends=np.zeros(IDS.shape, dtype=bool))
    assert len(warned) == 1 and re.match(r"treerpo: no step boundary from step_ends \(no 1 in any row\) .*Fix: "
                                         r"mark the last token of each step with 1", warned[0]), warned


def test_step_ends_whose_1s_are_all_on_masked_tokens_are_warned_about_as_such():
    # was: "(no 1 in any row)", sending the user to look for 1s that were there
    on_padding = np.zeros(IDS.shape, dtype=bool)
    on_padding[0, 4] = on_padding[1, 3] = True  # padding (response_mask 0)
    _, warned = _advantages(step_ends=on_padding)
    assert len(warned) == 1 and "step_ends (its 1s are all on tokens with response_mask 0" in warned[0], warned


@pytest.mark.parametrize("shape", [(4, 3), (4, 5, 1), (5,)])
def test_step_ends_of_the_wrong_shape_are_refused_naming_them(shape):
    # was: NumPy's "operands could not be broadcast together" from the no-step check
    with pytest.raises(ValueError, match=r"^step_ends: .*\(B, T\) like response_ids"):
        _advantages(step_ends=np.ones(shape, dtype=bool))


def test_step_ends_that_close_only_the_last_token_are_taken_as_given():
    # e.g. single-turn episodes, whose only step end is the response's last token: deliberate
    last = np.zeros(IDS.shape, dtype=bool)
    last[np.arange(4), MASK.shape[1] - 1 - np.argmax(MASK[:, ::-1], axis=1)] = True
    assert _advantages(step_ends=last)[1] == []


def test_step_ends_a_host_checked_are_not_warned_about_twice():
    ends = np.zeros(IDS.shape, dtype=bool)
    with pytest.warns(UserWarning, match="no step boundary from pattern"):
        warn_if_no_steps("treerpo", ends, MASK, source="pattern '\\n\\n'")
    assert _advantages(step_ends=ends)[1] == []
    assert len(_advantages(step_ends=ends.copy())[1]) == 1  # another array: not checked


@pytest.mark.parametrize("delimiter", [[-1], -3, [198, -1], torch.tensor([-5]), np.array([-2], dtype=np.int32)])
def test_a_negative_delimiter_id_is_refused_naming_delimiter(delimiter):
    with pytest.raises(ValueError, match=r"^delimiter: holds the negative id -\d; token ids are ≥ 0\. Fix: pass the "
                                         r"delimiter's token ids .*step_ends_from_text"):
        _advantages(delimiter=delimiter)
