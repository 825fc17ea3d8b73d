"""An episode row is its first observation (with the turn prefix; no start token) plus at most
``max_episode_tokens``, so a model of ``limit`` positions takes exactly ``limit − first observation`` (the room
check used to ask for one position more, refusing the largest value that fits)."""

import pytest
import torch
from agent_helpers import ForcedPolicy

transformers = pytest.importorskip("transformers")

from hf_tiny import local_tokenizer  # noqa: E402
from treecredit.agents import EpisodeSettings, pack_episodes, play  # noqa: E402
from treecredit.agents.policy import AGENT_ALPHABET  # noqa: E402
from treecredit.envs import TextEnv  # noqa: E402
from treecredit.models import HFPolicy  # noqa: E402
from treecredit.training.agent_checks import check_room, episode_room  # noqa: E402

torch.set_num_threads(1)
LIMIT = 128


class Endless(TextEnv):
    """Never ends; its first observation is ``first`` characters, every later one ``"ok"``."""

    def __init__(self, *, first: int = 18, **common) -> None:
        super().__init__(max_turns=1000, **common)
        self.first = first

    def _reset(self, seed):
        self.turns = 0
        return "x" * self.first

    def _step(self, action):
        self.turns += 1
        return "ok", 0.0, False, {}

    def parse_action(self, text):
        return text.strip() or None

    def state_key(self):
        return self.turns


def gpt2_policy():
    """A random tiny GPT-2 of ``LIMIT`` learned positions: a position past them raises (IndexError)."""
    tok = local_tokenizer(chat_template=False, chars=AGENT_ALPHABET)
    torch.manual_seed(0)
    config = transformers.GPT2Config(vocab_size=len(tok), n_embd=32, n_layer=1, n_head=2, n_positions=LIMIT,
                                     pad_token_id=0, bos_token_id=1, eos_token_id=2)
    return HFPolicy(transformers.AutoModelForCausalLM.from_config(config).eval(), tok, use_chat_template=False)


def test_an_episode_of_exactly_the_models_positions_is_accepted_and_runs():
    policy = gpt2_policy()
    prompt = len(policy.encode("x" * 18 + EpisodeSettings().turn_prefix))  # 21 tokens
    # each turn: "a" + marker (the action, 2 tokens), then "ok" + turn prefix (5): rows end at 7k + 2 tokens
    room = LIMIT - prompt
    assert room % 7 == 2  # so the longest episode fills max_episode_tokens exactly
    settings = EpisodeSettings(action_max_tokens=2, max_episode_tokens=room)
    assert episode_room(prompt, settings) == LIMIT
    check_room("max_episode_tokens", LIMIT, prompt, settings, "tokens", "fix")  # was refused: 21 + 1 + 107 > 128
    with pytest.raises(ValueError, match=r"max_episode_tokens=108 exceed the model's 128 positions"):
        check_room("max_episode_tokens", LIMIT, prompt, EpisodeSettings(action_max_tokens=2,
                                                                         max_episode_tokens=room + 1), "tokens", "fix")
    forced = ForcedPolicy(policy, [["a"] * 60])
    episodes, _ = play(forced, Endless, [0, 1], 1, torch.Generator(), settings)
    assert [len(ep.prompt_ids) + len(ep.tokens) for ep in episodes] == [LIMIT, LIMIT]  # the row fills every position
    assert all(ep.context_cut for ep in episodes)
    batch = pack_episodes(policy, episodes, [0, 1])
    with torch.no_grad():  # the training forward over the whole row, as the PPO update runs it
        logprobs, _ = policy.token_logprobs(batch.rollout.prompt_ids, batch.rollout.response_ids, with_entropy=False)
    assert torch.isfinite(logprobs[batch.rollout.response_mask]).all()
    longer = torch.cat([batch.rollout.response_ids, batch.rollout.response_ids[:, -1:]], dim=1)
    with pytest.raises(IndexError):  # one token more has no position: the check is exact, not loose
        policy.token_logprobs(batch.rollout.prompt_ids, longer, with_entropy=False)


def test_an_action_longer_than_max_episode_tokens_counts_in_the_room():
    settings = EpisodeSettings(action_max_tokens=12, max_episode_tokens=5)
    assert episode_room(100, settings) == 112  # the first action is sampled whatever max_episode_tokens is
    with pytest.raises(ValueError, match=r"plus an action of up to action_max_tokens=12 \(--max-new-tokens\) exceed "
                                         r"the model's 110 positions"):
        check_room("max_episode_tokens", 110, 100, settings, "tokens", "fix")


def test_warm_start_expert_episodes_end_where_play_ends_them():
    """The warm start's scripted expert episodes are cut at max_episode_tokens as sampled ones are (they used to
    run on: TextWorld's reached 1,600 characters against the GPT's 1,280 positions, clamped without a word)."""
    import numpy as np

    from treecredit.agents.policy import agent_gpt, noisy_expert, scripted_episode
    from treecredit.envs import make_env

    policy = agent_gpt(seed=0, n_layer=1, n_head=2, n_embd=16, max_len=768)
    env = make_env("gridworld", size=8, max_turns=60)
    settings = EpisodeSettings(max_episode_tokens=100)
    episodes = [scripted_episode(policy, env, seed, 0, settings, noisy_expert(np.random.default_rng(seed), 0.3))
                for seed in range(8)]
    assert all(len(ep.tokens) <= settings.max_episode_tokens for ep in episodes)
    cut = [ep for ep in episodes if ep.context_cut]
    assert cut and all(ep.truncated and not ep.success for ep in cut)
    assert all(ep.mask[-1] for ep in cut)  # a cut episode ends with its last action, as in play
