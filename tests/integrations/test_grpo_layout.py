"""TRL's GRPO layout → treecredit (torch only; the TRL trainer test runs it inside a real TRL step)."""

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import treecredit  # noqa: E402
from treecredit.integrations._grpo_layout import completion_rewards, grouped_completion_advantages  # noqa: E402

G = 3


def trl_like_batch(seed=0, n_groups=2, T=6):
    rng = np.random.default_rng(seed)
    n = n_groups * G
    ids = torch.from_numpy(rng.integers(1, 4, size=(n, T)))
    lengths = torch.from_numpy(rng.integers(2, T + 1, size=n))
    mask = (torch.arange(T)[None, :] < lengths[:, None]).long()
    rewards = torch.from_numpy(rng.integers(0, 3, size=n).astype(np.float32))
    return ids * mask, mask, rewards


def test_completion_reward_is_the_weighted_sum_and_nan_only_when_nothing_scored():
    per_func = torch.tensor([[1.0, 2.0], [float("nan"), 3.0], [float("nan"), float("nan")]])
    rewards = completion_rewards(per_func, torch.tensor([0.5, 2.0]))
    assert rewards[:2].tolist() == [4.5, 6.0]
    assert math.isnan(rewards[2].item())


@pytest.mark.parametrize("name", ["grpo", "rloo", "ibpo"])
def test_consecutive_blocks_are_the_groups(name):
    if name not in treecredit.estimators("token"):
        pytest.skip(f"{name} is not registered in this checkout")
    ids, mask, rewards = trl_like_batch()
    expected = treecredit.compute_advantages(name, response_ids=ids, response_mask=mask, rewards=rewards,
                                             group_ids=torch.tensor([0, 0, 0, 1, 1, 1]))
    got = grouped_completion_advantages(name, completion_ids=ids, completion_mask=mask, rewards=rewards,
                                        num_generations=G)
    torch.testing.assert_close(got, expected)


def test_an_unscorable_completion_gets_zero_and_leaves_its_group():
    ids, mask, rewards = trl_like_batch()
    rewards[1] = float("nan")
    got = grouped_completion_advantages("grpo", completion_ids=ids, completion_mask=mask, rewards=rewards,
                                        num_generations=G)
    assert (got[1] == 0).all()
    keep = torch.tensor([0, 2, 3, 4, 5])
    rest = treecredit.compute_advantages("grpo", response_ids=ids[keep], response_mask=mask[keep],
                                         rewards=rewards[keep], group_ids=keep // G)
    torch.testing.assert_close(got[keep], rest)


def test_nothing_scorable_gives_zeros():
    ids, mask, rewards = trl_like_batch()
    got = grouped_completion_advantages("grpo", completion_ids=ids, completion_mask=mask,
                                        rewards=torch.full_like(rewards, float("nan")), num_generations=G)
    assert got.shape == ids.shape and (got == 0).all()


def test_a_group_size_that_does_not_divide_the_batch_is_refused():
    ids, mask, rewards = trl_like_batch()
    with pytest.raises(ValueError, match="num_generations: "):
        grouped_completion_advantages("grpo", completion_ids=ids, completion_mask=mask, rewards=rewards,
                                      num_generations=4)


@pytest.mark.parametrize("option", ["step_ends", "tree_nodes"])
@pytest.mark.parametrize("kind", ["numpy", "torch"])
def test_an_unscorable_completion_leaves_its_rows_of_step_ends_and_tree_nodes_too(option, kind):
    # TRL with step_pattern or sampler="tree": a reward function that scores a completion None must not
    # stop training on a shape mismatch between the kept rows and the batch's (N, T) step ends or tree
    ids, mask, rewards = trl_like_batch()
    ids[:, :2] = ids[0, :2]  # every completion shares its first two tokens: one tree node
    n, T = ids.shape
    if option == "step_ends":
        rows = np.zeros((n, T), dtype=bool)
        rows[:, 1] = True
    else:
        rows = np.where(np.arange(T)[None, :] < 2, np.arange(n)[:, None] // G, 10 + np.arange(n)[:, None])
        rows = np.where(mask.numpy() == 1, rows, -1)
    given = rows if kind == "numpy" else torch.from_numpy(rows)
    rewards[1] = float("nan")
    got = grouped_completion_advantages("tempo", completion_ids=ids, completion_mask=mask, rewards=rewards,
                                        num_generations=G, **{option: given})
    keep = torch.tensor([0, 2, 3, 4, 5])
    expected = treecredit.compute_advantages("tempo", response_ids=ids[keep], response_mask=mask[keep],
                                             rewards=rewards[keep], group_ids=keep // G,
                                             **{option: rows[keep.numpy()]})
    assert (got[1] == 0).all() and expected.abs().sum() > 0
    torch.testing.assert_close(got[keep], expected)


def test_step_ends_the_host_warned_about_are_not_warned_about_again_when_rows_are_dropped():
    # TRL's trainer warns about its step ends (step_pattern matched nowhere), then leaves out the rows of a
    # completion no reward function scored: the advantages' own check must not warn about the same batch again
    import warnings

    from treecredit.step_text import warn_if_no_steps

    ids, mask, rewards = trl_like_batch()
    ends = np.zeros(ids.shape, dtype=bool)  # the pattern closed no step anywhere
    rewards[1] = float("nan")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert warn_if_no_steps("tempo", ends, mask, source="step_pattern '\\n\\n'", pattern="\n\n")
        grouped_completion_advantages("tempo", completion_ids=ids, completion_mask=mask, rewards=rewards,
                                      num_generations=G, step_ends=ends)
    assert [str(w.message)[:40] for w in caught if "no step boundary" in str(w.message)] == \
        ["tempo: no step boundary from step_patter"]
    with pytest.warns(UserWarning, match=r"step_ends \(no 1 in any row\)"):  # a later batch: checked again
        grouped_completion_advantages("tempo", completion_ids=ids, completion_mask=mask, rewards=rewards,
                                      num_generations=G, step_ends=ends)


def test_one_option_message_serves_trl_and_verl():
    from treecredit.integrations._grpo_layout import option_message

    error = ValueError("scale: is 'abc', not one of ['bernoulli', 'std', 'none']. Fix: pass one of them.")
    options = {"scale": "abc"}
    assert option_message(error, options, "treerpo", "checked here") == \
        "estimator_options['scale']: is 'abc', not one of ['bernoulli', 'std', 'none'] (checked here). Fix: pass " \
        "one of them."
    assert option_message(error, options, "treerpo", "checked here", option=str, argument="make_adv_estimator",
                          given=f"the options {options!r}").startswith("scale: is 'abc', not one of")
    other = RuntimeError("boom")
    assert option_message(other, options, "treerpo", "checked here") == \
        "estimator_options: estimator 'treerpo' fails with estimator_options={'scale': 'abc'} (RuntimeError: boom; " \
        "checked here). Fix: change or drop these options."
    assert option_message(other, options, "treerpo", "checked here", option=str, argument="make_adv_estimator",
                          given=f"the options {options!r}") == \
        "make_adv_estimator: estimator 'treerpo' fails with the options {'scale': 'abc'} (RuntimeError: boom; " \
        "checked here). Fix: change or drop these options."
