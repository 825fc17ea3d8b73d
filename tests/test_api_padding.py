"""Edge inputs of the public API: negative padding ids (``-100``) after a row's last token, which both
``compute_advantages`` and ``step_ends_from_text`` accept (nothing reads ids there), a ``vocab_size`` the
caller gave named as such, and bools refused as delimiter ids."""

import contextlib
import warnings

import numpy as np
import pytest
import torch

import treecredit
from treecredit.registry import get_estimator

rng = np.random.default_rng(0)
B, T = 8, 10
IDS = rng.integers(1, 4, size=(B, T))
IDS[:, :3] = IDS[0, :3]  # shared prefixes: the tries branch
LENGTHS = rng.integers(3, T + 1, size=B)
MASK = (np.arange(T)[None, :] < LENGTHS[:, None]).astype(int)
MASK[1, 1] = 0  # a masked tool token inside a response: part of its prefix
REWARDS = rng.integers(0, 2, size=B).astype(float)
GROUPS = np.repeat([0, 1], 4)
PADDING = np.arange(T)[None, :] >= LENGTHS[:, None]


def _cases():
    for name in treecredit.estimators("token"):
        options = get_estimator(name).options
        steps = [{}] if "step_ends" not in options else [{"step_tokens": 2}, {"delimiter": [2, 3]}]
        for step in steps:
            yield name, step


@pytest.mark.parametrize("name,options", list(_cases()))
@pytest.mark.parametrize("pad", [-100, -1])
def test_negative_padding_ids_give_the_advantages_of_zero_padding(name, options, pad):
    # was: "response_ids: contains negative values", while step_ends_from_text accepted -100 there
    if name == "vine":
        options = {**options, "mc_values": np.random.default_rng(1).random((B, T)) * MASK}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        padded = treecredit.compute_advantages(name, response_ids=np.where(PADDING, pad, IDS), response_mask=MASK,
                                               rewards=REWARDS, group_ids=GROUPS, **options)
        zeros = treecredit.compute_advantages(name, response_ids=np.where(PADDING, 0, IDS), response_mask=MASK,
                                              rewards=REWARDS, group_ids=GROUPS, **options)
        other = treecredit.compute_advantages(name, response_ids=np.where(PADDING, 7, IDS), response_mask=MASK,
                                              rewards=REWARDS, group_ids=GROUPS, **options)
    np.testing.assert_array_equal(padded, zeros)
    np.testing.assert_array_equal(other, zeros)  # no estimator reads the ids in padding


def test_negative_padding_ids_in_torch_and_left_padding_are_accepted():
    ids = torch.tensor(np.where(PADDING, -100, IDS))
    out = treecredit.compute_advantages("tempo", response_ids=ids, response_mask=torch.tensor(MASK),
                                        rewards=torch.tensor(REWARDS), group_ids=torch.tensor(GROUPS))
    assert isinstance(out, torch.Tensor) and out.shape == (B, T)
    left = treecredit.compute_advantages("grpo", response_ids=[[-100, 5, 6], [5, 6, 7]], response_mask=[[0, 1, 1],
                                         [1, 1, 1]], rewards=[1.0, 0.0], group_ids=[0, 0], padding_side="left")
    assert left[0, 0] == 0 and left[0, 1] != 0


@pytest.mark.parametrize("row,col", [(1, 1), (0, 0)])
def test_a_negative_id_before_a_rows_last_token_is_still_refused(row, col):
    ids = IDS.copy()
    ids[row, col] = -100  # (1, 1): the masked tool token, part of the prefix
    with pytest.raises(ValueError, match=rf"^response_ids: holds the negative id -100 at row {row}, column {col}, "
                                         r"before the row's last unmasked token.*Fix: pass token ids ≥ 0 up to each "
                                         r"row's last token; a negative padding id \(e\.g\. -100\) is accepted only"):
        treecredit.compute_advantages("tempo", response_ids=ids, response_mask=MASK, rewards=REWARDS,
                                      group_ids=GROUPS)


@pytest.mark.parametrize("kind,options", [("token", {}), ("step", {"step_tokens": 2}),
                                          ("step", {"delimiter": [2, 3]})])
def test_build_tree_takes_the_padding_compute_advantages_takes(kind, options):
    # was: build_tree refused -100 after a row's last token ("contains negative values") while compute_advantages
    # took the same batch
    batch = {"response_ids": np.where(PADDING, -100, IDS), "response_mask": MASK, "rewards": REWARDS,
             "group_ids": GROUPS, **options}
    zeros = {**batch, "response_ids": np.where(PADDING, 0, IDS)}
    padded, plain = treecredit.build_tree(kind, **batch), treecredit.build_tree(kind, **zeros)
    np.testing.assert_array_equal(padded.visit_counts, plain.visit_counts)
    np.testing.assert_array_equal(padded.node_values, plain.node_values)
    estimator = "treerl" if kind == "token" else "tempo"
    np.testing.assert_array_equal(treecredit.compute_advantages(estimator, **batch),
                                  treecredit.compute_advantages(estimator, **zeros))
    inside = {**batch, "response_ids": np.where(PADDING, -100, IDS) * np.where(np.arange(T) == 1, -1, 1)}
    for call in (lambda: treecredit.build_tree(kind, **inside), lambda: treecredit.compute_advantages(estimator,
                                                                                                       **inside)):
        with pytest.raises(ValueError, match=r"^response_ids: holds the negative id -\d+ at row 0, column 1"):
            call()


def test_step_ends_from_text_accepts_the_same_padding():
    from hf_tiny import local_tokenizer

    ids = np.where(PADDING, -100, IDS + 4)
    ends = treecredit.step_ends_from_text(ids, local_tokenizer(), "\n", response_mask=MASK)
    assert ends.shape == (B, T) and not ends[PADDING].any()


def test_an_id_beyond_the_callers_vocab_size_names_vocab_size():
    from hf_tiny import local_tokenizer

    # was: "beyond the tokenizer's vocabulary of 3 ids", but 3 was the caller's vocab_size
    with pytest.raises(ValueError, match=r"^response_ids: holds the id 51, beyond vocab_size=3 \(ids 0 to 2\)\. Fix: "
                                         r"pass vocab_size=<the number of ids of the model that wrote response_ids>.*"
                                         r"or leave it None to use the tokenizer's \(52 ids\)") as caught:
        treecredit.step_ends_from_text(np.array([[5, 51, 6]]), local_tokenizer(), "\n", vocab_size=3)
    assert "tokenizer's vocabulary" not in str(caught.value)


@pytest.mark.parametrize("delimiter", [[True], True, [6, True], np.array([True]), torch.tensor([False]), [np.True_]])
def test_bools_are_refused_as_delimiter_ids(delimiter):
    # was: [True] accepted as id 1
    with pytest.raises(ValueError, match=r"^delimiter: is .*, which holds True/False, not token ids \(True would be "
                                         r"read as id 1\)\. Fix: pass the delimiter's token ids"):
        treecredit.compute_advantages("tempo", response_ids=IDS, response_mask=MASK, rewards=REWARDS,
                                      group_ids=GROUPS, delimiter=delimiter)


def test_the_row_lengths_found_for_padding_ids_are_the_batchs(monkeypatch):
    from treecredit import batch as batch_module

    calls = []
    real = batch_module.row_lengths
    monkeypatch.setattr(batch_module, "row_lengths", lambda mask: calls.append(1) or real(mask))
    padded = batch_module.make_token_batch(np.where(PADDING, -100, IDS), MASK, REWARDS, GROUPS)
    np.testing.assert_array_equal(padded.lengths, LENGTHS)
    assert len(calls) == 1  # found once, for the padding ids, and kept as TokenBatch.lengths
    plain = batch_module.make_token_batch(IDS, MASK, REWARDS, GROUPS)
    assert len(calls) == 1  # no negative id: nothing found until an estimator asks
    np.testing.assert_array_equal(plain.lengths, LENGTHS)
    assert len(calls) == 2


def _padded(rows, masks, T, side):
    ids, mask = np.zeros((len(rows), T), int), np.zeros((len(rows), T), int)
    for i, (row, m) in enumerate(zip(rows, masks)):
        cols = slice(T - len(row), T) if side == "left" else slice(0, len(row))
        ids[i, cols], mask[i, cols] = row, m
    return ids, mask


EOS_ROWS = [[5, 6, 7, 2], [5, 6, 8, 9, 2], [5, 4, 2], [5, 6, 7, 3, 2]]
EOS_MASKS = [[1, 1, 1, 0], [1, 1, 1, 1, 0], [1, 1, 0], [1, 1, 1, 1, 0]]  # the EOS token left out of the loss


@pytest.mark.parametrize("name", ["treerl", "tempo", "spo"])
def test_left_padding_with_a_masked_last_token_is_refused(name):
    # was: no row ended on the last column, so the batch was read as right-padded and treerl gave other credit
    ids, mask = _padded(EOS_ROWS, EOS_MASKS, 6, "left")
    batch = dict(rewards=[1.0, 0.0, 0.0, 1.0], group_ids=[0, 0, 0, 0])
    with pytest.raises(ValueError, match=r"^response_mask: looks left-padded \(4 of 4 responses start with masked "
                                         r"tokens, e\.g\. row 0, and 4 end on column 4, .*padding_side='left'"):
        treecredit.compute_advantages(name, response_ids=ids, response_mask=mask, **batch)
    left = treecredit.compute_advantages(name, response_ids=ids, response_mask=mask, padding_side="left", **batch)
    r_ids, r_mask = _padded(EOS_ROWS, EOS_MASKS, 6, "right")
    right = treecredit.compute_advantages(name, response_ids=r_ids, response_mask=r_mask, **batch)
    for i, row in enumerate(EOS_ROWS):
        np.testing.assert_array_equal(left[i, 6 - len(row):], right[i, :len(row)])


TIE = r"^response_mask: the padding side cannot be told"
"""The warning where the mask fits both sides and no padding id repeats on one side only."""


def _mask_alone(mask: np.ndarray) -> np.ndarray:
    """Ids that never repeat a masked id (every column its own), so that the mask's rule alone reads the side."""
    return np.where(mask == 1, 5, 0) + np.arange(mask.shape[1])


@contextlib.contextmanager
def _told(tie: bool):
    """The tie warning where the mask alone cannot tell the side, else no warning at all."""
    if tie:
        with pytest.warns(UserWarning, match=TIE):
            yield
        return
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        yield


CUT_OR_MASKED_START = [
    [[1, 1, 1, 1], [1, 1, 1, 1], [0, 1, 1, 1], [1, 1, 0, 0]],  # rows cut at the maximum length, one starts masked
    [[0, 1, 1, 1, 1], [0, 1, 1, 1, 1], [0, 1, 1, 1, 1], [0, 1, 0, 0, 0]],  # every row begins with a masked header
    [[1, 1, 1, 0, 0, 0], [1, 1, 1, 1, 0, 0], [1, 1, 0, 0, 0, 0], [1, 1, 1, 1, 0, 0]],  # EOS masked, right-padded
]


@pytest.mark.parametrize("mask, tie", list(zip(CUT_OR_MASKED_START, [True, False, False])),
                         ids=["cut", "header", "eos"])
def test_right_padded_batches_of_cut_rows_and_masked_starts_are_accepted(mask, tie):
    # "cut" was refused as left-padded: as many rows end on the last column as start on the first; with ids that
    # show no padding its mask is a tie, read as right-padded with the warning (asserted: it was left unasserted)
    _accepted_as_right_padded(mask, tie, [1.0, 0.0, 0.0, 1.0])


def _accepted_as_right_padded(mask, tie: bool, rewards) -> None:
    """``treerl`` scores one group of rows masked as ``mask``, with ids that show no padding
    (:func:`_mask_alone`), read as right-padded: no refusal, the padding-side warning where ``tie`` (:func:`_told`),
    zeros on the masked tokens."""
    mask = np.array(mask)
    with _told(tie):
        out = treecredit.compute_advantages("treerl", response_ids=_mask_alone(mask), response_mask=mask,
                                            rewards=rewards, group_ids=np.zeros(len(mask), int))
    assert out.shape == mask.shape and (out[mask == 0] == 0).all()


def test_the_left_padding_refusal_is_worded_for_the_estimator():
    # was: grpo was refused with "tree credit would then compare misaligned prefixes", which grpo does not do
    batch = dict(response_ids=[[0, 5, 6], [5, 6, 7]], response_mask=[[0, 1, 1], [1, 1, 1]], rewards=[1.0, 0.0],
                 group_ids=[0, 0])
    with pytest.raises(ValueError, match=r"and grpo gives one value per response, the same either way") as caught:
        treecredit.compute_advantages("grpo", **batch)
    assert "prefixes" not in str(caught.value)
    with pytest.raises(ValueError, match=r"and treerl would then compare misaligned prefixes"):
        treecredit.compute_advantages("treerl", **batch)


@pytest.mark.parametrize("name", ["grpo", "tempo", "rloo"])
def test_masked_tokens_get_zero_not_negative_zero(name):
    # was: the README snippet's output printed -0.0 on masked tokens of a response with a negative advantage
    out = treecredit.compute_advantages(name, response_ids=[[5, 6, 7, 0], [5, 6, 8, 9], [5, 4, 0, 0]],
                                        response_mask=[[1, 1, 1, 0], [1, 1, 1, 1], [1, 1, 0, 0]],
                                        rewards=[1.0, 0.0, 0.0], group_ids=[0, 0, 0])
    assert out[2, 2] == 0 and not np.signbit(out[2, 2:]).any() and out.dtype == np.float32


def test_a_right_padded_batch_narrower_than_its_width_is_not_taken_for_left_padding():
    # the rows tied for longest do not end on a common masked end: the others end elsewhere (found by a random
    # batch of tests/methods/test_against_reference.py, seed 27)
    mask = np.array([[0, 1, 1, 0, 0, 0, 0, 0, 0], [1, 0, 0, 0, 0, 0, 0, 0, 0], [0, 1, 1, 0, 0, 0, 0, 0, 0]])
    out = treecredit.compute_advantages("spo", response_ids=mask * 3 + 1, response_mask=mask,
                                        rewards=[1.0, 0.0, 0.5], group_ids=[0, 0, 0])
    assert out.shape == mask.shape


CUT_ROWS = EOS_ROWS[:3] + [[5, 6, 7, 3, 1, 1]]  # the last row cut at the maximum length: no EOS, nothing masked
CUT_MASKS = EOS_MASKS[:3] + [[1, 1, 1, 1, 1, 1]]


@pytest.mark.parametrize("name", ["treerl", "tempo", "spo"])
def test_left_padding_with_a_masked_eos_and_a_row_cut_at_the_maximum_length_is_refused(name):
    # was: the cut row ends on the last column, not before the masked EOS the others share, so the batch was
    # read as right-padded and the estimators silently compared misaligned prefixes
    ids, mask = _padded(CUT_ROWS, CUT_MASKS, 6, "left")
    batch = dict(rewards=[1.0, 0.0, 0.0, 1.0], group_ids=[0, 0, 0, 0])
    with pytest.raises(ValueError, match=r"^response_mask: looks left-padded \(3 of 4 responses start with masked "
                                         r"tokens, e\.g\. row 0, and 4 end on column 4 or fill the width \(1 cut at "
                                         r"the maximum length\), .*padding_side='left'"):
        treecredit.compute_advantages(name, response_ids=ids, response_mask=mask, **batch)
    with pytest.raises(ValueError, match=r"^response_mask: looks left-padded"):
        treecredit.build_tree("token", response_ids=ids, response_mask=mask, **batch)
    left = treecredit.compute_advantages(name, response_ids=ids, response_mask=mask, padding_side="left", **batch)
    r_ids, r_mask = _padded(CUT_ROWS, CUT_MASKS, 6, "right")
    right = treecredit.compute_advantages(name, response_ids=r_ids, response_mask=r_mask, **batch)
    for i, row in enumerate(CUT_ROWS):
        np.testing.assert_array_equal(left[i, 6 - len(row):], right[i, :len(row)])


WITH_A_CUT_ROW = [
    [[1, 1, 0, 0, 0, 0], [1, 1, 1, 0, 0, 0], [1, 1, 1, 1, 1, 1], [0, 1, 1, 0, 0, 0]],  # EOS masked, cut, header
    [[0, 1, 1, 1, 0], [0, 1, 1, 1, 0], [1, 1, 1, 1, 1]],  # the short rows share their start as well as their end
    [[1, 1, 1], [0, 1, 0]],  # one short row: a tie
]


@pytest.mark.parametrize("mask, tie", list(zip(WITH_A_CUT_ROW, [True, False, True])),
                         ids=["eos-cut-header", "same-start", "one-row"])
def test_right_padded_batches_with_a_cut_row_are_still_accepted(mask, tie):
    _accepted_as_right_padded(mask, tie, np.arange(len(mask)) % 2 * 1.0)


def _right_pads(mask: np.ndarray, pad: int = 0) -> np.ndarray:
    """:func:`_mask_alone`'s ids with each row's trailing masked run filled with one padding id, as a tokenizer
    pads on the right (a leading masked header keeps its own ids)."""
    ids = _mask_alone(mask)
    for row, live in zip(ids, mask):
        end = int(np.flatnonzero(live)[-1]) + 1 if live.any() else 0
        row[end:] = pad
    return ids


@pytest.mark.parametrize("mask", CUT_OR_MASKED_START + WITH_A_CUT_ROW,
                         ids=["cut", "header", "eos", "eos-cut-header", "same-start", "one-row"])
def test_the_same_batches_with_a_repeated_pad_id_are_accepted_without_a_warning(mask):
    """Real right padding repeats one id after the responses, which tells the side where the mask ties; only a
    batch with no trailing run of two masked tokens (one short row, one token shorter) still cannot show it."""
    mask = np.array(mask)
    ids = _right_pads(mask)
    tie = bool(mask.shape == (2, 3))  # "one-row": its only padding is one token
    with _told(tie):
        out = treecredit.compute_advantages("treerl", response_ids=ids, response_mask=mask,
                                            rewards=np.arange(len(mask)) % 2 * 1.0, group_ids=np.zeros(len(mask), int))
    assert out.shape == mask.shape and (out[mask == 0] == 0).all()


def _bits(*rows):
    return np.array([[int(c) for c in row] for row in rows])


@pytest.mark.parametrize("mask", [
    _bits("00111110", "01111110", "00011110", "00001111"),  # masked EOS; the last row ended by a stop string
    _bits("00111110", "01111110", "00011000", "00111110"),  # masked EOS; row 2 ends in masked tool tokens + EOS
], ids=["stop-string", "tool-tail"])
def test_left_padding_with_a_masked_eos_and_one_row_ending_otherwise_is_refused(mask):
    # review 2026-12-03 (2a): the masked end counted only when every row had it, so one row ending otherwise made
    # the batch read as right-padded and tree estimators silently compared misaligned prefixes
    batch = dict(response_ids=mask * 5 + 1, response_mask=mask, rewards=[1.0, 0.0, 0.0, 1.0], group_ids=[0] * 4)
    with pytest.raises(ValueError, match=r"^response_mask: looks left-padded \(4 of 4 .* 3 end on column 6"):
        treecredit.compute_advantages("treerl", **batch)
    assert treecredit.compute_advantages("treerl", padding_side="left", **batch).shape == mask.shape


@pytest.mark.parametrize("mask", [
    _bits("11111110", "00111100", "01111100"),  # a longer row ends inside the others' masked end
    _bits("01100000", "01100000", "10000000"),  # the rows sharing an end share their start too: one length
], ids=["longer-row", "same-length"])
def test_right_padded_batches_whose_rows_mostly_share_an_end_are_accepted(mask):
    out = treecredit.compute_advantages("treerl", response_ids=mask * 5 + 1, response_mask=mask,
                                        rewards=[1.0, 0.0, 1.0], group_ids=[0] * 3)
    assert out.shape == mask.shape
