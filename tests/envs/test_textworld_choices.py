"""TextWorld with ``choices=True``: the admissible commands listed by number, the number (or the command) as action."""

import re

import pytest

from treecredit.envs import make_env

pytest.importorskip("textworld")
OPTIONS = dict(view="compact", choices=True, rooms=2, objects=3, quest_length=2, pool=2, max_turns=6)


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return str(tmp_path_factory.mktemp("tw"))


def _menu(observation: str) -> list[str]:
    """The commands of the observation's numbered list, in order (checked to be numbered 1, 2, ...)."""
    line = observation.rsplit("\n", 1)[-1]
    assert line.startswith("choices: ") and line.endswith(".")
    items = line[len("choices: "):-1].split("; ")
    numbers = [int(re.match(r"(\d+)\) ", item).group(1)) for item in items]
    assert numbers == list(range(1, len(items) + 1))
    return [item.split(") ", 1)[1] for item in items]


def test_the_observation_lists_the_admissible_commands_and_the_walkthrough_by_numbers_wins(cache):
    env = make_env("textworld", cache_dir=cache, **OPTIONS)
    plain = make_env("textworld", cache_dir=cache, **{**OPTIONS, "choices": False})
    for seed in (0, 1):
        observation = env.reset(seed)
        plain.reset(seed)
        assert observation.startswith(plain.first_observation + "\n")  # the compact view, then the list
        done, info = False, {}
        while not done:
            listed = _menu(observation)
            assert listed == plain.valid_actions()  # the admissible commands, sorted
            assert env.valid_actions() == [str(i) for i in range(1, len(listed) + 1)]
            number = env.expert_action()
            assert number.isdigit() and listed[int(number) - 1] == plain.expert_action()
            observation, reward, done, info = env.step(number)
            plain.step(listed[int(number) - 1])
            assert not info["invalid"] and env.state_key() == plain.state_key()
        assert info["success"] and reward == 1.0 and "choices:" not in observation  # a won game lists nothing


@pytest.mark.parametrize("text", ["0", "99", "-1", "1.5", "", "  ", "one", "look", "dance wildly"])
def test_an_invalid_choice_is_a_no_op_with_the_penalty_and_the_list_again(cache, text):
    env = make_env("textworld", cache_dir=cache, invalid_penalty=-0.1, **OPTIONS)
    first = env.reset(0)
    state = env.state_key()
    observation, reward, done, info = env.step(text)
    assert info["invalid"] and not done and reward == pytest.approx(-0.1)
    assert observation.startswith("invalid action. ") and _menu(observation) == _menu(first)
    assert env.state_key() == state
    observation, _, _, info = env.step(env.expert_action())  # the episode goes on
    assert not info["invalid"] and env.state_key() != state


def test_a_number_and_the_command_it_names_are_one_action(cache):
    by_number, by_text = make_env("textworld", cache_dir=cache, **OPTIONS), make_env("textworld", cache_dir=cache,
                                                                                        **OPTIONS)
    listed = _menu(by_number.reset(1))
    by_text.reset(1)
    for number, command in enumerate(listed, 1):
        assert by_number.action_signature(str(number)) == by_text.action_signature(command.upper())
    assert by_number.action_signature("1") != by_number.action_signature("2")
    by_number.step("1")
    by_text.step(listed[0])
    assert by_number.state_key() == by_text.state_key() and by_number.signature("history") == \
        by_text.signature("history")


def test_a_forked_episode_keeps_its_list(cache):
    env = make_env("textworld", cache_dir=cache, **OPTIONS)
    env.reset(1)
    env.step("1")
    fork = make_env("textworld", cache_dir=cache, **OPTIONS)
    fork.restore(env.snapshot())
    assert fork.observation == env.observation and fork.valid_actions() == env.valid_actions()


def test_the_menu_view_shows_the_goal_then_only_the_numbered_commands(cache):
    env = make_env("textworld", cache_dir=cache, **{**OPTIONS, "view": "menu"})
    compact = make_env("textworld", cache_dir=cache, **OPTIONS)
    for seed in (0, 1):
        observation = env.reset(seed)
        compact.reset(seed)
        goal = compact.first_observation.split("\n", 1)[0]
        assert observation.split("\n") == [goal, compact.first_observation.rsplit("\n", 1)[1]]
        assert env.step("99")[0] == "invalid action. " + observation.split("\n")[1]
        done, info = False, {}
        while not done:
            number = env.expert_action()
            assert number == compact.expert_action()
            observation, reward, done, info = env.step(number)
            compact.step(number)
            assert env.state_key() == compact.state_key()
            if not done:
                assert observation.startswith("choices: ") and "\n" not in observation
        assert info["success"] and reward == 1.0


def test_the_menu_view_needs_choices():
    with pytest.raises(ValueError, match="choices=true"):
        make_env("textworld", view="menu")


def test_choices_must_be_a_bool():
    with pytest.raises(ValueError, match="choices"):
        make_env("textworld", choices="yes")


@pytest.mark.slow
def test_choices_on_the_compiled_game_win_by_numbers(tmp_path):
    env = make_env("textworld", choices=True, rooms=2, objects=3, quest_length=2, pool=1, cache_dir=str(tmp_path))
    observation = env.reset(0)
    done, info = False, {}
    while not done:
        assert _menu(observation) == sorted(_menu(observation))
        observation, _, done, info = env.step(env.expert_action())
        assert not info["invalid"]
    assert info["success"]


def test_a_random_agent_plays_the_menu_view_without_a_crash(cache):
    import torch

    from treecredit.agents import EpisodeSettings, play
    from treecredit.agents.policy import agent_gpt

    options = {**OPTIONS, "view": "menu", "max_turns": 3}
    policy = agent_gpt(seed=0, n_layer=1, n_head=1, n_embd=16, max_len=512)
    episodes, generated = play(policy, lambda: make_env("textworld", cache_dir=cache, **options), [0, 1], 2,
                               torch.Generator().manual_seed(0), EpisodeSettings(action_max_tokens=3,
                                                                                 max_episode_tokens=400))
    assert len(episodes) == 4 and generated > 0
    assert sum(ep.invalid for ep in episodes) > 0  # an untrained model writes mostly invalid choices
    assert all(ep.n_turns == 3 or ep.success for ep in episodes)  # each ran to the turn limit or won
