"""Forks no episode reaches, an unknown sampler option's did-you-mean, and samples.jsonl written as UTF-8."""

import json

import pytest
import torch
from agent_helpers import ScriptedPolicy

from treecredit.agents import EpisodeSettings, play
from treecredit.agents.forks import check_fork_turns, unforked_slots
from treecredit.cli import main
from treecredit.envs import make_env
from treecredit.training.config import TrainConfig

TINY = ["--n-layer", "1", "--n-head", "2", "--n-embd", "16", "--warm-start-steps", "2", "--warm-start-batch", "4",
        "--prompts-per-step", "2", "--group-size", "2", "--eval-problems", "2", "--max-new-tokens", "6",
        "--no-progress", "--no-tensorboard", "--env-option", "max_turns=3", "--sampler-option", "max_len=320",
        "--sampler-option", "max_episode_tokens=200"]


def test_a_fork_turn_past_the_turn_limit_is_refused_before_any_work(tmp_path, capsys):
    # was: accepted; no episode reached turn 99, nothing forked and every group came out half its size
    base = {"env": "gridworld", "estimator": "rtmc", "out": str(tmp_path / "run"), "steps": 1, "group_size": 4}
    with pytest.raises(ValueError, match=r"fork_at.*\[99\].*after 8 turns.*fork_at=\[t\] with t at most 7"):
        TrainConfig(**base, sampler_options={"fork_at": 99})
    with pytest.raises(ValueError, match=r"\[3\].*at most 2"):
        TrainConfig(**base, env_options={"max_turns": 3}, sampler_options={"fork_at": [0, 3]})
    TrainConfig(**base, env_options={"max_turns": 3}, sampler_options={"fork_at": [2]})  # the last turn forks
    args = ["train", "--env", "gridworld", "--sampler-option", "fork_at=99", "--steps", "1", "--warm-start-steps",
            "2", "--eval-problems", "2", "--out", str(tmp_path / "cli"), "--cache-dir", str(tmp_path / "cache")]
    assert main(args) == 2
    assert "at most 7" in capsys.readouterr().err and not (tmp_path / "cache").exists()
    check_fork_turns((99,), None)  # an env without a known limit: checked at run time


def test_unforked_slots_counts_the_places_episodes_that_ended_early_left_empty():
    policy = ScriptedPolicy([["left", "up", "right"]])
    env_fn = lambda: make_env("gridworld", holes=0.0, max_turns=3)  # noqa: E731
    settings = EpisodeSettings(fork_at=(99,), fork_children=2)
    episodes, _ = play(policy, env_fn, [11], 8, torch.Generator().manual_seed(0), settings)
    assert len(episodes) == 4 and unforked_slots(episodes, settings) == 4
    settings = EpisodeSettings(fork_at=(1,), fork_children=2)
    episodes, _ = play(policy, env_fn, [11], 8, torch.Generator().manual_seed(0), settings)
    assert len(episodes) == 8 and unforked_slots(episodes, settings) == 0


def test_an_unknown_agent_sampler_option_gets_a_did_you_mean():
    with pytest.raises(ValueError, match=r"max_episode_token.*did you mean 'max_episode_tokens'"):
        TrainConfig(env="gridworld", estimator="rtmc", sampler_options={"max_episode_token": 100})


def test_groups_shrunk_by_unreached_forks_are_said_once_and_samples_are_utf8(tmp_path, monkeypatch, capsys):
    # an env without a known turn limit cannot be checked up front: the run says how many places stayed empty
    import treecredit.agents.episodes as episodes_module
    import treecredit.agents.forks as forks

    monkeypatch.setattr(forks, "check_fork_turns", lambda fork_at, max_turns: None)
    text = episodes_module.Episode.text
    monkeypatch.setattr(episodes_module.Episode, "text", lambda self, policy: text(self, policy) + " Größe")
    out = tmp_path / "run"
    code = main(["train", "--env", "gridworld", "--estimator", "rtmc", "--steps", "2", "--eval-every", "2",
                 "--out", str(out), "--cache-dir", str(tmp_path / "cache"), *TINY,
                 "--sampler-option", "fork_at=[7]"])
    assert code == 0
    said = capsys.readouterr().out
    assert said.count("group places stayed empty") == 1 and "2 of 4 group places" in said
    train = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    train = [r for r in train if r["kind"] == "train"]
    assert [(r["unforked_episodes"], r["dropped_episodes"]) for r in train] == [(2, 0), (2, 0)]
    raw = (out / "samples.jsonl").read_bytes().decode("utf-8")
    assert "Größe" in raw and "\\u00f6" not in raw  # was: "Gr\u00f6\u00dfe"
