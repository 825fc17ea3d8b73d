"""The trainer says its rollouts are right-padded (``RolloutBatch.estimator_inputs()`` passes
``padding_side="right"``) instead of leaving ``compute_advantages`` to guess the layout from the ids and mask.

A right-padded rollout whose rows begin with two masked tokens of one id and fill the width (no padding at their
ends) shows a repeated masked id at the rows' starts only, which is what left padding looks like: guessed, it was
refused as left-padded (or, for a mask both layouts fit and no telling id, read right with a warning)."""

import dataclasses
import warnings

import pytest
import torch

import treecredit
from treecredit.sampling.iid import IIDSampler
from treecredit.sampling.rollout import RolloutBatch
from treecredit.training.loop import train

torch.set_num_threads(1)

HEADER = 9  # a masked id the rows begin with, twice


def _with_masked_header(rollout: RolloutBatch) -> RolloutBatch:
    """``rollout`` with two masked ``HEADER`` tokens in front of every row and every later token live (the rows
    fill the width): still right-padded, but it looks left-padded."""
    B = rollout.shape[0]
    front = torch.full((B, 2), HEADER, dtype=rollout.response_ids.dtype)
    mask = torch.cat([torch.zeros((B, 2), dtype=torch.bool), torch.ones_like(rollout.response_mask)], dim=1)
    zeros = torch.zeros((B, 2), dtype=rollout.old_logprobs.dtype)
    step_ends = None if rollout.step_ends is None else torch.cat(
        [torch.zeros((B, 2), dtype=torch.bool), rollout.step_ends], dim=1)
    return dataclasses.replace(rollout, response_ids=torch.cat([front, rollout.response_ids], dim=1),
                               response_mask=mask, old_logprobs=torch.cat([zeros, rollout.old_logprobs], dim=1),
                               step_ends=step_ends)


def _rollout() -> RolloutBatch:
    ids = torch.tensor([[HEADER, HEADER, 3, 4, 5, 6]] * 4)
    mask = torch.tensor([[False, False, True, True, True, True]] * 4)
    return RolloutBatch(response_ids=ids, response_mask=mask, rewards=torch.tensor([1.0, 0.0, 0.5, 0.0]),
                        group_ids=torch.tensor([0, 0, 1, 1]), old_logprobs=torch.zeros(4, 6),
                        prompt_ids=[[1]] * 4, prompt_texts=["p"] * 4, response_texts=["r"] * 4,
                        problem_index=torch.tensor([0, 0, 1, 1]))


def test_a_rollout_is_read_as_right_padded_where_its_ids_look_left_padded():
    rollout = _rollout()
    inputs = {k: v for k, v in rollout.estimator_inputs().items() if k != "padding_side"}
    with pytest.raises(ValueError, match="looks left-padded"):  # what guessing the layout did
        treecredit.compute_advantages("grpo", **inputs)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for name, options in (("grpo", {}), ("tempo", {"step_ends": torch.tensor([[0, 0, 0, 1, 0, 1]] * 4)})):
            got = treecredit.compute_advantages(name, **rollout.estimator_inputs(), **options)
            assert torch.equal(got, treecredit.compute_advantages(name, **inputs, padding_side="right", **options))
            assert bool((got[:, :2] == 0).all()) and bool((got[:, 2:] != 0).any())  # the header: no credit


def test_the_trainer_trains_on_rollouts_that_look_left_padded(tiny_config, monkeypatch):
    sample = IIDSampler.sample

    def headed(self, *args, **kwargs):
        return _with_masked_header(sample(self, *args, **kwargs))

    monkeypatch.setattr(IIDSampler, "sample", headed)
    config = tiny_config(steps=2, warm_start_steps=0, eval_every=0, checkpoint_every=0)
    records = [r for r in train(config, log=lambda *a: None) if r["kind"] == "train"]
    assert [r["step"] for r in records] == [1, 2]
