"""An env returning an empty observation with ``turn_prefix=""``: a row with nothing to append keeps the logits
after its own history (review40 finding 3), and play does not crash when no kept row has tokens."""

import torch

from treecredit.agents import EpisodeSettings, pack_episodes, play
from treecredit.agents.decode import extend_state
from treecredit.agents.policy import agent_gpt
from treecredit.envs.base import TextEnv


class Quiet(TextEnv):
    """Every observation after the first is empty; an action of 3+ characters ends the episode when ``ends``."""

    ends = False

    def _reset(self, seed):
        return "say something"

    def parse_action(self, text):
        return text

    def _step(self, action):
        return "", 0.0, self.ends and len(action) >= 3, {"success": False}

    def state_key(self):
        return len(self.actions)


class QuietEnding(Quiet):
    ends = True


def small_policy():
    policy = agent_gpt(seed=0, n_layer=1, n_head=2, n_embd=32, max_len=80)  # room for a 13-token prompt + 60
    policy.module.eval()
    return policy


def test_a_row_given_nothing_keeps_its_held_logits():
    policy = small_policy()
    a, b = policy.encode("go left\n"), policy.encode("at 1\n> ")
    with torch.no_grad():
        held, state = policy.prefill([a, a])
        logits, _ = extend_state(policy, state, [b, []], held=held)
        alone, _ = policy.prefill([a])
        both, _ = policy.prefill([a + b])
        same, same_state = extend_state(policy, state, [[], []], held=held)
    assert torch.allclose(logits[1], alone[0], atol=1e-5)  # the logits after row 1's own history
    assert torch.allclose(logits[0], both[0], atol=1e-4)
    assert same is held and same_state is state  # nothing to append: no forward


def recomputed_gap(policy, episodes, seeds):
    batch = pack_episodes(policy, episodes, seeds)
    rollout = batch.rollout
    with torch.no_grad():
        new, _ = policy.token_logprobs(rollout.prompt_ids, rollout.response_ids, with_entropy=False, layout="rows")
    return float(((new - rollout.old_logprobs).abs() * rollout.response_mask).max())


def test_play_samples_after_an_empty_observation_from_the_rows_own_logits():
    policy = small_policy()
    settings = EpisodeSettings(turn_prefix="", action_max_tokens=4, max_episode_tokens=60)
    for seed in range(3):  # seeds 1 and 2 sampled from a pad token's logits before (gaps 0.2, 0.06)
        episodes, _ = play(policy, lambda: Quiet(max_turns=3), [1, 2], 2, torch.Generator().manual_seed(seed),
                           settings)
        assert [ep.n_turns for ep in episodes] == [3, 3, 3, 3]
        # the log-probs recorded while sampling are those the update recomputes from each row
        assert recomputed_gap(policy, episodes, [1, 2]) < 1e-4


def test_play_goes_on_when_no_kept_row_has_anything_to_append():
    policy = small_policy()
    settings = EpisodeSettings(turn_prefix="", action_max_tokens=6, max_episode_tokens=60)
    for seed in range(30):  # seed 22 crashed before: "sequences: every sequence is empty"
        episodes, _ = play(policy, lambda: QuietEnding(max_turns=3), [1], 2, torch.Generator().manual_seed(seed),
                           settings)
        assert len(episodes) == 2
        assert recomputed_gap(policy, episodes, [1]) < 1e-4
