"""IBPO: LCS alignment against opposite outcomes, hand-computed; reference agreement; invariances."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from treecredit import compute_advantages
from treecredit.batch import make_token_batch
from treecredit.methods import ibpo_align
from treecredit.methods.ibpo_align import lcs_matches, opposite_pairs, step_content_ids
from treecredit.reference.ibpo import _lcs_matched, ibpo_reference
from treecredit.steps import resolve_step_ends


def call(ids, mask, rewards, groups=None, **options):
    ids = np.asarray(ids)
    groups = np.zeros(len(ids), int) if groups is None else np.asarray(groups)
    return compute_advantages("ibpo", response_ids=ids, response_mask=np.asarray(mask),
                              rewards=np.asarray(rewards, float), group_ids=groups, **options)


def test_hand_computed_token_level():
    # correct "1 2 3 4" vs wrong "1 2 9 4": only position 2 differs.
    adv = call([[1, 2, 3, 4], [1, 2, 9, 4]], np.ones((2, 4)), [1.0, 0.0], norm_by_std=False)
    # u = [0, 0, 1, 0], mean 1/4 → w = [0, 0, 4, 0]; A^grpo = ±0.5
    np.testing.assert_allclose(adv, [[0, 0, 2, 0], [0, 0, -2, 0]])


def test_hand_computed_two_partners_and_a_response_at_the_mean():
    ids = [[5, 6, 7], [5, 8, 7], [9, 6, 7], [5, 6, 7]]
    # rewards 1, 0, 0, 0.25... use mean split: μ = 0.3125; row 0 above, rows 1-3 below
    adv = call(ids, np.ones((4, 3)), [1.0, 0.0, 0.0, 0.25], norm_by_std=False)
    # row 0 vs row 1: unmatched {1}; vs row 2: unmatched {0}; vs row 3: none. u = [1, 1, 0]/3, mean 2/9
    mu = 1.25 / 4
    np.testing.assert_allclose(adv[0], (1 - mu) * np.array([1.5, 1.5, 0.0]), rtol=1e-6)
    # row 3 equals row 0: fully matched → u ≡ 0 → w = 1 (plain GRPO)
    np.testing.assert_allclose(adv[3], (0.25 - mu) * np.ones(3), rtol=1e-6)


def test_step_level_uses_identical_step_content():
    # steps of 2 tokens: row 0 = [1 2][3 4][5 6], row 1 = [1 2][3 0][5 6]
    adv = call([[1, 2, 3, 4, 5, 6], [1, 2, 3, 0, 5, 6]], np.ones((2, 6)), [1.0, 0.0], norm_by_std=False,
               step_tokens=2)
    np.testing.assert_allclose(adv[0], [0, 0, 1.5, 1.5, 0, 0])
    np.testing.assert_allclose(adv[1], [0, 0, -1.5, -1.5, 0, 0])
    by_delim = call([[1, 2, 3, 4, 5, 6], [1, 2, 3, 0, 5, 6]], np.ones((2, 6)), [1.0, 0.0], norm_by_std=False,
                    delimiter=[2])  # steps [1 2][3 4 5 6] vs [1 2][3 0 5 6]
    np.testing.assert_allclose(by_delim[0], [0, 0, 0.75, 0.75, 0.75, 0.75])


def test_sum_over_tokens_equals_grpo(rng):
    ids = rng.integers(0, 3, (8, 10))
    mask = np.ones((8, 10), int)
    rewards = rng.integers(0, 2, 8).astype(float)
    adv = call(ids, mask, rewards)
    grpo = compute_advantages("grpo", response_ids=ids, response_mask=mask, rewards=rewards,
                              group_ids=np.zeros(8, int))
    np.testing.assert_allclose(adv.sum(1), grpo.sum(1), rtol=1e-5, atol=1e-5)


def test_degenerate_cases():
    ids, mask = [[1, 2, 3], [1, 4, 3], [2, 2, 2]], np.ones((3, 3))
    out = call(ids, mask, [0.4, 0.4, 0.4])
    assert (out == 0).all() and not np.isnan(out).any()
    assert (call(ids, mask, [1.0, 0.0, 0.5], groups=[0, 1, 2]) == 0).all()  # groups of one
    out = call(ids, [[1, 1, 1], [0, 0, 0], [1, 1, 0]], [1.0, 0.0, 0.0])  # a fully masked row
    assert (out[1] == 0).all() and (out[2, 2] == 0) and np.isfinite(out).all()
    assert call(np.zeros((0, 4), int), np.zeros((0, 4)), []).shape == (0, 4)


def test_two_step_options_is_an_error():
    with pytest.raises(ValueError, match="delimiter: was given together with step_ends"):
        call([[1, 2]], [[1, 1]], [1.0], step_ends=[[0, 1]], delimiter=[2])
    with pytest.raises(ValueError, match="tau: estimator 'ibpo' does not take"):
        call([[1, 2]], [[1, 1]], [1.0], tau=0.1)


@pytest.mark.parametrize("seed", range(12))
def test_matches_reference_on_random_groups(seed):
    rng = np.random.default_rng(seed)
    B, T = int(rng.integers(2, 10)), int(rng.integers(1, 14))
    ids = rng.integers(0, 3, (B, T))
    lengths = rng.integers(0, T + 1, B)
    mask = (np.arange(T)[None] < lengths[:, None]).astype(int)
    mask[rng.random((B, T)) < 0.15] = 0  # tool tokens inside responses
    rewards = rng.integers(0, 3, B) / 2
    groups = rng.integers(0, 3, B)
    for options in [{}, dict(step_tokens=int(rng.integers(1, 4))), dict(delimiter=[0], norm_by_std=False)]:
        batch = make_token_batch(ids, mask, rewards, groups)
        step_opts = {k: v for k, v in options.items() if k != "norm_by_std"}
        ends = resolve_step_ends(batch, **step_opts, required=False)
        ref = ibpo_reference(ids, mask, rewards, groups, step_ends=ends,
                             norm_by_std=options.get("norm_by_std", True))
        # right-padded by construction (random masked tokens can make the mask alone look left-padded)
        np.testing.assert_allclose(call(ids, mask, rewards, groups, padding_side="right", **options), ref,
                                   rtol=1e-5, atol=1e-5)


def test_lcs_matches_agree_with_reference_backtrack(rng):
    a = rng.integers(0, 4, (30, 9))
    b = rng.integers(0, 4, (30, 7))
    la, lb = rng.integers(0, 10, 30), rng.integers(0, 8, 30)
    ma, mb = lcs_matches(a, la, b, lb)
    for p in range(30):
        ra, rb = _lcs_matched(a[p, : la[p]].tolist(), b[p, : lb[p]].tolist())
        assert ma[p, : la[p]].tolist() == ra and mb[p, : lb[p]].tolist() == rb
        assert ma[p].sum() == mb[p].sum()


@pytest.mark.parametrize("chunk_tokens", [50, 2**19])
def test_step_content_ids_exact_under_forced_hash_collisions(rng, monkeypatch, chunk_tokens):
    monkeypatch.setattr(ibpo_align, "CHUNK_TOKENS", chunk_tokens)  # 50: one row per chunk
    B, T = 6, 40
    ids = rng.integers(0, 3, (B, T))
    lengths = rng.integers(0, T + 1, B)
    ends = (rng.random((B, T)) < 0.3) & (np.arange(T)[None] < lengths[:, None])
    ends[np.arange(B)[lengths > 0], lengths[lengths > 0] - 1] = True
    contents = []
    for row in range(B):
        stops = np.flatnonzero(ends[row]) + 1
        contents += [tuple(ids[row, a:b]) for a, b in zip(np.concatenate(([0], stops[:-1])), stops)]
    for hash_fn in [None, lambda tok, st, off: np.zeros(st.size, np.uint64)]:  # the second: every step collides
        extra = () if hash_fn is None else (hash_fn,)
        step_ids, n_steps = step_content_ids(ids, ends, lengths, *extra)
        assert n_steps.tolist() == ends.sum(1).tolist() and len(step_ids) == len(contents)
        for i in range(len(contents)):
            for j in range(len(contents)):
                assert (step_ids[i] == step_ids[j]) == (contents[i] == contents[j])


def test_opposite_pairs_within_groups():
    side = np.array([1.0, -1.0, -0.5, 0.0, 2.0, -2.0])
    groups = np.array([0, 0, 0, 0, 1, 1])
    hi, lo = opposite_pairs(side, groups, 2)
    assert sorted(zip(hi.tolist(), lo.tolist())) == [(0, 1), (0, 2), (4, 5)]


def test_torch_in_torch_out():
    ids, mask, rewards = np.array([[1, 2, 3], [1, 5, 3]]), np.ones((2, 3), int), np.array([1.0, 0.0])
    out = call(ids, mask, rewards)
    tout = compute_advantages("ibpo", response_ids=torch.tensor(ids), response_mask=torch.tensor(mask),
                              rewards=torch.tensor(rewards), group_ids=torch.tensor([0, 0]))
    assert isinstance(tout, torch.Tensor) and tout.dtype == torch.float32
    np.testing.assert_array_equal(tout.numpy(), out)


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), pad=st.integers(0, 5), step=st.sampled_from([None, 2]))
def test_permutation_and_padding_invariance(seed, pad, step):
    rng = np.random.default_rng(seed)
    B, T = 7, 9
    ids = rng.integers(0, 3, (B, T))
    mask = (np.arange(T)[None] < rng.integers(1, T + 1, B)[:, None]).astype(int)
    rewards, groups = rng.integers(0, 2, B).astype(float), rng.integers(0, 2, B)
    options = {} if step is None else dict(step_tokens=step)
    base = call(ids, mask, rewards, groups, **options)
    order = rng.permutation(B)
    np.testing.assert_allclose(call(ids[order], mask[order], rewards[order], groups[order], **options), base[order],
                               rtol=1e-6, atol=1e-7)
    padded = call(np.pad(ids, ((0, 0), (0, pad))), np.pad(mask, ((0, 0), (0, pad))), rewards, groups, **options)
    np.testing.assert_allclose(padded[:, :T], base, rtol=1e-6, atol=1e-7)
    assert (padded[:, T:] == 0).all()


def test_row_chunking_does_not_change_the_result(monkeypatch):
    rng = np.random.default_rng(7)
    ids, rewards, groups = rng.integers(0, 3, (12, 10)), rng.integers(0, 2, 12).astype(float), rng.integers(0, 3, 12)
    mask = (np.arange(10)[None] < rng.integers(0, 11, 12)[:, None]).astype(int)
    whole = [call(ids, mask, rewards, groups, **o) for o in ({}, dict(step_tokens=3), dict(delimiter=[1]))]
    monkeypatch.setattr(ibpo_align, "CHUNK_TOKENS", 15)  # one row per chunk
    for options, expected in zip(({}, dict(step_tokens=3), dict(delimiter=[1])), whole):
        np.testing.assert_array_equal(call(ids, mask, rewards, groups, **options), expected)
    batch = make_token_batch(ids, mask, rewards, groups)
    ends = resolve_step_ends(batch, step_tokens=3)
    np.testing.assert_allclose(whole[1], ibpo_reference(ids, mask, rewards, groups, step_ends=ends), atol=1e-5)


def test_forest_equals_groups_one_by_one(rng):
    ids, rewards = rng.integers(0, 3, (12, 8)), rng.integers(0, 3, 12).astype(float)
    mask, groups = np.ones((12, 8), int), np.repeat([5, 2, 9], 4)
    for options in ({}, dict(step_tokens=2)):
        together = call(ids, mask, rewards, groups, **options)
        for g in (5, 2, 9):
            rows = groups == g
            np.testing.assert_array_equal(call(ids[rows], mask[rows], rewards[rows], **options), together[rows])


def test_alignment_size_is_refused_before_work_with_the_step_level_alternative():
    import treecredit

    rng = np.random.default_rng(0)
    ids = rng.integers(1, 9, (8, 50))
    batch = dict(response_ids=ids, response_mask=np.ones((8, 50), int), rewards=np.array([1.0, 0.0] * 4),
                 group_ids=np.zeros(8, int))
    # 4 × 4 opposite pairs of 51 × 51 cells each
    with pytest.raises(ValueError, match=r"^max_alignment_cells: .*4.16e\+04 cells \(16 opposite pairs\).*"
                                         r"step_tokens=64"):
        treecredit.compute_advantages("ibpo", **batch, max_alignment_cells=10_000)
    steps = treecredit.compute_advantages("ibpo", **batch, max_alignment_cells=10_000, step_tokens=10)
    assert np.isfinite(steps).all()
    raised = treecredit.compute_advantages("ibpo", **batch, max_alignment_cells=50_000)
    np.testing.assert_array_equal(raised, treecredit.compute_advantages("ibpo", **batch))
    with pytest.raises(ValueError, match="^max_alignment_cells: .*longer steps"):
        treecredit.compute_advantages("ibpo", **batch, max_alignment_cells=10, step_tokens=10)
