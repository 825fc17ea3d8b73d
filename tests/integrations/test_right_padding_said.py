"""The TRL and verl integrations say their batches are right-padded (``padding_side="right"``) instead of leaving
``compute_advantages`` and ``step_ends_from_text`` to guess the layout from the ids and mask: both frameworks pad
completions on the right.

A right-padded batch whose rows begin with two masked tokens of one id (a tool's output, a header the model did not
write) and fill the width shows a repeated masked id at the rows' starts only, which is what left padding looks
like: guessed, it was refused as left-padded, and the run stopped at its first batch."""

import warnings

import pytest

torch = pytest.importorskip("torch")

import treecredit  # noqa: E402
from treecredit.integrations import verl as tc_verl  # noqa: E402
from treecredit.integrations._grpo_layout import grouped_completion_advantages  # noqa: E402

HEADER = 3  # the masked id every row begins with, twice (decodes to 'a' for the tokenizer below)


def _batch():
    ids = torch.tensor([[HEADER, HEADER, 5, 4, 5, 5], [HEADER, HEADER, 5, 4, 3, 4],
                        [HEADER, HEADER, 3, 5, 4, 5], [HEADER, HEADER, 5, 5, 5, 4]])
    mask = torch.tensor([[0, 0, 1, 1, 1, 1]] * 4)
    rewards = torch.tensor([1.0, 0.0, 0.0, 1.0])
    return ids, mask, rewards


def test_the_batch_would_be_refused_as_left_padded_if_guessed():
    ids, mask, rewards = _batch()
    with pytest.raises(ValueError, match="looks left-padded"):
        treecredit.compute_advantages("grpo", response_ids=ids, response_mask=mask, rewards=rewards,
                                      group_ids=[0, 0, 1, 1])


@pytest.mark.parametrize("estimator", ["grpo", "tempo"])
def test_trl_completions_are_read_right_padded(estimator):
    ids, mask, rewards = _batch()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no guess, no warning about one
        got = grouped_completion_advantages(estimator, completion_ids=ids, completion_mask=mask, rewards=rewards,
                                            num_generations=2)
    expected = treecredit.compute_advantages(estimator, response_ids=ids, response_mask=mask, rewards=rewards,
                                             group_ids=[0, 0, 1, 1], padding_side="right")
    torch.testing.assert_close(got, expected)
    assert got[:, :2].abs().sum() == 0 and got[:, 2:].abs().sum() > 0


def _verl_batch():
    ids, mask, rewards = _batch()
    token_level_rewards = torch.zeros(ids.shape)
    token_level_rewards[:, -1] = rewards
    return {"token_level_rewards": token_level_rewards, "response_mask": mask, "index": ["p0", "p0", "p1", "p1"],
            "responses": ids}


def test_verl_responses_are_read_right_padded():
    batch = _verl_batch()
    ids, mask, rewards = _batch()
    advantages, returns = tc_verl.verl_advantages("grpo", **batch)
    expected = treecredit.compute_advantages("grpo", response_ids=ids, response_mask=mask, rewards=rewards,
                                             group_ids=[0, 0, 1, 1], padding_side="right")
    torch.testing.assert_close(advantages, expected)


class _Letters:
    """A tokenizer stand-in: ids 3, 4, 5 decode to 'a', '|', 'b'."""

    def decode(self, ids):
        return "".join({3: "a", 4: "|", 5: "b"}[int(i)] for i in ids)


def test_verl_step_ends_from_text_are_found_in_right_padded_responses():
    batch = _verl_batch()
    ids, mask, _ = _batch()
    config = {"treecredit_options": {"step_pattern": "|", "tokenizer": _Letters()}}
    advantages = tc_verl.make_adv_estimator("tempo")(**batch, config=config)[0]
    ends = treecredit.step_ends_from_text(ids, _Letters(), "|", response_mask=mask, padding_side="right")
    assert ends.sum() > 0
    expected = treecredit.compute_advantages("tempo", response_ids=ids, response_mask=mask,
                                             rewards=batch["token_level_rewards"].sum(-1), group_ids=[0, 0, 1, 1],
                                             padding_side="right", step_ends=ends)
    torch.testing.assert_close(advantages, expected)


def test_trl_evaluation_with_one_completion_a_prompt_gives_zeros_without_the_group_ids_warning():
    """review39 6: TRL's ``num_generations_eval=1`` is allowed, and every evaluation batch warned 'no group has two
    responses ... Fix: give all responses of one prompt the same group id', a fix a TRL user (who passes no group
    ids) cannot apply; TRL's advantages are 0 there too."""
    ids, mask, rewards = _batch()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = grouped_completion_advantages("grpo", completion_ids=ids, completion_mask=mask, rewards=rewards,
                                            num_generations=1)
    assert got.abs().sum() == 0
    with pytest.warns(UserWarning, match="no group has two"):  # the core still says it to a caller of its own
        treecredit.compute_advantages("grpo", response_ids=ids, response_mask=mask, rewards=rewards,
                                      group_ids=[0, 1, 2, 3], padding_side="right")
