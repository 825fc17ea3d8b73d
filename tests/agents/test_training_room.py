"""A training instance whose first observation is longer than every held-out one (review40 finding 1): the small
GPT's positions are sized from the held-out instances, so such an instance is refused in the warm start and
skipped with the fix in an RL step, never played with its positions clamped."""

import numpy as np
import pytest
import torch
from agent_helpers import LongTraining, tiny_agent_config

from treecredit.agents import EpisodeSettings
from treecredit.envs import make_env
from treecredit.training import agent_checks
from treecredit.training.agent_checks import draw_instances, gpt_room


def long_training_config(monkeypatch, tmp_path, **changes):
    config = tiny_agent_config(monkeypatch, tmp_path, "long_training", "agent_helpers:LongTraining", **changes)
    held = make_env(config.env, **config.env_options).instances(np.random.default_rng(agent_checks.EVAL_SEED),
                                                                config.eval_problems)
    monkeypatch.setattr(LongTraining, "SHORT", set(held))
    return config


def test_the_warm_start_refuses_a_training_instance_past_the_gpt_positions(tmp_path, monkeypatch):
    from treecredit.training.agent_loop import train_agent

    config = long_training_config(monkeypatch, tmp_path, warm_start_steps=2, cache_dir=str(tmp_path / "cache"))
    with pytest.raises(ValueError, match=r"max_len: training instance \d+ has a first observation of \d+ characters, "
                       r"which plus max_episode_tokens=200 needs \d+ positions, more than the small GPT's 320 "
                       r"\(--sampler-option max_len=320\)\. Fix: pass --sampler-option max_len=\d+ or more"):
        train_agent(config)


def test_an_rl_step_skips_such_an_instance_with_the_fix(tmp_path, monkeypatch):
    from treecredit.training.agent_loop import train_agent

    config = long_training_config(monkeypatch, tmp_path, steps=2)
    messages: list[str] = []
    torch.manual_seed(0)
    train_agent(config, log=messages.append)
    skipped = [m for m in messages if m.startswith("warning: training instance") and "skipped: max_len" in m]
    assert skipped and all("pass --sampler-option max_len=" in m for m in skipped)


def test_gpt_room_names_the_positions_needed():
    settings = EpisodeSettings(action_max_tokens=4, max_episode_tokens=40)
    room = gpt_room(settings, 768, given=False)
    room(1, "x" * (768 - 40 - len(settings.turn_prefix)))  # exactly fits
    with pytest.raises(ValueError, match=r"max_len=768, sized from the held-out .* max_len=896 or more"):
        room(2, "x" * (768 - 40))
    env = make_env("gridworld")
    seen: list[str] = []
    with pytest.raises(ValueError, match=r"max_len: training instance \d+ .*\(--sampler-option max_len=50\)"):
        draw_instances(env, np.random.default_rng(0), 3, set(), seen.append, gpt_room(settings, 50, True))
    assert len(seen) == agent_checks.FAILED_RESETS_STOP - 1  # skipped with a warning, then the run stops
