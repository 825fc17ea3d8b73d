"""Agent runs and TRL's reward keywords: an agent run (``--env``) calls no reward function (the env's step gives the
rewards), so ``trainer_state``, ``log_metric`` and ``log_extra`` (what ``treecredit train`` passes a task run's
reward functions) have nothing to reach there; a reward function given to one is refused, saying so and where
rewards are shaped instead (was: only "the environment gives the rewards")."""

import pytest
from agent_helpers import preflight_config

from treecredit.rewards.combine import TRL_KEYWORDS


def _shaped(prompts, completions, trainer_state, log_metric, log_extra, **kwargs):
    return [0.0] * len(completions)


def _assert_says_why(message: str) -> None:
    assert message.startswith("reward: --reward is for task runs; --env gridworld would ignore it"), message
    assert "no reward function is called, so TRL's trainer_state, log_metric and log_extra have nothing to reach" \
        in message and "write an own env whose _step returns them" in message, message


def test_an_agent_run_refuses_a_reward_function_saying_the_trainer_keywords_do_not_apply(tmp_path, capsys):
    from treecredit.cli import main

    args = ["train", "--env", "gridworld", "--reward", "exact", "--out", str(tmp_path / "run"),
            "--cache-dir", str(tmp_path / "cache")]
    assert main(args) == 2
    err = capsys.readouterr().err
    _assert_says_why(err[err.index("reward: --reward"):])
    assert not (tmp_path / "run").exists()


def test_from_python_a_reward_function_with_the_trainer_keywords_is_refused_the_same_way(tmp_path):
    assert {"trainer_state", "log_metric", "log_extra"} <= set(TRL_KEYWORDS)
    with pytest.raises(ValueError) as info:
        preflight_config(tmp_path, "gridworld", reward=[_shaped])
    _assert_says_why(str(info.value))
