"""The environment registry and the built-in text environments."""

import numpy as np
import pytest

import treecredit.envs as envs
from treecredit.envs import environments, make_env
from treecredit.signatures import signature_agreement


def test_registry_lists_the_builtin_envs():
    assert {"gridworld", "frozenlake", "cliffwalking", "textworld"} <= set(environments())
    assert envs.env_options("gridworld")["max_turns"] == 8


@pytest.mark.parametrize("name", ["gridworld", "frozenlake", "cliffwalking"])
def test_the_expert_solves_seeded_instances_and_same_seed_same_instance(name):
    for seed in range(5):
        env = make_env(name, max_turns=30)
        first = env.reset(seed)
        assert make_env(name).reset(seed) == first
        done, info = False, {}
        while not done:
            obs, reward, done, info = env.step(env.expert_action())
        assert info["success"], (name, seed)


def test_gridworld_instances_differ_and_observation_describes_the_neighbours():
    env = make_env("gridworld", size=5)
    keys = set()
    for seed in range(20):
        env.reset(seed)
        keys.add(env.instance_key())
    assert len(keys) > 15
    env = make_env("gridworld", size=3, holes=0.0)
    env.reset(0)
    r, c = env.pos
    assert ("u#" in env.observation) == (r == 0) and ("l#" in env.observation) == (c == 0)


def test_signature_modes():
    env = make_env("gridworld", holes=0.0, size=5)
    env.reset(1)
    start = {mode: env.signature(mode) for mode in envs.SIGNATURE_MODES}
    there, back = ("up", "down") if env.pos[0] else ("down", "up")
    env.step(there)
    env.step(back)  # back where it started, by a path
    if env.done:
        pytest.skip("walked into the goal")
    assert env.signature("state") == start["state"]
    assert env.signature("history") != start["history"]
    assert env.signature("episode") != start["episode"]
    env2 = make_env("gridworld", holes=0.0, size=5)
    env2.reset(1)
    assert env2.signature("episode") != start["episode"] and env2.signature("state") == start["state"]


def test_frozenlake_signature_audit_observation_text_matches_exact_state():
    env = make_env("frozenlake", max_turns=6)
    rng = np.random.default_rng(0)
    states, sigs = [], []
    for _ in range(10):
        env.reset(3)
        while not env.done:
            states.append(env.state_key())
            sigs.append(env.signature("observation"))
            env.step(env.valid_actions()[int(rng.integers(4))])
    agreement = signature_agreement(states, sigs)
    assert agreement.false_positive_rate == 0.0  # the text names the cell
    assert agreement.false_negative_rate > 0.0  # the first observation carries the map: one cell, two texts


@pytest.mark.slow
def test_textworld_games_are_generated_locally_and_forks_replay(tmp_path):
    pytest.importorskip("textworld")
    env = make_env("textworld", pool=1, cache_dir=str(tmp_path))
    env.reset(0)
    done, info = False, {}
    while not done:
        action = env.expert_action()
        snap = env.snapshot()
        obs, reward, done, info = env.step(action)
    assert info["success"] and reward == 1.0
    other = make_env("textworld", pool=1, cache_dir=str(tmp_path))
    other.restore(snap)
    assert other.signature() != env.signature()
    assert other.step(action)[1] == 1.0 and other.signature() == env.signature()
    env.reset(0)
    assert not env.step("dance wildly")[3]["success"]
