"""An env whose ``reset(seed)`` is not deterministic (review40 finding 2): the pre-flight refuses it naming
``reset`` and the fix, and ``play`` drops an episode whose prompt is not the one prefilled for its instance."""

import itertools
import re

import numpy as np
import pytest
import torch

from treecredit.agents import EpisodeSettings, pack_episodes, play
from treecredit.agents.policy import agent_gpt
from treecredit.envs import make_env
from treecredit.envs.base import TextEnv
from treecredit.training.agent_checks import check_reset_repeats, eval_instances


class Coin(TextEnv):
    """Draws its target from a counter shared by all instances (an unseeded draw), not from ``seed``."""

    draws = itertools.count()

    def _reset(self, seed):
        self.target = next(self.draws) % 10
        return f"target {self.target}"

    def parse_action(self, text):
        return text.strip() or None

    def _step(self, action):
        return "ok", float(action == str(self.target)), True, {"success": action == str(self.target)}

    def state_key(self):
        return self.target


class HiddenCoin(Coin):
    """The same first observation every time, a different hidden state."""

    def _reset(self, seed):
        super()._reset(seed)
        return f"guess a digit ({seed})"


@pytest.mark.parametrize("env, said", [(Coin(), "two different first observations"),
                                       (HiddenCoin(), "two different states")])
def test_the_preflight_refuses_a_reset_that_is_not_deterministic(env, said):
    with pytest.raises(ValueError, match=said) as caught:
        eval_instances(env, 4)
    message = str(caught.value)
    assert f"{type(env).__name__}.reset" in message and "seed your RNG from `seed`" in message


class CountingResets(Coin):
    """Seeded, but its first observation shows how many resets came before (review41 finding 6)."""

    def _reset(self, seed):
        self.resets = getattr(self, "resets", 0) + 1
        self.target = seed % 10
        return f"game {self.resets}: guess a digit"


def test_the_fix_names_a_first_observation_that_depends_on_earlier_resets():
    with pytest.raises(ValueError, match=r"CountingResets\.reset: returned two different first observations") as caught:
        eval_instances(CountingResets(), 4)
    assert ("do not let the first observation or state_key() depend on earlier resets: counters, state kept from "
            "the previous instance") in str(caught.value)


def test_a_deterministic_reset_passes():
    env = make_env("gridworld")
    first = env.reset(3)
    key = env.state_key()
    check_reset_repeats(env, 3, first, key, env.reset(3))
    assert eval_instances(env, 4).seeds
    with pytest.raises(ValueError, match=r"GridWorld\.reset: left two different states .* seed your RNG"):
        check_reset_repeats(env, 3, first, key, env.reset(4) and first)  # another instance, shown the same text


def test_play_drops_an_episode_whose_prompt_was_not_prefilled():
    policy = agent_gpt(seed=0, n_layer=1, n_head=2, n_embd=32, max_len=64)
    warnings = []
    Coin.draws = itertools.count()  # targets 0, 1, 2, 3: one per episode
    episodes, _ = play(policy, lambda: Coin(max_turns=2), [7], 4, torch.Generator().manual_seed(0),
                       EpisodeSettings(action_max_tokens=3, max_episode_tokens=40), log=warnings.append)
    assert [ep.prompt_text for ep in episodes] == ["target 0\n> "]
    assert len(warnings) == 3
    assert all("Coin.reset(7) is not deterministic" in w and "an RNG seeded with `seed`" in w for w in warnings)
    rollout = pack_episodes(policy, episodes, [7]).rollout
    with torch.no_grad():
        new, _ = policy.token_logprobs(rollout.prompt_ids, rollout.response_ids, with_entropy=False, layout="rows")
    assert float(((new - rollout.old_logprobs).abs() * rollout.response_mask).max()) < 1e-4


def test_the_dropped_episode_warning_says_which_episode_why_and_the_fix():
    """It said only 'seed your RNG from `seed`': now which episode of which group, that its prompt is not the one
    prefilled for its group, and the fix concretely."""
    policy = agent_gpt(seed=0, n_layer=1, n_head=2, n_embd=32, max_len=64)
    warnings = []
    Coin.draws = itertools.count()
    play(policy, lambda: Coin(max_turns=2), [5, 7], 2, torch.Generator().manual_seed(0),
         EpisodeSettings(action_max_tokens=3, max_episode_tokens=40), log=warnings.append)
    assert [w.split(":")[0] for w in warnings] == ["episode 1 of 2 of group 0 (instance 5) dropped at turn 0",
                                                   "episode 1 of 2 of group 1 (instance 7) dropped at turn 0"]
    first = warnings[0]
    assert "its first observation differs from the prompt prefilled for its group" in first
    assert "Coin.reset(5) returned 'target 1' for this episode but 'target 0' for the one whose prompt" in first
    assert "`self.rng = random.Random(seed)`" in first and "not the global `random`" in first
    assert "env.reset(5) twice must give the same text" in first


def test_a_reset_seeded_for_the_first_instance_only_is_refused():
    """The check compared two resets of the first held-out instance only: an env whose reset(seed) draws unseeded
    for other instances passed (an RNG it seeds for some instances, a cache keyed wrongly)."""
    import random

    from treecredit.envs.gridworld import GridWorld
    from treecredit.training.agent_checks import EVAL_SEED

    first = GridWorld().instances(np.random.default_rng(EVAL_SEED), 4)[0]

    class FirstSeeded(GridWorld):
        def _reset(self, seed):
            observation = super()._reset(seed)
            return observation if seed == first else f"{observation} wind {random.random():.6f}"

    with pytest.raises(ValueError, match=r"^FirstSeeded\.reset: returned two different first observations for "
                       r"instance (\d+) .*Fix: seed your RNG from `seed` in FirstSeeded\._reset") as caught:
        eval_instances(FirstSeeded(), 4)
    assert int(re.search(r"instance (\d+)", str(caught.value)).group(1)) != first
