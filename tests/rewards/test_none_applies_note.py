"""A reward function returning None ("does not apply", TRL's convention) for completions that no other function
scores is said once per run, with the count and what happens to them (they were dropped with no message; only
the reward_failed counter showed it)."""

import logging

from treecredit.rewards import RewardSet


def only_even(prompts, completions, **_):
    return [None if int(c) % 2 else 1.0 for c in completions]


def always(prompts, completions, **_):
    return [0.5] * len(completions)


def notes(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if "returned None" in r.getMessage()]


def test_completions_no_function_applies_to_are_said_once(caplog):
    rewards = RewardSet([only_even])
    with caplog.at_level(logging.WARNING, logger="treecredit.rewards"):
        assert rewards(["p"] * 4, ["1", "2", "3", "5"]) == [None, 1.0, None, None]
        rewards(["p"] * 2, ["7", "9"])  # again: only counted
    (said,) = notes(caplog)
    assert "reward: the reward function (only_even) returned None (does not apply, TRL's convention) for 3 of the " \
           "4 completions of a batch: they are skipped: no reward, so no advantage, and counted in reward_failed" \
        in said
    assert "once per run" in said and "return 0.0" in said
    assert rewards.failed == 5


def test_none_beside_a_function_that_scores_is_no_loss_and_not_said(caplog):
    rewards = RewardSet([only_even, always])
    with caplog.at_level(logging.WARNING, logger="treecredit.rewards"):
        assert rewards(["p"] * 2, ["1", "2"]) == [0.5, 1.5]
    assert notes(caplog) == [] and rewards.failed == 0


def test_not_said_in_a_probe_and_worded_for_an_evaluation(caplog):
    rewards = RewardSet([only_even])
    with caplog.at_level(logging.WARNING, logger="treecredit.rewards"):
        with rewards.probing(2, solutions=True):
            rewards(["p"] * 2, ["1", "3"])
        assert notes(caplog) == []
        with rewards.held_out():
            rewards(["p"] * 2, ["1", "2"])
    (said,) = notes(caplog)
    assert "for 1 of the 2 completions" in said and "held-out completions not scored" in said


def test_said_once_for_training_and_once_for_evaluation(caplog):
    rewards = RewardSet([only_even])
    with caplog.at_level(logging.WARNING, logger="treecredit.rewards"):
        rewards(["p"] * 2, ["1", "2"])  # training first
        with rewards.held_out():
            rewards(["p"] * 3, ["1", "3", "2"])
            rewards(["p"] * 2, ["1", "3"])  # again: only counted
        rewards(["p"] * 2, ["5", "2"])
    trained, held_out = notes(caplog)
    assert "for 1 of the 2 completions" in trained and "no advantage" in trained and "for training;" in trained
    assert "for 2 of the 3 completions" in held_out and "held-out completions not scored" in held_out
    assert "once per run (for held-out evaluation;" in held_out
