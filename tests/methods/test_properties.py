"""Invariants of the tree estimators (hypothesis): permutation, padding, torch = NumPy, forest = groups."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from treecredit import compute_advantages

CASES = [
    ("tempo", {}), ("tempo", {"step_tokens": 2}), ("spo", {"norm_by_std": True}), ("treerl", {}),
    ("treerl", {"delimiter": 1}), ("treepo", {}), ("treerpo", {"step_tokens": 1, "scale": "std"}),
    ("treerpo", {"delimiter": 0}),
]
SETTINGS = settings(max_examples=25, deadline=None, derandomize=True)


@st.composite
def batches(draw):
    sizes = draw(st.lists(st.integers(1, 5), min_size=1, max_size=3))
    B, T = sum(sizes), draw(st.integers(1, 7))
    vocab = draw(st.integers(1, 3))
    ids = np.array(draw(st.lists(st.integers(0, vocab - 1), min_size=B * T, max_size=B * T))).reshape(B, T)
    lengths = np.array(draw(st.lists(st.integers(0, T), min_size=B, max_size=B)))
    mask = (np.arange(T)[None, :] < lengths[:, None]).astype(np.int64)
    ids = ids * mask
    rewards = np.array(draw(st.lists(st.sampled_from([0.0, 1.0, 0.25]), min_size=B, max_size=B)))
    groups = np.repeat(np.arange(len(sizes)), sizes)
    return dict(response_ids=ids, response_mask=mask, rewards=rewards, group_ids=groups)


def run(name, batch, options):
    return compute_advantages(name, **batch, **options)


@pytest.mark.parametrize("name, options", CASES)
@SETTINGS
@given(batch=batches(), data=st.data())
def test_permuting_rows_permutes_the_output(name, options, batch, data):
    perm = np.array(data.draw(st.permutations(range(batch["rewards"].size))))
    permuted = {k: v[perm] for k, v in batch.items()}
    np.testing.assert_allclose(run(name, permuted, options), run(name, batch, options)[perm], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name, options", CASES)
@SETTINGS
@given(batch=batches(), extra=st.integers(1, 4))
def test_padding_length_does_not_change_the_result(name, options, batch, extra):
    B = batch["rewards"].size
    padded = dict(batch, response_ids=np.pad(batch["response_ids"], ((0, 0), (0, extra))),
                  response_mask=np.pad(batch["response_mask"], ((0, 0), (0, extra))))
    wide = run(name, padded, options)
    np.testing.assert_array_equal(wide[:, :batch["response_ids"].shape[1]], run(name, batch, options))
    assert (wide[:, batch["response_ids"].shape[1]:] == 0).all() and wide.shape[0] == B


@pytest.mark.parametrize("name, options", CASES)
@SETTINGS
@given(batch=batches())
def test_forest_equals_its_groups_one_by_one(name, options, batch):
    if name == "treepo":
        options = {**options, "whiten": False}  # whitening couples the groups by design
    whole = run(name, batch, options)
    for g in np.unique(batch["group_ids"]):
        rows = batch["group_ids"] == g
        alone = run(name, {k: v[rows] for k, v in batch.items()}, options)
        np.testing.assert_allclose(whole[rows], alone, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name, options", CASES)
@settings(max_examples=5, deadline=None, derandomize=True)
@given(batch=batches())
def test_torch_and_numpy_agree(name, options, batch):
    torch = pytest.importorskip("torch")
    torch.set_num_threads(1)
    tensors = {k: torch.as_tensor(v) for k, v in batch.items()}
    out = run(name, tensors, options)
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float32
    np.testing.assert_array_equal(out.numpy(), run(name, batch, options))


@pytest.mark.parametrize("name, options", CASES)
@SETTINGS
@given(batch=batches())
def test_matches_the_reference_on_drawn_batches(name, options, batch):
    from treecredit.batch import make_token_batch
    from treecredit.reference import tree_estimators
    from treecredit.steps import resolve_step_ends

    ref_options = dict(options)
    steps = {k: ref_options.pop(k) for k in ("step_tokens", "delimiter") if k in ref_options}
    if steps:
        ref_options["step_ends"] = resolve_step_ends(make_token_batch(**{
            "response_ids": batch["response_ids"], "response_mask": batch["response_mask"],
            "rewards": batch["rewards"], "group_ids": batch["group_ids"]}), **steps)
    reference = getattr(tree_estimators, f"{name}_reference")
    expected = reference(batch["response_ids"], batch["response_mask"], batch["rewards"], batch["group_ids"],
                         **ref_options)
    np.testing.assert_allclose(run(name, batch, options), expected, rtol=1e-4, atol=1e-5)
