"""Training instances longer than the model's positions with a Hugging Face ``--model`` (skipped with the fix, as
with the small GPT: only the held-out ones were checked, so a 256-position Llama played rows of 727 positions
without a word), and a run whose every training instance is too long refused before any work (it stopped only at
its first draw, after the run folder, the warm start or the model's loading and the step-0 evaluation)."""

import re

import numpy as np
import pytest
import torch
from agent_helpers import LongTraining, tiny_agent_config

from treecredit.envs import make_env
from treecredit.envs.gridworld import GridWorld
from treecredit.training import agent_checks


def long_training_config(monkeypatch, tmp_path, every: bool = False, hf_model: str = "", **changes):
    """LongTraining: the held-out seeds short, the other even seeds (or, ``every``, all others) 600 characters
    longer; ``hf_model``: the run's Hugging Face model (else the small GPT)."""
    if hf_model:
        from treecredit.training.config import TrainConfig

        config = tiny_agent_config(monkeypatch, tmp_path, "long_training", "agent_helpers:LongTraining")
        settings = {k: getattr(config, k) for k in ("env", "estimator", "prompts_per_step", "group_size", "steps",
                                                    "eval_problems", "max_new_tokens", "env_options", "out")}
        config = TrainConfig(**settings, model=hf_model, minibatches=1, progress=False, tensorboard=False,
                             sampler_options={"max_episode_tokens": 100})
    else:
        config = tiny_agent_config(monkeypatch, tmp_path, "long_training", "agent_helpers:LongTraining", **changes)
    held = make_env(config.env, **config.env_options).instances(np.random.default_rng(agent_checks.EVAL_SEED),
                                                                config.eval_problems)
    monkeypatch.setattr(LongTraining, "SHORT", set(held))
    if every:
        monkeypatch.setattr(LongTraining, "_reset", lambda self, seed: GridWorld._reset(self, seed) + (
            "" if seed in LongTraining.SHORT else " ." * 300))
    return config


@pytest.fixture(scope="module")
def hf_model(tmp_path_factory):
    """A random tiny Llama of 256 positions over the agents' characters, saved locally."""
    transformers = pytest.importorskip("transformers")
    from hf_tiny import local_tokenizer, tiny_llama_config
    from treecredit.agents.policy import AGENT_ALPHABET

    folder = tmp_path_factory.mktemp("room_hf") / "model"
    tok = local_tokenizer(chat_template=False, chars=AGENT_ALPHABET)
    torch.manual_seed(0)
    config = tiny_llama_config(len(tok))
    config.max_position_embeddings = 256
    transformers.AutoModelForCausalLM.from_config(config).save_pretrained(folder)
    tok.save_pretrained(folder)
    return str(folder)


def hf_config(monkeypatch, tmp_path, hf_model, every: bool = False):
    return long_training_config(monkeypatch, tmp_path, every, hf_model)


def test_a_hugging_face_run_skips_a_training_instance_past_the_models_positions(tmp_path, monkeypatch, hf_model):
    from treecredit import agents
    from treecredit.training.agent_loop import train_agent

    torch.set_num_threads(1)
    config = hf_config(monkeypatch, tmp_path, hf_model)
    rows: list[int] = []
    real = agents.play

    def play(policy, env_fn, seeds, *args, **kwargs):
        episodes, generated = real(policy, env_fn, seeds, *args, **kwargs)
        rows.extend(len(ep.prompt_ids) + len(ep.tokens) for ep in episodes)
        return episodes, generated

    monkeypatch.setattr(agents, "play", play)
    messages: list[str] = []
    torch.manual_seed(0)
    train_agent(config, log=messages.append)
    skipped = [m for m in messages if "skipped" in m]
    assert skipped and all(re.fullmatch(
        r"warning: training instance (\d+) skipped: max_episode_tokens: training instance \1 has a first observation "
        r"of \d+ tokens, which plus max_episode_tokens=100 needs \d+ positions, more than the model's 256 "
        r"\(max_position_embeddings of .*; the run checked the held-out instances' first observations\)\. Fix: pass "
        r"a model with more positions \(this first observation alone fills them\)\.", m) for m in skipped), skipped
    assert rows and max(rows) <= 256  # was 727: played past the Llama's positions without a word


def test_a_hugging_face_run_whose_every_training_instance_is_too_long_is_refused_before_work(tmp_path, monkeypatch,
                                                                                            hf_model):
    from treecredit.training import agent_loop

    monkeypatch.setattr(agent_loop, "build_agent_policy", lambda *a, **k: 1 / 0)  # the model is never loaded
    config = hf_config(monkeypatch, tmp_path, hf_model, every=True)
    with pytest.raises(ValueError, match=r"^max_episode_tokens: every one of the 8 training instances sampled before "
                       r"any work is too long for the model's positions .*the longest: training instance \d+ has a "
                       r"first observation of \d+ tokens, .* more than the model's 256 .*Fix: pass a model with more "
                       r"positions"):
        agent_loop.train_agent(config, log=lambda m: None)
    assert not (tmp_path / "run").exists()


def test_a_gpt_run_whose_every_training_instance_is_too_long_is_refused_before_work(tmp_path, monkeypatch,
                                                                                   no_warm_start):
    """Was refused only at the first draw: with the run folder written, the warm start trained (or the step-0
    evaluation run)."""
    from treecredit.training.agent_loop import train_agent

    config = long_training_config(monkeypatch, tmp_path, every=True, warm_start_steps=2,
                                  cache_dir=str(tmp_path / "cache"))
    with pytest.raises(ValueError, match=r"^max_len: every one of the 8 training instances sampled before any work "
                       r"is too long for the model's positions \(each would be skipped and the run stop at its first "
                       r"draw\); the longest: training instance \d+ has a first observation of \d+ characters, which "
                       r"plus max_episode_tokens=200 needs (\d+) positions, more than the small GPT's 320 "
                       r"\(--sampler-option max_len=320\)\. Fix: pass --sampler-option max_len=896 or more"):
        train_agent(config, log=lambda m: None)
    assert not (tmp_path / "run").exists()


def test_some_long_training_instances_are_not_refused_before_work(monkeypatch):
    """Only a sample whose every instance is too long is refused; otherwise the draws skip the long ones."""
    from treecredit.agents import EpisodeSettings
    from treecredit.training.agent_room import check_training_room, gpt_room

    monkeypatch.setattr(LongTraining, "SHORT", set())
    room = gpt_room(EpisodeSettings(max_episode_tokens=200), 320, True)
    check_training_room(LongTraining(holes=0.0), set(), room)  # odd seeds fit
    monkeypatch.setattr(LongTraining, "_reset", lambda self, seed: GridWorld._reset(self, seed) + " ." * 300)
    with pytest.raises(ValueError, match="every one of the 8 training instances"):
        check_training_room(LongTraining(holes=0.0), set(), room)
