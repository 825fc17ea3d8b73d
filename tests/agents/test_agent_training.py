"""``treecredit train --env``: the agent loop end to end (tiny), and its configuration errors."""

import json

import pytest

from treecredit.cli import main

TINY = ["--n-layer", "1", "--n-head", "2", "--n-embd", "16", "--warm-start-steps", "2", "--warm-start-batch", "4",
        "--prompts-per-step", "2", "--group-size", "2", "--eval-problems", "3", "--max-new-tokens", "6",
        "--no-progress", "--no-tensorboard", "--env-option", "max_turns=3", "--sampler-option", "max_len=320",
        "--sampler-option", "max_episode_tokens=200"]


@pytest.mark.parametrize("estimator", ["rtmc", "tempo"])
def test_train_env_runs_end_to_end_and_writes_metrics_and_samples(tmp_path, estimator, capsys):
    out = tmp_path / estimator
    code = main(["train", "--env", "gridworld", "--estimator", estimator, "--steps", "2", "--eval-every", "1",
                 "--out", str(out), "--cache-dir", str(tmp_path / "cache"), *TINY])
    assert code == 0
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in records if r["kind"] == "train"]
    assert len(train) == 2 and [r["kind"] for r in records].count("eval") == 3
    for key in ("success", "return", "turns", "invalid_share", "cut_share", "revisit_rate", "step_credit_share"):
        assert key in train[0]
    assert 1 <= train[0]["turns"] <= 3
    samples = [json.loads(line) for line in (out / "samples.jsonl").read_text().splitlines()]
    assert samples and samples[0]["text"].startswith("reach g")
    assert "held-out success" in capsys.readouterr().out


@pytest.mark.parametrize("flags, message", [
    (["--env-option", "bogus=1"], "bogus"),
    (["--env", "nope"], "unknown environment"),
    (["--estimator", "nope"], "unknown estimator"),
    (["--sampler-option", "fork_at=[1]", "--sampler-option", "fork_children=3"], "group_size"),
    (["--sampler-option", "nope=1"], "sampler_options"),
])
def test_train_env_refuses_bad_settings_before_any_work(tmp_path, flags, message, capsys):
    args = ["train", "--env", "gridworld", "--estimator", "rtmc", "--out", str(tmp_path), *flags]
    assert main(args) == 2
    assert message in capsys.readouterr().err


def test_train_env_refuses_episodes_longer_than_the_model_before_the_warm_start(tmp_path, capsys):
    args = ["train", "--env", "gridworld", "--estimator", "rtmc", "--out", str(tmp_path / "run"),
            "--cache-dir", str(tmp_path / "cache"), "--sampler-option", "max_len=100", "--no-progress"]
    assert main(args) == 2
    assert "max_len" in capsys.readouterr().err
    assert not (tmp_path / "cache").exists()


def test_the_default_gpt_positions_fit_textworld_and_a_given_max_len_is_checked():
    """`train --env textworld` at its defaults used to be refused (784-character first observations plus
    max_episode_tokens=400 past 768 positions); the default now grows to fit the env, and a max_len that
    does not fit names the value that does."""
    import pytest

    from treecredit.agents.episodes import EpisodeSettings
    from treecredit.envs import env_factory
    from treecredit.training.agent_loop import DEFAULT_MAX_LEN, eval_instances, gpt_positions

    settings = EpisodeSettings(action_max_tokens=8)
    grid = env_factory("gridworld")()
    assert gpt_positions(eval_instances(grid, 8), settings, {}) == DEFAULT_MAX_LEN
    world = env_factory("textworld")()
    held = eval_instances(world, 16)
    seeds = held.seeds
    positions = gpt_positions(held, settings, {})
    longest = max(len(world.reset(s) + settings.turn_prefix) for s in seeds)
    assert positions % 128 == 0 and longest + 1 + settings.max_episode_tokens <= positions < longest + 530
    with pytest.raises(ValueError, match=rf"^sampler_options: --sampler-option max_len=768 \(agent episodes\): "
                                         rf"max_len: .*exceed the model's 768 positions\. Fix: pass --sampler-option "
                                         rf"max_len={positions} or more"):
        gpt_positions(held, settings, {"max_len": 768})


def test_compare_env_refuses_a_max_len_the_episodes_do_not_fit_before_the_warm_start(tmp_path, capsys):
    args = ["compare", "--env", "gridworld", "--estimators", "grpo", "--seeds", "1", "--budget", "5000",
            "--out", str(tmp_path / "cmp"), "--cache-dir", str(tmp_path / "cache"), "--sampler-option", "max_len=100"]
    assert main(args) == 2
    assert "sampler_options (a global setting, the same in every arm): --sampler-option max_len=100 (agent " \
           "episodes): max_len: " in capsys.readouterr().err
    assert not (tmp_path / "cache").exists() and not (tmp_path / "cmp").exists()
