"""The public interface: registry, conversions, and the errors that bad input gets."""

import numpy as np
import pytest
import torch

import treecredit
from treecredit import compute_advantages, get_estimator, register_estimator

IDS = np.array([[1, 2, 3], [1, 2, 4]])
MASK = np.array([[1, 1, 1], [1, 1, 0]])
REWARDS = np.array([1.0, 0.0])
GROUPS = np.array([0, 0])


def kwargs(**over):
    base = dict(response_ids=IDS, response_mask=MASK, rewards=REWARDS, group_ids=GROUPS)
    base.update(over)
    return base


def test_estimators_lists_builtin_names():
    assert {"grpo", "dr_grpo", "rloo"} <= set(treecredit.estimators())


def test_unknown_estimator_lists_known_names():
    with pytest.raises(ValueError, match="estimator: unknown.*grpo"):
        compute_advantages("nonesuch", **kwargs())


def test_a_turn_level_estimator_at_the_token_level_says_where_it_works():
    # was: only the token-level names, nothing about agents (treecredit train --estimator rtmc without --env)
    # and was: nothing about level='turn' / compute_turn_advantages, which the reverse error names (level='token')
    with pytest.raises(ValueError, match=r"'rtmc' exists at the turn level\)\. Fix: use one of: .*; or keep 'rtmc' "
                                         r"at the turn level \(level='turn', treecredit\.compute_turn_advantages\), "
                                         r"e\.g\. to train an agent on episodes \(treecredit train --env NAME"):
        compute_advantages("rtmc", **kwargs())
    with pytest.raises(ValueError, match=r"level='turn'"):
        get_estimator("rtmc")


def test_option_not_taken_is_an_error():
    with pytest.raises(ValueError, match="tau: estimator 'grpo' does not take"):
        compute_advantages("grpo", tau=0.1, **kwargs())


def test_duplicate_registration_refused():
    with pytest.raises(ValueError, match="already registered"):
        register_estimator("grpo")(lambda batch: None)


@pytest.mark.parametrize(
    "over, match",
    [
        (dict(response_mask=np.ones((2, 4))), "response_mask: has shape"),
        (dict(response_mask=np.array([[1, 2, 1], [1, 1, 0]])), "response_mask: must contain only 0 and 1"),
        (dict(rewards=np.array([np.nan, 0.0])), "rewards: contains NaN"),
        (dict(rewards=np.array([np.inf, 0.0])), "rewards: contains NaN or infinite"),
        (dict(rewards=np.array([1.0])), "rewards: has shape"),
        (dict(group_ids=np.array([-1, 0])), "group_ids: contains negative"),
        (dict(response_ids=np.array([[1, -2, 3], [1, 2, 4]])), "response_ids: holds the negative id -2 at row 0"),
        (dict(response_ids=np.array([1, 2, 3])), "response_ids: has shape"),
        (dict(response_ids=IDS.astype(float)), "response_ids: has dtype"),
        (dict(group_ids=[0, 0.0]), r"group_ids: mixes .*float.*a float id such as 0.0 is not an id"),
        (dict(group_ids=[1, "1"]), r"group_ids: mixes .*1 and '1' would be merged"),
    ],
)
def test_bad_input_names_argument_and_fix(over, match):
    with pytest.raises(ValueError, match=match) as info:
        compute_advantages("grpo", **kwargs(**over))
    assert "Fix:" in str(info.value)


def test_numpy_in_numpy_out_and_torch_in_torch_out():
    out = compute_advantages("grpo", **kwargs())
    assert isinstance(out, np.ndarray) and out.dtype == np.float32
    tout = compute_advantages("grpo", **kwargs(response_ids=torch.tensor(IDS), response_mask=torch.tensor(MASK),
                                                rewards=torch.tensor(REWARDS), group_ids=torch.tensor(GROUPS)))
    assert isinstance(tout, torch.Tensor) and tout.dtype == torch.float32
    np.testing.assert_array_equal(tout.numpy(), out)


def test_empty_batch_gives_empty_result():
    out = compute_advantages("grpo", response_ids=np.zeros((0, 5), int), response_mask=np.zeros((0, 5), int),
                             rewards=np.zeros(0), group_ids=np.zeros(0, int))
    assert out.shape == (0, 5)


def test_fully_masked_row_gets_zero_but_counts_in_group():
    out = compute_advantages("dr_grpo", **kwargs(response_mask=np.array([[1, 1, 1], [0, 0, 0]])))
    assert (out[1] == 0).all()
    np.testing.assert_allclose(out[0], 0.5)


@pytest.mark.parametrize("returned, match", [
    (lambda batch: np.full((1, 1), 0.5), r"estimator: 'faulty_demo' returned shape \(1, 1\), expected .* \(2, 3\)"),
    (lambda batch: [[0.0] * 3] * 2, r"estimator: 'faulty_demo' returned list"),
    (lambda batch: np.full((2, 3), np.nan), r"estimator: 'faulty_demo' returned NaN or infinite advantages \(6 of 6\)"),
])
def test_a_registered_estimators_bad_output_is_refused(returned, match):
    """A user's estimator that returns the wrong shape or NaN is refused by name, not passed to the loss."""
    from treecredit.registry import _REGISTRY

    def faulty(batch):
        return returned(batch)

    register_estimator("faulty_demo")(faulty)
    try:
        with pytest.raises(ValueError, match=match) as info:
            compute_advantages("faulty_demo", **kwargs())
        assert "Fix: make the function registered as 'faulty_demo' return" in str(info.value)
    finally:
        del _REGISTRY["token"]["faulty_demo"]


def test_a_registered_turn_estimators_wrong_shape_is_refused():
    from treecredit.registry import _REGISTRY

    register_estimator("faulty_turns", level="turn")(lambda turns: np.zeros(1))
    try:
        with pytest.raises(ValueError, match=r"'faulty_turns' returned shape \(1,\), expected .* \(3,\) \(N,\)"):
            treecredit.compute_turn_advantages("faulty_turns", group_ids=[0, 0, 0], episode_ids=[0, 1, 1],
                                               turn_index=[0, 0, 1], state_sigs=[0, 0, 1], action_sigs=[1, 2, 3],
                                               rewards=[1.0, 0.0, 0.0])
    finally:
        del _REGISTRY["turn"]["faulty_turns"]


def test_step_ends_that_are_not_0_or_1_get_their_own_fix():
    with pytest.raises(ValueError, match=r"^step_ends: must contain only 0 and 1 \(found 2\)\. Fix: build step_ends "
                                         r"with 1 on the token that ends each step"):
        compute_advantages("tempo", step_ends=np.full((2, 3), 2), **kwargs())
    with pytest.raises(ValueError, match=r"response_mask: must contain only 0 and 1 \(found 2\).*1 on trained tokens"):
        compute_advantages("grpo", **kwargs(response_mask=np.array([[1, 2, 1], [1, 1, 0]])))


def test_treerpo_bernoulli_clips_rounding_above_1_and_names_a_real_excess():
    ids = np.array([[1, 2, 3, 4], [1, 2, 5, 6], [1, 7, 8, 9]])
    common = dict(response_ids=ids, response_mask=np.ones_like(ids), group_ids=[0, 0, 0], step_tokens=2)
    near = compute_advantages("treerpo", rewards=[1 + 1e-12, 0.0, 1.0 - 1e-9], **common)
    exact = compute_advantages("treerpo", rewards=[1.0, 0.0, 1.0], **common)
    np.testing.assert_allclose(near, exact, atol=1e-5)
    with pytest.raises(ValueError, match=r"^rewards: are outside \[0, 1\] \(from 0 to 1.00001\)"):
        compute_advantages("treerpo", rewards=[1.00001, 0.0, 1.0], **common)


def test_the_options_compute_advantages_documents_are_taken_by_some_token_level_estimator():
    # was: gamma, kappa and omega listed, which only turn-level estimators take
    import re

    doc = compute_advantages.__doc__
    listed = re.findall(r"``(\w+)``", doc[doc.index("**options:"): doc.index("Returns:")])
    taken = {option for name in treecredit.estimators("token") for option in get_estimator(name).options}
    assert "tree_nodes" in listed and not set(listed) - taken - {"padding_side", "ValueError"}
