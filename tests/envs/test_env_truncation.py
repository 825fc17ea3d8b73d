"""Truncation reported as it happens (review40 finding 4): ``max_turns`` governs gymnasium's toy-text envs (not
FrozenLake-v1's own 100 steps), gymnasium's own time limit is reported as ``truncated``, and ``TextEnv.step``
keeps a subclass's ``truncated`` on the step that ends the episode."""

import pytest

from treecredit.envs import make_env
from treecredit.envs.base import TextEnv

pytest.importorskip("gymnasium")


def walk_into_the_wall(env, turns: int):
    for turn in range(1, turns + 1):
        _, _, done, info = env.step("left")  # from the start (row 0 col 0): never ends by itself
        if done:
            return turn, info
    return None, None


def test_max_turns_above_gymnasiums_limit_governs_and_ends_truncated():
    env = make_env("frozenlake", max_turns=150)
    env.reset(3)
    turn, info = walk_into_the_wall(env, 150)
    assert turn == 150 and info["truncated"] and not info["success"]  # was: ended at 100, truncated False


def test_gymnasiums_own_time_limit_is_reported_as_truncated(monkeypatch):
    import gymnasium

    env = make_env("frozenlake", max_turns=8)
    made = env._make

    def short_limit(seed):
        made(seed)
        return gymnasium.make("FrozenLake-v1", desc=env.desc, is_slippery=False, max_episode_steps=5)

    monkeypatch.setattr(env, "_make", short_limit)
    env.reset(3)
    turn, info = walk_into_the_wall(env, 8)
    assert turn == 5 and info["truncated"] and not info["success"]


class OwnLimit(TextEnv):
    """Ends at its second step with its own ``truncated``."""

    def _reset(self, seed):
        return "wait."

    def parse_action(self, text):
        return text.strip() or None

    def _step(self, action):
        done = len(self.actions) >= 2
        return "waited.", 0.0, done, {"success": False, "truncated": done}

    def state_key(self):
        return len(self.actions)


def test_a_subclass_truncated_is_kept_on_the_step_that_ends_the_episode():
    env = OwnLimit(max_turns=5)
    env.reset(1)
    assert env.step("wait")[3]["truncated"] is False
    assert env.step("wait")[3]["truncated"] is True
    env = OwnLimit(max_turns=1)
    env.reset(1)
    assert env.step("wait")[3]["truncated"] is True  # the turn limit, as before
