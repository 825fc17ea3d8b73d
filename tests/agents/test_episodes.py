"""Multi-turn episodes: exact layout, carried KV = fresh prefill, forks, packing, merging states."""

import numpy as np
import pytest
import torch
from agent_helpers import ScriptedPolicy, expected_episode

import treecredit
from treecredit.agents import EpisodeSettings, agent_advantages, pack_episodes, play, revisit_rate
from treecredit.agents.policy import agent_gpt, noisy_expert, scripted_episode
from treecredit.envs import make_env

SEED = 5


def expert_actions(seed, **options):
    env = make_env("gridworld", **options)
    env.reset(seed)
    actions, done = [], False
    while not done:
        actions.append(env.expert_action())
        done = env.step(actions[-1])[2]
    return actions


def test_scripted_policy_replays_a_known_episode_exactly():
    actions = expert_actions(SEED)
    policy = ScriptedPolicy([actions])
    episodes, generated = play(policy, lambda: make_env("gridworld"), [SEED], 1, torch.Generator().manual_seed(0))
    (ep,) = episodes
    prompt, tokens, mask, turn, rewards = expected_episode(policy.encode, make_env("gridworld"), SEED, actions)
    assert ep.prompt_text == prompt and ep.prompt_ids == policy.encode(prompt)
    assert ep.tokens == tokens and ep.mask == mask and ep.turn == turn
    assert ep.rewards == rewards == [0.0] * (len(actions) - 1) + [1.0]
    assert ep.success and ep.cut == 0 and ep.invalid == 0 and generated == sum(mask)
    batch = pack_episodes(policy, episodes, [SEED], generated)
    assert batch.rollout.response_ids[0, : len(ep.tokens)].tolist() == ep.tokens
    assert batch.rollout.step_ends[0].nonzero().flatten().tolist() == \
        [i for i in range(len(ep.turn)) if ep.turn[i] >= 0 and (i + 1 == len(ep.turn) or ep.turn[i + 1] != ep.turn[i])]
    assert batch.turns["turn_index"].tolist() == list(range(len(actions)))
    # the scripted episode (no sampler) lays the tokens out identically
    again = scripted_episode(policy, make_env("gridworld"), SEED, 0, EpisodeSettings(), lambda e: e.expert_action())
    assert again.tokens == ep.tokens and again.mask == ep.mask and again.state_sigs == ep.state_sigs


@pytest.mark.parametrize("fork_at", [(), (1,)])
def test_carried_kv_cache_gives_the_logprobs_of_a_fresh_prefill(fork_at):
    policy = agent_gpt(seed=0, n_layer=2, n_head=2, n_embd=32, max_len=512)
    settings = EpisodeSettings(action_max_tokens=4, fork_at=fork_at)
    episodes, _ = play(policy, lambda: make_env("gridworld", max_turns=3), [1, 2], 2,
                       torch.Generator().manual_seed(0), settings)
    batch = pack_episodes(policy, episodes, [1, 2])
    assert (~batch.rollout.response_mask & (batch.token_turn_ids < 0)).any()  # observations are in the rows
    with torch.no_grad():
        fresh, _ = policy.token_logprobs(batch.rollout.prompt_ids, batch.rollout.response_ids, with_entropy=False)
    mask = batch.rollout.response_mask
    assert float(((fresh - batch.rollout.old_logprobs).abs() * mask).max()) < 1e-5


def test_forked_episode_equals_the_same_actions_played_from_the_start():
    actions = ["left", "up", "right", "down", "up", "up"]
    policy = ScriptedPolicy([actions])
    settings = EpisodeSettings(fork_at=(2,), fork_children=2)
    episodes, generated = play(policy, lambda: make_env("gridworld", holes=0.0, max_turns=6), [SEED], 2,
                               torch.Generator().manual_seed(0), settings)
    assert len(episodes) == 2
    script = iter(actions)
    plain = scripted_episode(policy, make_env("gridworld", holes=0.0, max_turns=6), SEED, 0, settings,
                             lambda env: next(script))
    for ep in episodes:
        assert ep.tokens == plain.tokens and ep.rewards == plain.rewards
        assert ep.state_sigs == plain.state_sigs and ep.observations == plain.observations
    shared = sum(len(a) + 1 for a in actions[:2])
    assert generated == 2 * sum(plain.mask) - shared  # the shared turns were generated once


@pytest.mark.parametrize("name", ["gridworld", "frozenlake", "cliffwalking"])
def test_restore_equals_replay(name):
    env = make_env(name)
    env.reset(3)
    rng = np.random.default_rng(0)
    for _ in range(3):
        if env.done:
            break
        env.step(env.valid_actions()[int(rng.integers(4))])
    snap = env.snapshot()
    other = make_env(name)
    other.restore(snap)
    assert other.signature() == env.signature() and other.observation == env.observation
    if not env.done:
        assert other.step("up")[:3] == env.step("up")[:3]


def test_states_reached_by_two_paths_merge_into_one_node():
    policy = ScriptedPolicy([[]])
    settings = EpisodeSettings()
    eps = []
    for paths in (["right", "down", "left"], ["down", "right", "up"]):
        script = iter(paths)
        eps.append(scripted_episode(policy, make_env("gridworld", size=5, holes=0.0, max_turns=3), 1, 0, settings,
                                    lambda env, script=script: next(script)))
    env = make_env("gridworld", size=5, holes=0.0)
    env.reset(1)
    assert eps[0].state_sigs[0] == eps[1].state_sigs[0]
    assert eps[0].state_sigs[2] == eps[1].state_sigs[2]  # right+down == down+right
    assert eps[0].state_sigs[1] != eps[1].state_sigs[1]
    batch = pack_episodes(policy, eps, [1])
    graph = treecredit.build_state_graph(**batch.turns)
    assert graph.n_nodes == 4  # start, after right, after down, after both (one node)
    assert revisit_rate(batch) == pytest.approx(4 / 6)


def _mixed_batch(signature):
    policy = ScriptedPolicy([[]])
    rng = np.random.default_rng(1)
    choose = noisy_expert(rng, 0.5)
    env = make_env("gridworld", signature=signature, max_turns=6)
    episodes = [scripted_episode(policy, env, seed, g, EpisodeSettings(), choose)
                for g, seed in enumerate([3, 4, 5]) for _ in range(6)]
    return policy, pack_episodes(policy, episodes, [3, 4, 5])


def test_rtmc_over_states_that_never_recur_equals_turn_level_grpo():
    _, batch = _mixed_batch("episode")
    assert revisit_rate(batch) == 0.0
    assert np.ptp(batch.rollout.rewards.numpy()) > 0
    rtmc, rtmc_turns = agent_advantages("rtmc", batch)
    grpo, grpo_turns = agent_advantages("grpo", batch)
    np.testing.assert_allclose(rtmc_turns, grpo_turns, atol=1e-6)
    assert torch.equal(rtmc != 0, grpo != 0)
    _, shared = _mixed_batch("state")  # the control: with recurring states RTMC does differ
    assert revisit_rate(shared) > 0.3
    assert np.abs(agent_advantages("rtmc", shared)[1] - agent_advantages("grpo", shared)[1]).max() > 1e-3


def test_token_level_estimators_get_turn_ends_as_step_ends():
    _, batch = _mixed_batch("state")
    adv, turn_adv = agent_advantages("tempo", batch)
    assert turn_adv is None and adv.shape == batch.rollout.shape
    assert float(adv[~batch.rollout.response_mask].abs().max()) == 0.0
    # the observation tokens get no credit from turn-level estimators either
    adv, _ = agent_advantages("rtmc", batch)
    assert float(adv[~batch.rollout.response_mask].abs().max()) == 0.0
