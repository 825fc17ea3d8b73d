"""``play`` and ``pack_episodes`` refuse, for direct API callers, rows longer than the policy's positions (they
played and packed rows of 467 tokens on a 64-position GPT, whose positions past 63 are clamped without a word),
before any decoding, naming the argument and the value that fits."""

import re

import pytest
import torch

from treecredit.agents import EpisodeSettings, pack_episodes, play
from treecredit.agents.policy import agent_gpt
from treecredit.agents.positions import policy_positions
from treecredit.envs import make_env
from treecredit.envs.gridworld import GridWorld

torch.set_num_threads(1)


class Closing(GridWorld):
    CLOSED: list = []

    def close(self):
        Closing.CLOSED.append(self)


def gpt(max_len: int):
    return agent_gpt(seed=0, n_layer=1, n_head=2, n_embd=16, max_len=max_len)


def test_play_refuses_episodes_past_the_gpt_positions_and_the_fix_fits(monkeypatch):
    policy = gpt(128)
    assert policy_positions(policy) == 128
    Closing.CLOSED.clear()
    with pytest.raises(ValueError, match=r"^settings: instance 1's first observation with turn_prefix is (\d+) tokens, "
                       r"which plus max_episode_tokens=400 needs \d+ positions, more than the policy's 128 positions "
                       r"\(GPTPolicy max_len\).*Fix: pass EpisodeSettings\(max_episode_tokens=(\d+)\) or less") as err:
        play(policy, lambda: Closing(), [1, 2], 2, torch.Generator().manual_seed(0), EpisodeSettings())
    assert len(Closing.CLOSED) == 4  # the envs reset before the check are closed
    first, fits = map(int, re.search(r"is (\d+) tokens.*max_episode_tokens=(\d+)\) or less", str(err.value)).groups())
    assert fits == 128 - first
    episodes, _ = play(policy, lambda: make_env("gridworld"), [1, 2], 2, torch.Generator().manual_seed(0),
                       EpisodeSettings(max_episode_tokens=fits))
    assert max(len(ep.prompt_ids) + len(ep.tokens) for ep in episodes) <= 128
    pack_episodes(policy, episodes, [1, 2])


def test_play_names_an_instance_whose_first_observation_fills_the_positions():
    with pytest.raises(ValueError, match=r"^seeds: instance \d+'s first observation .* more than the policy's 64 "
                       r"positions.*Fix: leave out instance \d+"):
        play(gpt(64), lambda: make_env("gridworld"), [1, 2], 1, torch.Generator(), EpisodeSettings())


def test_play_names_action_max_tokens_when_the_first_action_does_not_fit():
    settings = EpisodeSettings(action_max_tokens=60, max_episode_tokens=60)
    with pytest.raises(ValueError, match=r"^settings: .*Fix: pass EpisodeSettings\(action_max_tokens=(\d+), "
                       r"max_episode_tokens=\1\) or less"):
        play(gpt(100), lambda: make_env("gridworld"), [1], 1, torch.Generator(), settings)


def test_pack_episodes_refuses_rows_past_the_policy_positions():
    episodes, _ = play(gpt(512), lambda: make_env("gridworld"), [1, 2], 2, torch.Generator().manual_seed(0),
                       EpisodeSettings(max_episode_tokens=300))
    long = max(len(ep.prompt_ids) + len(ep.tokens) for ep in episodes)
    with pytest.raises(ValueError, match=r"^episodes: episode \d+ \(instance \d+\) has a row of \d+ tokens .*more than "
                       r"the policy's 80 positions \(GPTPolicy max_len\).*Fix: play them with EpisodeSettings"):
        pack_episodes(gpt(80), episodes, [1, 2])
    pack_episodes(gpt(long), episodes, [1, 2])  # a row of exactly the positions fits


def test_a_hugging_face_policy_is_checked_against_its_max_position_embeddings():
    transformers = pytest.importorskip("transformers")
    from hf_tiny import local_tokenizer, tiny_llama_config
    from treecredit.agents.policy import AGENT_ALPHABET
    from treecredit.models import HFPolicy

    tok = local_tokenizer(chat_template=False, chars=AGENT_ALPHABET)
    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_config(tiny_llama_config(len(tok))).eval()  # 128 positions
    policy = HFPolicy(model, tok, use_chat_template=False)
    assert policy_positions(policy) == 128
    with pytest.raises(ValueError, match=r"^settings: .*more than the policy's 128 positions \(HFPolicy "
                       r"max_position_embeddings\)"):
        play(policy, lambda: make_env("gridworld"), [1], 1, torch.Generator(), EpisodeSettings())
