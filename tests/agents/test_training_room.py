"""A training instance whose first observation is longer than every held-out one (review40 finding 1): the small
GPT's positions are sized from the held-out instances, so such an instance is skipped with the fix in the warm start
and in an RL step (FAILED_RESETS_STOP in a row stop the run), never played with its positions clamped."""

import numpy as np
import pytest
import torch
from agent_helpers import LongTraining, tiny_agent_config

from treecredit.agents import EpisodeSettings
from treecredit.envs import make_env
from treecredit.training import agent_checks
from treecredit.training.agent_checks import draw_instances
from treecredit.training.agent_room import gpt_room


def long_training_config(monkeypatch, tmp_path, **changes):
    config = tiny_agent_config(monkeypatch, tmp_path, "long_training", "agent_helpers:LongTraining", **changes)
    held = make_env(config.env, **config.env_options).instances(np.random.default_rng(agent_checks.EVAL_SEED),
                                                                config.eval_problems)
    monkeypatch.setattr(LongTraining, "SHORT", set(held))
    return config


SKIPPED = (r"warning: training instance (\d+) skipped: max_len: training instance \1 has a first observation of \d+ "
           r"characters, which plus max_episode_tokens=200 needs \d+ positions, more than the small GPT's 320 "
           r"\(--sampler-option max_len=320\)\. Fix: pass --sampler-option max_len=\d+ or more")


def test_the_warm_start_skips_a_training_instance_past_the_gpt_positions(tmp_path, monkeypatch):
    """Skipped with the RL step's warning (review41 finding 3: it stopped the run partway through the warm start,
    after the run folder was written, with the warm start lost), never trained on."""
    import re

    from treecredit.agents import policy as agent_policy
    from treecredit.training.agent_loop import train_agent

    config = long_training_config(monkeypatch, tmp_path, warm_start_steps=3, warm_start_batch=4, steps=1,
                                  cache_dir=str(tmp_path / "cache"))
    drawn: list[int] = []
    real = agent_policy.scripted_episode

    def scripted(policy, env, seed, *args, **kwargs):
        drawn.append(seed)
        return real(policy, env, seed, *args, **kwargs)

    monkeypatch.setattr(agent_policy, "scripted_episode", scripted)
    messages: list[str] = []
    torch.manual_seed(0)
    train_agent(config, log=messages.append)
    start = messages.index(next(m for m in messages if m.startswith("warm start: ")))
    done = messages.index(next(m for m in messages if m.startswith("warm start: 3 steps done")))
    skipped = [m for m in messages[start:done] if "skipped" in m]
    assert skipped and all(re.fullmatch(SKIPPED + r".*", m) for m in skipped), skipped
    assert len(drawn) == 12 and all(s in LongTraining.SHORT or s % 2 for s in drawn)  # every episode a short one


def test_the_warm_start_stops_after_a_run_of_long_instances():
    """Every instance drawn too long (max_len far too small; a run is refused before this, by
    check_training_room, when its sample shows it): the warm start's draw stops with the fix after
    FAILED_RESETS_STOP skips in a row, as an RL step's does, not after thousands of warnings."""
    seen: list[str] = []
    settings = EpisodeSettings(action_max_tokens=4, max_episode_tokens=40)
    with pytest.raises(ValueError, match=r"^max_len: training instance \d+ has a first observation of \d+ "
                       r"characters, .*Fix: pass --sampler-option max_len=\d+ or more"):
        draw_instances(make_env("gridworld"), np.random.default_rng(0), 3, set(), seen.append,
                       gpt_room(settings, 50, True), warm_start=True)
    assert len(seen) == agent_checks.FAILED_RESETS_STOP - 1 and all("skipped: max_len" in m for m in seen)


def test_a_failed_reset_still_stops_the_warm_start(monkeypatch):
    """Only a too-long instance is skipped there: a reset that raises still stops the warm start (fixD)."""
    from agent_helpers import AlwaysCrashing

    class NeverResets(AlwaysCrashing):
        def _reset(self, seed):
            raise OSError("no maps at all")

    seen: list[str] = []
    settings = EpisodeSettings(action_max_tokens=4, max_episode_tokens=40)
    with pytest.raises(ValueError, match=r"NeverResets\.reset\(\d+\) raised OSError: .*warm start's instances"):
        draw_instances(NeverResets(), np.random.default_rng(0), 2, set(), seen.append, gpt_room(settings, 50, True),
                       warm_start=True)
    assert seen == []


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
