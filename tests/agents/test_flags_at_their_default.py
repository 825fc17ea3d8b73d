"""A flag given on the command line counts as given even at its default value."""

import argparse

import pytest

from treecredit.training.config import TrainConfig
from treecredit.training.train_cli import add_arguments, config_from_args


def _config(tmp_path, *flags):
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    args = parser.parse_args(["--env", "agent_helpers:PoolGrid", "--out", str(tmp_path / "run"),
                              "--cache-dir", str(tmp_path / "cache"), *flags])
    return config_from_args(args)


def test_an_explicit_eval_problems_at_the_default_is_not_cut_to_a_quarter_of_the_pool(tmp_path):
    assert _config(tmp_path).eval_problems == 4  # not given: a quarter of the 16 maps
    assert _config(tmp_path, "--eval-problems", "256").eval_problems == 256  # given: kept as asked


def test_was_given_counts_flags_and_changed_values_but_not_defaults_read_back():
    config = TrainConfig(eval_every=7, given=frozenset({"seed"}))
    assert config.was_given("seed") and config.was_given("eval_every")
    assert not config.was_given("task")
    assert not TrainConfig(**{"task": "arithmetic"}).was_given("task")  # a config.json lists every field


def test_a_compare_arm_keeps_what_the_command_line_gave(tmp_path):
    from treecredit.training.arms import arm_configs

    base = TrainConfig(out=str(tmp_path / "c"), given=frozenset({"eval_problems"}))
    config = arm_configs(base, ["rloo"])["rloo"]
    assert config.estimator == "rloo"
    assert config.was_given("eval_problems") and config.was_given("estimator")


@pytest.mark.parametrize("flag", ["--task", "--sampler"])
def test_the_refusal_names_a_flag_given_at_its_default(tmp_path, flag):
    value = {"--task": "arithmetic", "--sampler": "iid"}[flag]
    with pytest.raises(ValueError, match=f"{flag} is for task runs"):
        _config(tmp_path, flag, value)


def test_the_start_note_says_a_quarter_only_when_eval_problems_was_not_given(tmp_path):
    from treecredit import envs
    from treecredit.training.agent_checks import held_out_text

    env = envs.make_env("agent_helpers:PoolGrid")
    sized = _config(tmp_path)
    assert sized.eval_problems == 4 and not sized.was_given("eval_problems")
    assert "--eval-problems not given: a quarter" in held_out_text(env, [1, 2], {1, 2}, sized=True)
    given = _config(tmp_path, "--eval-problems", "4")
    assert given.was_given("eval_problems")
    assert "quarter" not in held_out_text(env, [1, 2], {1, 2}, sized=False)
    assert held_out_text(env, [1], {1}, sized=False).startswith("1 held-out instance of ")  # was: "1 ... instances"
