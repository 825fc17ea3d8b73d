"""TextWorld's compact view: seeded games from the local generator, exact state = the world facts, forks."""

import pytest

from treecredit.envs import make_env

pytest.importorskip("textworld")
OPTIONS = dict(view="compact", rooms=2, objects=3, quest_length=2, pool=2, max_turns=6)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return str(tmp_path_factory.mktemp("tw"))


def test_seeded_games_same_seed_same_game_and_the_expert_wins(cache):
    env, other = make_env("textworld", cache_dir=cache, **OPTIONS), make_env("textworld", cache_dir=cache, **OPTIONS)
    first = env.reset(0)
    assert first.startswith("goal: ") and "\n" in first and "exits:" in first and len(first) < 300
    assert other.reset(2) == first and other.state_key() == env.state_key()  # seed 2 is game 2 % pool = 0
    assert other.reset(1) != first
    assert env.instance_key() == 0 and other.instance_key() == 1
    done, info, turns = False, {}, 0
    while not done:
        _, reward, done, info = env.step(env.expert_action())
        turns += 1
    assert info["success"] and reward == 1.0 and turns <= 3


def test_invalid_and_text_only_commands_are_a_no_op_showing_the_view(cache):
    env = make_env("textworld", cache_dir=cache, **OPTIONS)
    env.reset(0)
    state = env.state_key()
    assert not any(a.startswith(("look", "inventory", "examine")) for a in env.valid_actions())
    for text in ("dance wildly", "look", "inventory"):
        obs, reward, done, info = env.step(text)
        assert info["invalid"] and not done and reward == 0.0
        assert obs.startswith("invalid action. ") and "exits:" in obs and env.state_key() == state


def test_state_is_the_world_facts_and_two_paths_to_one_world_merge(cache):
    env = make_env("textworld", cache_dir=cache, **OPTIONS)
    env.reset(0)
    start = env.state_key()
    assert any(fact.startswith("at(P, ") for fact in start) and start == sorted(start)
    moves = [a for a in env.valid_actions() if a.startswith("go ")]
    assert moves
    env.step(moves[0])
    assert env.state_key() != start
    back = [a for a in env.valid_actions() if a.startswith("go ")]
    env.step(back[0])  # two rooms: the only exit leads back
    assert env.state_key() == start and env.signature() == _fresh(cache, 0).signature()


def _fresh(cache, seed):
    env = make_env("textworld", cache_dir=cache, **OPTIONS)
    env.reset(seed)
    return env


def test_a_forked_episode_equals_the_same_commands_from_the_start(cache):
    env = make_env("textworld", cache_dir=cache, **OPTIONS)
    env.reset(1)
    env.step(env.valid_actions()[0])
    snap = env.snapshot()
    fork = make_env("textworld", cache_dir=cache, **OPTIONS)
    fork.restore(snap)
    replay = make_env("textworld", cache_dir=cache, **OPTIONS)
    replay.reset(1)
    replay.step(env.actions[0])
    assert fork.state_key() == replay.state_key() == env.state_key() and fork.observation == replay.observation
    action = fork.expert_action()
    assert fork.step(action) == replay.step(action)
    assert env.state_key() != fork.state_key() or action is None  # the fork does not move the original


def test_bad_view_is_refused_by_name():
    with pytest.raises(ValueError, match="view"):
        make_env("textworld", view="pictures")


@pytest.mark.slow
def test_compact_view_reports_the_same_facts_as_the_compiled_game(tmp_path):
    options = dict(rooms=2, objects=3, quest_length=2, pool=1, cache_dir=str(tmp_path))
    text, compact = make_env("textworld", **options), make_env("textworld", view="compact", **options)
    text.reset(0)
    compact.reset(0)
    assert text.state_key() == compact.state_key()
    while not compact.done:
        action = compact.expert_action()
        assert action == text.expert_action()
        _, r_text, _, _ = text.step(action)
        _, r_compact, _, _ = compact.step(action)
        assert text.state_key() == compact.state_key() and r_text == r_compact
    assert r_compact == 1.0
