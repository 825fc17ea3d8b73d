"""``unmatched_share``: a share of states left unmatched, the env and the policy unchanged (the revisit-rate knob)."""

import numpy as np
import pytest
from agent_helpers import ScriptedPolicy

from treecredit.agents import agent_advantages, pack_episodes, revisit_rate
from treecredit.agents.episodes import EpisodeSettings
from treecredit.agents.policy import noisy_expert, scripted_episode
from treecredit.envs import make_env


def _batch(**options):
    policy = ScriptedPolicy([[]])
    choose = noisy_expert(np.random.default_rng(1), 0.5)  # the same actions whatever the signature options
    env = make_env("gridworld", max_turns=6, **options)
    seeds = [3, 4, 5, 6]
    episodes = [scripted_episode(policy, env, seed, g, EpisodeSettings(), choose) for g, seed in enumerate(seeds)
                for _ in range(6)]
    return pack_episodes(policy, episodes, seeds), episodes


def test_the_revisit_rate_falls_with_the_share_and_the_ends_are_the_state_and_episode_modes():
    full, full_eps = _batch()
    rates = [revisit_rate(_batch(unmatched_share=p)[0]) for p in (0.0, 0.3, 0.6, 1.0)]
    assert rates[0] == revisit_rate(full) > 0.5 and rates[-1] == 0.0
    assert rates[0] > rates[1] > rates[2] > rates[3]
    half, half_eps = _batch(unmatched_share=0.5)
    assert [e.actions for e in half_eps] == [e.actions for e in full_eps]  # the episodes themselves are unchanged
    none, _ = _batch(unmatched_share=1.0)
    np.testing.assert_allclose(agent_advantages("rtmc", none)[1], agent_advantages("grpo", none)[1], atol=1e-6)
    assert np.abs(agent_advantages("rtmc", half)[1] - agent_advantages("grpo", half)[1]).max() > 1e-3


def test_a_state_is_always_or_never_unmatched_and_the_draw_is_reproducible():
    drawn = []
    for seed in range(40):
        a = make_env("gridworld", unmatched_share=0.5)
        b = make_env("gridworld", unmatched_share=0.5)
        plain = make_env("gridworld")
        a.reset(seed), b.reset(seed), plain.reset(seed)
        matched = a.signature() == b.signature()
        assert matched == (a.signature() == plain.signature())  # matched states keep the state signature
        a.reset(seed)
        assert (a.signature() == b.signature()) == matched  # the same state, drawn the same way again
        drawn.append(not matched)
    assert 0.25 < np.mean(drawn) < 0.75  # about half of the start states (one per instance) are unmatched


@pytest.mark.parametrize("bad", [-0.1, 1.5, "half", True])
def test_a_bad_share_is_refused_by_name(bad):
    with pytest.raises(ValueError, match="unmatched_share"):
        make_env("gridworld", unmatched_share=bad)
