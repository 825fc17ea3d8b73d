"""An estimator that needs episode returns in [0, 1] (treerpo's scale=bernoulli) on an own env with undeclared
negative rewards stops at the held-out evaluation before step 1, where the first such episodes show (was: it
trained until a step's episodes showed them, step 3 in a trial)."""

import pytest
from agent_helpers import tiny_agent_config

from treecredit.training.agent_loop import train_agent


def test_negative_returns_in_the_step_0_evaluation_stop_the_run_before_step_1(tmp_path, monkeypatch):
    config = tiny_agent_config(monkeypatch, tmp_path, "neg", "agent_helpers:UndeclaredNegative", estimator="treerpo",
                               steps=3)
    with pytest.raises(ValueError, match=r"^rewards: at the held-out evaluation before step 1 .*outside \[0, 1\] "
                       r"\(from -0\.5.*Fix: pass --estimator-option scale=std.*negative_rewards") as error:
        train_agent(config, log=lambda *a: None)
    assert "at step" not in str(error.value).split("Fix:")[0]
    records = (tmp_path / "run" / "metrics.jsonl")
    assert not records.exists() or '"kind": "train"' not in records.read_text()  # no step trained


def test_an_estimator_without_a_range_trains_on_them(tmp_path, monkeypatch):
    config = tiny_agent_config(monkeypatch, tmp_path, "neg", "agent_helpers:UndeclaredNegative", estimator="treerpo",
                               estimator_options={"scale": "std"}, steps=1)
    records = train_agent(config, log=lambda *a: None)
    assert [r["step"] for r in records if r["kind"] == "train"] == [1]
