"""Rewards outside the range the estimator needs that only the model's completions get (not the worked solutions
pre-flight scores) are refused at the held-out evaluation before step 1, with the estimator's own error, instead
of after sampling step 1 (trial 18: TreeRPO and an own reward giving 2.0)."""

from pathlib import Path

import pytest

from treecredit.rewards import register_reward
from treecredit.rewards.load import _REGISTERED
from treecredit.training.loop import train
from treecredit.training.metrics import read_metrics


@pytest.fixture
def above_one_on_model_text():
    """0.5 for a bare number (every worked solution), 2.0 for anything else (a barely trained model's text)."""
    register_reward("er_above", lambda prompts, completions, **_: [0.5 if c.strip().isdigit() else 2.0
                                                                   for c in completions])
    yield "er_above"
    _REGISTERED.pop("er_above", None)


def _config(tiny_config, data, reward, **options):
    return tiny_config(dataset=data, reward=[reward], task_options={"delimiter": "+"}, estimator="treerpo",
                       estimator_options=options, steps=1, warm_start_steps=5, prompts_per_step=2, group_size=2,
                       eval_problems=4)


def test_rewards_out_of_range_at_the_first_evaluation_stop_the_run_before_step_1(tiny_config, data,
                                                                                 above_one_on_model_text, monkeypatch):
    def no_step(*args, **kwargs):
        raise AssertionError("step 1 was sampled")

    config = _config(tiny_config, data, above_one_on_model_text)
    with monkeypatch.context() as patched:
        patched.setattr("treecredit.training.loop.draw_problems", no_step)
        with pytest.raises(ValueError) as info:
            train(config, log=lambda *a: None)
    message = str(info.value)
    start = ("rewards: at the held-out evaluation before step 1 (no checkpoint was saved yet: start the run again "
             "with the fix (--overwrite or another --out)): are outside [0, 1] (from ")
    assert message.startswith(start), message
    assert " to 2), which scale='bernoulli' needs" in message, message
    assert message.endswith("Fix: pass --estimator-option scale=std (or scale=none; in treecredit compare, the arm "
                            "treerpo[scale=std]), or rewards in [0, 1]."), message
    metrics = Path(config.out) / "metrics.jsonl"
    assert not metrics.exists() or read_metrics(metrics) == []


def test_an_estimator_that_takes_those_rewards_trains_on(tiny_config, data, above_one_on_model_text):
    records = train(_config(tiny_config, data, above_one_on_model_text, scale="std"), log=lambda *a: None)
    assert [r["step"] for r in records if r["kind"] == "train"] == [1]
    assert max(r["eval_sampled_reward"] for r in records if r["kind"] == "eval") > 1
