"""Episodes cut short by ``max_episode_tokens`` are said, once, in the output and log.txt, naming the option (was:
silent, only context_cut_share in metrics.jsonl)."""

from agent_helpers import tiny_agent_config

from treecredit.agents import EpisodeSettings
from treecredit.training.agent_loop import context_cut_warning, train_agent


def test_a_run_whose_episodes_are_cut_warns_once_naming_the_option(tmp_path, monkeypatch):
    config = tiny_agent_config(monkeypatch, tmp_path, "huge", "agent_helpers:HugeObservations", steps=2,
                               eval_every=1, env_options={"max_turns": 4, "holes": 0.0})
    said = []
    records = train_agent(config, log=said.append)
    assert max(r.get("context_cut_share", r.get("eval_context_cut_share", 0)) for r in records) >= 0.25
    warnings = [line for line in said if "max_episode_tokens" in str(line)]
    assert len(warnings) == 1, said
    assert "ended because they reached max_episode_tokens=200" in warnings[0]
    assert "Fix: raise --sampler-option max_episode_tokens (e.g. 400)" in warnings[0]
    assert "ended because they reached max_episode_tokens=200" in (tmp_path / "run" / "log.txt").read_text()


def test_the_warning_needs_a_quarter_of_the_episodes_cut():
    settings = EpisodeSettings(max_episode_tokens=100)
    assert context_cut_warning({"context_cut_share": 0.2}, ("context_cut_share",), settings, "step 1") is None
    message = context_cut_warning({"a": 0.1, "b": 0.5}, ("a", "b"), settings, "step 1")
    assert message.startswith("warning: step 1: 50% of the episodes ended because they reached max_episode_tokens=100")
