"""An env that fails in ``play`` past the checks made before any work (a later state's signature, a reset, a
fork's restore) drops that episode with a warning naming the env class, the method, the instance and the turn;
the kept episodes are exactly what they would be alone (their log-probabilities equal a fresh prefill). A reset
that fails while a run draws instances names the env class, ``reset`` and the instance."""

import re

import numpy as np
import pytest
import torch
from agent_helpers import LateBadState, NoRestore, OddResetFails, ScriptedPolicy, tiny_agent_config

from treecredit.agents import EpisodeSettings, pack_episodes, play
from treecredit.agents.policy import agent_gpt


def _fresh_prefill_gap(policy, episodes, seeds) -> float:
    batch = pack_episodes(policy, episodes, seeds)
    with torch.no_grad():
        fresh, _ = policy.token_logprobs(batch.rollout.prompt_ids, batch.rollout.response_ids, with_entropy=False)
    return float(((fresh - batch.rollout.old_logprobs).abs() * batch.rollout.response_mask).max())


def test_a_state_key_that_fails_later_drops_the_episode_naming_env_method_instance_and_turn():
    messages = []
    episodes, _ = play(ScriptedPolicy([["up", "up", "up"]]), lambda: LateBadState(holes=0.0, max_turns=3), [1, 2], 2,
                       torch.Generator(), log=messages.append)  # was: ValueError out of play, the run lost
    assert [ep.seed for ep in episodes] == [2, 2] and all(ep.n_turns == 3 for ep in episodes)
    assert len(messages) == 2 and all(m.startswith("episode of instance 1 dropped at turn 1: the env's LateBadState."
                                                   "signature() raised ValueError: LateBadState.state_key(): "
                                                   "returned ") for m in messages), messages


def test_dropping_rows_mid_play_keeps_the_carried_cache_exact():
    policy = agent_gpt(seed=0, n_layer=1, n_head=2, n_embd=16, max_len=512)
    settings = EpisodeSettings(action_max_tokens=4)
    messages = []
    episodes, _ = play(policy, lambda: LateBadState(holes=0.0, max_turns=3), [1, 2, 3, 4], 2,
                       torch.Generator().manual_seed(0), settings, log=messages.append)
    assert sorted({ep.seed for ep in episodes}) == [2, 4] and len(messages) == 4
    assert _fresh_prefill_gap(policy, episodes, [1, 2, 3, 4]) < 1e-5


def test_a_reset_that_fails_in_play_drops_that_instances_episodes():
    policy = agent_gpt(seed=0, n_layer=1, n_head=2, n_embd=16, max_len=512)
    messages = []
    episodes, _ = play(policy, lambda: OddResetFails(holes=0.0, max_turns=3), [1, 2, 3, 4], 2,
                       torch.Generator().manual_seed(0), EpisodeSettings(action_max_tokens=4), log=messages.append)
    assert [(ep.seed, ep.group) for ep in episodes] == [(2, 1), (2, 1), (4, 3), (4, 3)]
    assert len(messages) == 4 and messages[0] == ("episode of instance 1 dropped at turn 0: the env's "
                                                  "OddResetFails.reset(1) raised RuntimeError: map file missing")
    assert _fresh_prefill_gap(policy, episodes, [1, 2, 3, 4]) < 1e-5  # each kept row got its own instance's prefill
    policy.module.train()
    assert play(policy, lambda: OddResetFails(), [1, 3], 1, torch.Generator(), log=messages.append) == ([], 0)
    assert policy.module.training  # the module's mode is put back


def test_a_fork_whose_restore_fails_drops_the_copies_only():
    messages = []
    settings = EpisodeSettings(fork_at=(1,), fork_children=2)
    episodes, _ = play(ScriptedPolicy([["up", "up", "up"]]), lambda: NoRestore(holes=0.0, size=6, max_turns=3), [2],
                       2, torch.Generator(), settings, log=messages.append)
    assert len(episodes) == 1 and episodes[0].n_turns == 3
    assert messages == ["episode of instance 2 dropped at turn 1: the env's NoRestore.restore(<tuple>) raised "
                        "RuntimeError: cannot restore"]


def test_a_reset_that_fails_while_drawing_instances_names_the_env_reset_and_instance():
    from agent_helpers import AlwaysCrashing

    from treecredit.training.agent_checks import FAILED_RESETS_STOP, draw_instances
    from treecredit.training.agent_loop import eval_instances

    probe = OddResetFails(holes=0.0)
    with pytest.raises(ValueError, match=r"^env: OddResetFails\.reset\(\d*[13579]\) raised RuntimeError: map file "
                       r"missing \(drawing the held-out instances before any work\)\. Fix: fix OddResetFails\.reset "
                       r"\(play that instance by hand"):  # was: the bare RuntimeError
        eval_instances(probe, 8)
    with pytest.raises(ValueError, match=r"^env: OddResetFails\.reset\(\d+\) raised .*\(drawing the warm start's "
                       r"instances\)"):
        draw_instances(probe, np.random.default_rng(0), 8, set())
    messages = []  # an RL step: such an instance is skipped with a warning, the others are drawn
    seeds = draw_instances(probe, np.random.default_rng(0), 8, set(), messages.append)
    assert len(seeds) == 8 and all(s % 2 == 0 for s in seeds) and messages
    assert all(re.match(r"warning: training instance (\d+) skipped: OddResetFails\.reset\(\1\) raised RuntimeError: "
                        r"map file missing \(drawing training instances\)", m) for m in messages), messages

    class NeverResets(AlwaysCrashing):
        def _reset(self, seed):
            raise OSError("no maps at all")

    messages.clear()
    with pytest.raises(ValueError, match=r"NeverResets\.reset\(\d+\) raised OSError: no maps at all"):
        draw_instances(NeverResets(), np.random.default_rng(0), 2, set(), messages.append)
    assert len(messages) == FAILED_RESETS_STOP - 1  # a broken env stops the run, not thousands of warnings


def test_a_training_run_goes_on_when_a_later_state_has_no_signature(tmp_path, monkeypatch):
    from treecredit.training.agent_loop import train_agent

    config = tiny_agent_config(monkeypatch, tmp_path, "latebad", "agent_helpers:LateBadState")
    messages = []
    records = train_agent(config, log=messages.append)  # was: ValueError out of play at the first odd instance
    train = [r for r in records if r["kind"] == "train"]
    assert [r["step"] for r in train] == [1, 2]
    dropped = sum(r["dropped_episodes"] for r in train)
    named = [m for m in messages if "dropped at turn 1: the env's LateBadState.signature() raised ValueError: "
             "LateBadState.state_key()" in m]
    assert dropped > 0 and len(named) >= dropped
