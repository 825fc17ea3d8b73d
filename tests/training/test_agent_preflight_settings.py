"""check_agent_config builds an agent run's episode settings through episode_settings (it built its own near-copy,
which could drift from what training and compare use), with the same checks: the sampler options in
EpisodeSettings' words, the decoding flags in TrainConfig's."""

import pytest

from treecredit.training import agent_preflight
from treecredit.training.config import TrainConfig


def test_the_config_check_uses_episode_settings(tmp_path, monkeypatch):
    built = []

    def recorded(config, **kwargs):
        built.append(kwargs)
        return episode_settings(config, **kwargs)

    episode_settings = agent_preflight.episode_settings
    monkeypatch.setattr(agent_preflight, "episode_settings", recorded)
    config = TrainConfig(env="gridworld", estimator="rtmc", out=str(tmp_path / "run"), group_size=4,
                         sampler_options={"fork_at": [1], "fork_children": 2})
    assert built == [{"decoding": False}]
    settings, agent = episode_settings(config)
    assert settings.fork_at == (1,) and settings.fork_children == 2 and agent == {}


@pytest.mark.parametrize("overrides, message", [
    ({"temperature": -1.0}, r"^temperature: is -1\.0, training needs sampling \(> 0\)"),  # TrainConfig's words
    ({"top_p": 1.5}, r"^top_p: is 1\.5, must be in \(0, 1\]\. Fix: pass 1\.0 to sample the full distribution"),
    ({"sampler_options": {"fork_children": 2, "fork_at": []}},
     r"^sampler_options: --sampler-option fork_children=2 .*fork_children: sets the copies .* no turn"),
])
def test_the_checks_stay_the_same(tmp_path, overrides, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig(env="gridworld", estimator="rtmc", out=str(tmp_path / "run"), group_size=4, **overrides)
