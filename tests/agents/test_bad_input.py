"""Bad input on the agent path: failing envs, missing markers, turn limits, unknown options, missing extras."""

import importlib.util
import re

import pytest
import torch
from agent_helpers import Flaky, ScriptedPolicy, tiny_agent_config

from treecredit.agents import EpisodeSettings, episode_metrics, pack_episodes, play
from treecredit.envs import make_env


def test_an_env_that_raises_drops_only_that_episode():
    policy = ScriptedPolicy([["up", "up", "up"], ["left", "left", "left"]])
    warnings = []
    episodes, _ = play(policy, lambda: Flaky(holes=0.0, max_turns=3), [1, 2], 2, torch.Generator(),
                       log=warnings.append)
    assert len(episodes) == 2 and {ep.seed for ep in episodes} == {2}
    assert len(warnings) == 2 and "simulator crashed" in warnings[0] and "turn 1" in warnings[0]
    with pytest.warns(RuntimeWarning, match="dropped"):
        play(policy, lambda: Flaky(holes=0.0, max_turns=3), [1], 1, torch.Generator())
    assert pack_episodes(policy, episodes, [1, 2]).rollout.shape[0] == 2


def test_an_action_without_the_marker_is_cut_and_counted():
    policy = ScriptedPolicy([["upupupupupup"]])
    settings = EpisodeSettings(action_max_tokens=4)
    (ep,), generated = play(policy, lambda: make_env("gridworld", max_turns=2), [3], 1, torch.Generator(), settings)
    assert ep.cut == 2 and ep.actions == ["upup", "upup"] and ep.invalid == 2 and generated == 8
    assert episode_metrics([ep])["cut_share"] == 1.0


def test_the_turn_limit_truncates():
    policy = ScriptedPolicy([["fly"] * 5])  # invalid actions: a no-op each, the goal is never reached
    (ep,), _ = play(policy, lambda: make_env("gridworld", holes=0.0, max_turns=3, size=8), [4], 1, torch.Generator())
    assert ep.n_turns == 3 and ep.truncated and not ep.success and not ep.context_cut and ep.invalid == 3


def test_a_training_run_goes_on_when_the_env_raises(tmp_path, monkeypatch):
    from treecredit.training.agent_loop import train_agent

    config = tiny_agent_config(monkeypatch, tmp_path, "flakygrid", "agent_helpers:Crashing", steps=3)
    messages = []
    records = train_agent(config, log=messages.append)
    train = [r for r in records if r["kind"] == "train"]
    assert [r["step"] for r in train] == [1, 2, 3]
    dropped = sum(r["dropped_episodes"] for r in train)
    assert dropped > 0 and sum("dropped at turn 1" in m and "simulator crashed" in m for m in messages) >= dropped


def test_a_long_episode_ends_at_the_token_limit():
    policy = ScriptedPolicy([["up", "down"] * 5])
    settings = EpisodeSettings(max_episode_tokens=40)
    (ep,), _ = play(policy, lambda: make_env("gridworld", holes=0.0, size=8), [4], 1, torch.Generator(), settings)
    assert ep.context_cut and len(ep.tokens) <= 40


def test_invalid_actions_are_a_no_op_with_a_message_and_the_penalty():
    env = make_env("gridworld", invalid_penalty=-0.1)
    env.reset(2)
    before = env.signature()
    obs, reward, done, info = env.step("fly away")
    assert info["invalid"] and reward == -0.1 and not done and "invalid action" in obs and "up down" in obs
    assert env.signature() == before


def test_unknown_env_and_unknown_options_are_refused_by_name():
    with pytest.raises(ValueError, match="bogus.*max_turns"):
        make_env("gridworld", bogus=1)
    with pytest.raises(ValueError, match="unknown environment 'nope'.*gridworld"):
        make_env("nope")
    with pytest.raises(ValueError, match="signature"):
        make_env("gridworld", signature="hash")
    with pytest.raises(ValueError, match="group_size"):
        EpisodeSettings(fork_at=(1,), fork_children=2).roots(3)


def test_a_missing_optional_dependency_names_the_extra(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "textworld" else real(name, *a))
    from treecredit.envs import env_available

    assert not env_available("textworld") and env_available("gridworld")
    with pytest.raises(ValueError, match=r"pip install 'treecredit\[textworld\]'"):
        make_env("textworld")


class MergedMarkerPolicy:
    """Writes 'u', 'p\\n', 'x', ... where 'p\\n' is one token (as a BPE tokenizer merges a newline)."""

    vocab = ["<pad>", "<eos>", "u", "p\n", "x", "\n"]
    pad_id, eos_id, vocab_size = 0, 1, 6
    script = [2, 3, 4, 4, 4, 4]

    def decode(self, ids):
        return "".join(self.vocab[i] for i in ids)

    def _logits(self, position):
        logits = torch.full((1, self.vocab_size), -1e4)
        logits[0, self.script[int(position)]] = 0.0
        return logits

    def step(self, state, tokens):
        return self._logits(state + 1), state + 1


@pytest.mark.parametrize("defer_last", [False, True])
def test_a_marker_merged_into_a_longer_token_ends_the_action(defer_last):
    from treecredit.agents.decode import decode_actions

    policy = MergedMarkerPolicy()
    tokens, _, stopped, _, state, pending = decode_actions(
        policy, policy._logits(0), 0, stop_ids=[1, 5], marker="\n", max_tokens=6, temperature=0.0, top_p=1.0,
        generator=torch.Generator(), defer_last=defer_last)
    assert tokens == [[2, 3]] and bool(stopped[0])
    assert state == (1 if defer_last else 2) and bool(pending[0]) == defer_last  # 'p\n' not yet in the cache


def test_option_errors_name_the_flag_the_user_typed(tmp_path):
    from treecredit.training.config import TrainConfig

    base = {"env": "gridworld", "estimator": "rtmc", "out": str(tmp_path / "run"), "steps": 1, "group_size": 4}
    cases = [({"env_options": {"size": -1}}, r"^env_options: --env-option size=-1 \(env 'gridworld'\): size: "),
             ({"sampler_options": {"fork_at": -1}}, r"^sampler_options: --sampler-option fork_at=-1 .*is \[-1\]"),
             ({"sampler_options": {"fork_at": "x"}}, r"--sampler-option fork_at='x' .*not a list of turn numbers"),
             ({"sampler_options": {"fork_children": -1, "fork_at": [0]}}, r"--sampler-option fork_children=-1 "),
             ({"sampler_options": {"fork_children": 4}}, r"fork_children: sets the copies .* fork_at names no turn"),
             ({"sampler_options": {"expert_noise": 2}}, r"--sampler-option expert_noise=2 .*must be in \[0, 1\]")]
    for overrides, message in cases:
        with pytest.raises(ValueError, match=message):
            TrainConfig(**base, **overrides)
    assert EpisodeSettings(fork_at=1).fork_at == (1,)  # one turn without brackets


@pytest.mark.parametrize("env, options, why", [
    ("cliffwalking", ["--env-option", "max_turns=4"],
     r"CliffWalkingText declares returns outside \[0, 1\] \(negative_rewards = "),
    ("gridworld", ["--env-option", "invalid_penalty=-0.1"], r"its invalid_penalty is -0\.1"),
])
def test_treerpo_on_an_env_whose_returns_leave_the_unit_range_is_refused_before_any_work(tmp_path, capsys, env,
                                                                                          options, why):
    # was: steps trained until the first negative return, then the run stopped mid-run with a --reward fix
    from treecredit.cli import main
    from treecredit.training.arms import arm_configs
    from treecredit.training.config import TrainConfig

    out = tmp_path / "run"
    argv = ["train", "--env", env, *options, "--n-layer", "1", "--n-head", "2", "--n-embd", "16", "--steps", "1",
            "--threads", "1", "--no-progress", "--no-tensorboard", "--cache-dir", str(tmp_path / "cache")]
    assert main([*argv, "--estimator", "treerpo", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert re.search(rf"estimator: 'treerpo' needs episode returns in \[0, 1\], and env '{env}' can give returns "
                     rf"outside it: {why}.*Fix: pass --estimator-option scale=std", err), err
    assert not (out / "config.json").exists() and not (tmp_path / "cache").exists()  # before any work
    env_options = dict(o.split("=") for o in options[1::2])
    base = TrainConfig(env=env, env_options=env_options, estimator="rtmc", out=str(out))
    arm_configs(base, ["treerpo[scale=std]", "rtmc"])  # the fix, given as the arm's own option, passes
    with pytest.raises(ValueError, match=r"^arm 'treerpo': 'treerpo' needs episode returns in \[0, 1\]"):
        arm_configs(base, ["treerpo", "rtmc"])
