"""What ``valid_actions()`` returns is checked (a list or tuple of str, every entry) before any work and in the
warm start, and a bad entry is named as ``valid_actions()``'s, never as the expert's choice."""

import numpy as np
import pytest
from agent_helpers import ScriptedPolicy
from own_env_helpers import ExpertListsInts, Guess, ListedIntsLater
from test_own_env_mistakes import _train

from treecredit.agents.episodes import EpisodeSettings
from treecredit.agents.policy import noisy_expert, scripted_episode
from treecredit.training.agent_checks import check_first_step


def _random_episode(env):
    """A warm-start episode of instance 3 (secret 4) whose every action is a random valid one (noise 1)."""
    return scripted_episode(ScriptedPolicy([["1"]]), env, 3, 0, EpisodeSettings(),
                            noisy_expert(np.random.default_rng(0), 1))


BEFORE_WORK = r"in instance 5, turn 0 \(one step played before any work\)"


@pytest.mark.parametrize("env, problem", [
    ("ExpertListsInts", r"its first entry is 1 \(int\)"),  # was: passed, the expert's action being played
    ("ListedLaterInt", r"its entry 2 of 4 is 2 \(int\)"),  # was: passed, only the first entry was looked at
    ("ListedInts", r"its first entry is 2 \(int\)")])
def test_every_entry_of_valid_actions_is_checked_before_any_work(env, problem):
    import own_env_helpers

    made = getattr(own_env_helpers, env)()
    made.reset(5)
    with pytest.raises(ValueError, match=rf"^{env}\.valid_actions\(\): {problem} {BEFORE_WORK}, not an action "
                       rf"text\. Fix: make {env}\.valid_actions\(\) return the actions as str\.$"):
        check_first_step(made, 5)


@pytest.mark.parametrize("env, shown", [("ListedGenerator", "a generator"), ("ListedStr", r"'1234' \(str\)")])
def test_valid_actions_that_are_not_a_list_are_refused_before_any_work(tmp_path, env, shown):
    # was: a note that the env "offers no expert_action() or valid_actions() text", then the warm start
    # crashed with "TypeError: object of type 'generator' has no len()" (a str was played character by character)
    with pytest.raises(ValueError, match=rf"^{env}\.valid_actions\(\): returned {shown} in instance \d+, turn 0 "
                       r"\(one step played before any work\), not a list of action texts\. Fix: make "
                       rf"{env}\.valid_actions\(\) return a list of str \(\[\] when it cannot list the actions\)\.$"):
        _train(tmp_path, env)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("env, turn", [(ExpertListsInts, 0), (ListedIntsLater, 1)])
def test_the_warm_start_names_valid_actions_for_an_entry_that_is_not_text(env, turn):
    # was: "ExpertListsInts.expert_action(): the warm start's expert chose 1 (int) ... Fix: make
    # ExpertListsInts.expert_action() return the action as a str", though its expert_action returns a str
    name = env.__name__
    with pytest.raises(ValueError, match=rf"^{name}\.valid_actions\(\): its first entry is 1 \(int\) in instance 3, "
                       rf"turn {turn} of the warm start, not an action text\. Fix: make {name}\.valid_actions\(\) "
                       r"return the actions as str\.$"):  # noise 1: every action a random valid one
        _random_episode(env())


def test_a_tuple_of_texts_is_a_list_of_valid_actions():
    class Tupled(Guess):
        def valid_actions(self):
            return tuple(str(i) for i in range(1, self.n + 1))

    env = Tupled()
    episode = _random_episode(env)
    assert set(episode.actions) <= {"1", "2", "3", "4"} and episode.n_turns == len(episode.actions) >= 1
    env.reset(5)
    assert check_first_step(env, 5) == ""
