"""docs/own-task.md states what the code does: the training ``accuracy`` threshold, and stop strings in both
samplers (its "Not done" once said the tree samplers ignore them; tests/sampling/test_stream.py shows they
do not)."""

import re
from pathlib import Path

import torch

DOC = (Path(__file__).resolve().parents[1] / "docs" / "own-task.md").read_text()


def _not_done() -> str:
    return DOC.split("## Not done", 1)[1]


def test_the_documented_accuracy_threshold_is_the_one_computed():
    from types import SimpleNamespace

    from treecredit.training.metrics import rollout_metrics

    said = re.search(r"`accuracy` \(train\) is the share of the step's scored completions whose \(weighted\) "
                     r"reward is above ([0-9.]+)", " ".join(DOC.split()))
    assert said, "docs/own-task.md no longer says what the training accuracy is"
    threshold = float(said.group(1))
    task = SimpleNamespace(step_accuracy=lambda problem, text: (0, 0), has_step_checker=False)
    rewards = torch.tensor([threshold, threshold + 1e-3, 1.2, float("nan")])
    rollout = SimpleNamespace(response_texts=["a"] * 4, problem_index=torch.zeros(4, dtype=torch.long),
                              response_mask=torch.ones(4, 2, dtype=torch.bool))
    assert abs(rollout_metrics(rollout, task, [None], rewards)["accuracy"] - 2 / 3) < 1e-6  # NaN: not scored


def test_not_done_does_not_say_the_tree_samplers_ignore_stop_strings():
    assert not re.search(r"tree samplers? (end|ignore|stop)", " ".join(_not_done().split()))
    assert "in the i.i.d. and the tree samplers alike" in " ".join(DOC.split())


def test_a_reward_above_1_at_the_step_0_evaluation_stops_the_run_as_documented(tmp_path):
    """The doc says a reward above 1 first scored at the held-out evaluation before step 1 stops the run there."""
    import pytest

    from treecredit.training.config import TrainConfig
    from treecredit.training.estimator_inputs import check_eval_rewards_in_range

    said = re.search(r"`(rewards: at the held-out evaluation before step 1 .*? needs) …`", " ".join(DOC.split()))
    assert said, "docs/own-task.md no longer quotes the step-0 evaluation's refusal"
    config = TrainConfig(estimator="treerpo", out=str(tmp_path / "run"))
    with pytest.raises(ValueError) as caught:
        check_eval_rewards_in_range(config, None, 0.0, 1.2)  # what the loop calls on the step-0 evaluation's rewards
    assert str(caught.value).startswith(said.group(1))
    check_eval_rewards_in_range(config, None, 0.0, 1.0)  # rewards in [0, 1]: no refusal
