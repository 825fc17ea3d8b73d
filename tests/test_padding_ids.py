"""The padding side read from the token ids where the mask ties (treecredit.padding_ids, docs/estimators.md):
a padding id repeated at the rows' starts (left padding) or ends (right padding), and a warning naming
``padding_side`` where neither the mask nor the ids can tell."""

import warnings

import numpy as np
import pytest

import treecredit
from test_api_padding import _padded  # (rows laid out left- or right-padded with the id 0)
from treecredit.padding_ids import pad_id_side

PAD, EOS = 0, 2


# review34 (7): one padded row sharing the masked EOS, beside a row cut at the maximum length and a full-length
# row with its EOS; trial34 (11): the rows with a masked EOS only half, the others ended by a stop string
ONE_PADDED = ([[5, 6, 7, 8, EOS], [5, 6, 9, 9, 3, 4, 1, 1], [5, 7, 7, 3, 4, 4, 8, EOS]],
              [[1, 1, 1, 1, 0], [1] * 8, [1] * 7 + [0]])
HALF_EOS = ([[5, 6, 7, EOS], [5, 6, 8, 9, 4, EOS], [5, 4, 3], [5, 6, 7, 3, 8]],
            [[1, 1, 1, 0], [1, 1, 1, 1, 1, 0], [1, 1, 1], [1] * 5])


@pytest.mark.parametrize("rows,masks", [ONE_PADDED, HALF_EOS], ids=["one-padded-row", "half-eos"])
def test_left_padding_the_mask_ties_on_is_refused_from_the_repeated_pad_id(rows, masks):
    # was: the mask's rule reads both as right-padded (a tie kept on that side since bc9903c), and tree
    # estimators silently compared misaligned prefixes
    width = max(len(r) for r in rows)
    ids, mask = _padded(rows, masks, width, "left")
    batch = dict(response_ids=ids, response_mask=mask, rewards=np.arange(len(rows)) % 2 * 1.0,
                 group_ids=[0] * len(rows))
    with pytest.raises(ValueError, match=r"^response_mask: looks left-padded \(its leading masked runs hold only "
                                         r"the id 0, repeated, e\.g\. row \d.*padding_side='left'"):
        treecredit.compute_advantages("treerl", **batch)
    with pytest.raises(ValueError, match=r"^response_mask: looks left-padded"):
        treecredit.build_tree("token", **batch)
    left = treecredit.compute_advantages("treerl", padding_side="left", **batch)
    r_ids, r_mask = _padded(rows, masks, width, "right")
    right = treecredit.compute_advantages("treerl", **{**batch, "response_ids": r_ids, "response_mask": r_mask})
    for i, row in enumerate(rows):
        np.testing.assert_array_equal(left[i, width - len(row):], right[i, :len(row)])


def test_right_padding_with_masked_headers_stays_right_padded_without_a_warning():
    # tests/test_edge_inputs.py mask3 with a real padding id: the ids at the ends repeat, those at the starts
    # (a masked header) do not, so it is accepted, and the warning of a tie does not come
    mask = np.array([[1, 1, 1, 1, 1], [0, 1, 1, 1, 1], [1, 1, 1, 0, 0], [0, 1, 1, 0, 0]])
    ids = np.array([[5, 6, 7, 8, 9], [3, 6, 7, 8, 4], [5, 6, 8, PAD, PAD], [3, 6, 9, EOS, PAD]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = treecredit.compute_advantages("spo", response_ids=ids, response_mask=mask,
                                            rewards=[1.0, 0.0, 0.0, 1.0], group_ids=[0] * 4)
    assert out.shape == mask.shape


def test_right_padding_the_mask_reads_as_left_is_accepted_from_the_repeated_pad_id():
    # was refused: two full-width rows begin with masked headers and the one padded row ends two short, so the
    # rows aligned on the right outnumber those aligned on the left; its trailing PAD PAD shows right padding
    mask = np.array([[0, 1, 1, 1, 1, 1], [0, 0, 1, 1, 1, 1], [1, 1, 1, 1, 0, 0]])
    ids = np.array([[3, 5, 6, 7, 8, 9], [3, 4, 5, 6, 8, 8], [5, 6, 7, 9, PAD, PAD]])
    out = treecredit.compute_advantages("treerl", response_ids=ids, response_mask=mask, rewards=[1.0, 0.0, 1.0],
                                        group_ids=[0] * 3)
    assert out.shape == mask.shape and (out[mask == 0] == 0).all()


def test_a_tie_neither_the_mask_nor_the_ids_break_warns_naming_padding_side():
    # one row padded by a single token (no repeat) beside two cut rows: left padding with a masked EOS, or right
    # padding with a masked header; read as right-padded, and the warning says how to say which
    mask = np.array([[1, 1, 1, 1], [0, 1, 1, 0], [1, 1, 1, 1]])
    ids = np.array([[5, 6, 7, 8], [PAD, 5, 6, EOS], [5, 6, 9, 9]])
    batch = dict(response_ids=ids, response_mask=mask, rewards=[1.0, 0.0, 1.0], group_ids=[0] * 3)
    with pytest.warns(UserWarning, match=r"^response_mask: the padding side cannot be told .* read as right-padded"
                                         r"\. Fix: pass padding_side='right' .* or padding_side='left'"):
        treecredit.compute_advantages("treerl", **batch)
    for side in ("right", "left"):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            treecredit.compute_advantages("treerl", padding_side=side, **batch)


def test_pad_id_side_reads_one_side_only():
    mask = np.array([[0, 0, 1, 1], [0, 1, 1, 1], [0, 0, 0, 0]], bool)  # the last row is empty: it shows no side
    assert pad_id_side(np.array([[0, 0, 5, 6], [0, 5, 6, 7], [0, 0, 0, 0]]), mask) == ("left", 0, 0)
    assert pad_id_side(np.array([[9, 9, 5, 6], [0, 5, 6, 7], [0, 0, 0, 0]]), mask) == ("left", 9, 0)
    flipped = mask[:, ::-1]
    assert pad_id_side(np.array([[6, 5, -100, -100], [7, 6, 5, 0], [0, 0, 0, 0]]), flipped) == ("right", -100, 0)
    both = np.array([[1, 1, 1, 0, 0], [0, 0, 1, 1, 1]], bool)
    assert pad_id_side(np.array([[5, 6, 7, 0, 0], [0, 0, 5, 6, 7]]), both) is None  # repeats on both sides
    assert pad_id_side(np.array([[0, 0, 5, 6], [1, 5, 6, 7], [0, 0, 0, 0]]), mask) == ("left", 0, 0)
    assert pad_id_side(np.array([[0, 0, 5, 6], [0, 5, 6, 7], [0, 0, 0, 0]], float), mask) is None  # not ids
    two_ids = np.array([[0, 0, 5, 6], [1, 1, 6, 7]])
    assert pad_id_side(two_ids, np.array([[0, 0, 1, 1], [0, 0, 1, 1]], bool)) is None
