"""Hugging Face policies as agents: exact episode layout, carried past_key_values = fresh prefill, train --env."""

import json

import pytest
import torch
from agent_helpers import ForcedPolicy, expected_episode

transformers = pytest.importorskip("transformers")

from hf_tiny import local_tokenizer, tiny_llama_config  # noqa: E402
from treecredit.agents import EpisodeSettings, pack_episodes, play  # noqa: E402
from treecredit.agents.policy import AGENT_ALPHABET  # noqa: E402
from treecredit.envs import make_env  # noqa: E402
from treecredit.models import HFPolicy  # noqa: E402

torch.set_num_threads(1)


def tiny_agent_model(kind="llama"):
    """A random tiny causal LM over the agents' characters (every observation character has its own id)."""
    tok = local_tokenizer(chat_template=False, chars=AGENT_ALPHABET)
    torch.manual_seed(0)
    if kind == "llama":
        config = tiny_llama_config(len(tok))
        config.max_position_embeddings = 256
    else:
        config = transformers.GPT2Config(vocab_size=len(tok), n_embd=32, n_layer=2, n_head=2, n_positions=256,
                                         pad_token_id=0, eos_token_id=2)
    return transformers.AutoModelForCausalLM.from_config(config).eval(), tok


def test_a_scripted_episode_through_the_hugging_face_cache_has_the_exact_layout():
    policy = HFPolicy(*tiny_agent_model(), use_chat_template=False)
    scripts = [["up", "fly", "left"], ["right", "down", "up"]]
    forced = ForcedPolicy(policy, scripts)
    settings = EpisodeSettings(max_episode_tokens=120)
    env_fn = lambda: make_env("gridworld", holes=0.0, max_turns=3)  # noqa: E731
    episodes, generated = play(forced, env_fn, [SEED, SEED + 1], 1, torch.Generator(), settings)
    assert len(episodes) == 2
    for ep, actions, seed in zip(episodes, scripts, [SEED, SEED + 1]):
        prompt, tokens, mask, turn, rewards = expected_episode(policy.encode, env_fn(), seed, actions)
        assert ep.prompt_text == prompt and ep.prompt_ids == policy.encode(prompt)
        assert ep.tokens == tokens and ep.mask == mask and ep.turn == turn and ep.rewards == rewards
        assert ep.actions == actions and ep.cut == 0
    assert episodes[0].invalid == 1 and generated == sum(sum(ep.mask) for ep in episodes)


SEED = 5


@pytest.mark.parametrize("kind", ["llama", "gpt2"])
@pytest.mark.parametrize("fork_at", [(), (1,)])
def test_carried_past_key_values_give_the_logprobs_of_a_fresh_prefill(kind, fork_at):
    policy = HFPolicy(*tiny_agent_model(kind), use_chat_template=False)
    settings = EpisodeSettings(action_max_tokens=4, max_episode_tokens=120, fork_at=fork_at)
    episodes, _ = play(policy, lambda: make_env("gridworld", max_turns=3), [1, 2], 2,
                       torch.Generator().manual_seed(0), settings)
    batch = pack_episodes(policy, episodes, [1, 2])
    assert (~batch.rollout.response_mask & (batch.token_turn_ids < 0)).any()  # observations are in the rows
    assert max(ep.n_turns for ep in episodes) >= 2  # the cache was carried across a turn
    with torch.no_grad():
        fresh, _ = policy.token_logprobs(batch.rollout.prompt_ids, batch.rollout.response_ids, with_entropy=False)
    mask = batch.rollout.response_mask
    assert float(((fresh - batch.rollout.old_logprobs).abs() * mask).max()) < 1e-5


def test_train_env_with_a_local_hugging_face_model_runs_end_to_end(tmp_path, capsys):
    from treecredit.cli import main

    model, tok = tiny_agent_model()
    model.save_pretrained(tmp_path / "model")
    tok.save_pretrained(tmp_path / "model")
    out = tmp_path / "run"
    args = ["train", "--env", "gridworld", "--model", str(tmp_path / "model"), "--estimator", "rtmc", "--steps", "2",
            "--eval-every", "2", "--eval-problems", "2", "--prompts-per-step", "2", "--group-size", "2",
            "--max-new-tokens", "4", "--minibatches", "1", "--env-option", "max_turns=2",
            "--sampler-option", "max_episode_tokens=80", "--out", str(out), "--no-tensorboard", "--no-progress"]
    assert main(args) == 0
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert [r["step"] for r in records if r["kind"] == "train"] == [1, 2]
    assert all(1 <= r["turns"] <= 2 for r in records if r["kind"] == "train")
    state = torch.load(out / "checkpoint.pt", weights_only=False)
    assert state["counters"]["step"] == 2 and set(state["model"]) == set(model.state_dict())
    assert "held-out success" in capsys.readouterr().out
    # episodes longer than the model's 256 positions are refused before any step
    assert main([*args[:-6], "--sampler-option", "max_episode_tokens=200", "--out", str(tmp_path / "long"),
                 "--no-tensorboard", "--no-progress"]) == 2
    assert "max_episode_tokens" in capsys.readouterr().err and not (tmp_path / "long" / "metrics.jsonl").exists()
    for flags, name in ((["--hf-warm-start-steps", "2"], "hf_warm_start_steps"),
                        (["--sampler-option", "max_len=512"], "max_len")):
        assert main([*args[:-3], str(tmp_path / "other"), "--no-tensorboard", "--no-progress", *flags]) == 2
        assert f"{name}: " in capsys.readouterr().err


def test_the_hugging_face_position_check_resets_no_held_out_instance_again(tmp_path, monkeypatch):
    from agent_helpers import held_out_resets

    from treecredit.training.config import TrainConfig

    model, tok = tiny_agent_model()
    model.save_pretrained(tmp_path / "model")
    tok.save_pretrained(tmp_path / "model")
    config = TrainConfig(env="agent_helpers:CountingGrid", model=str(tmp_path / "model"), estimator="rtmc",
                         eval_problems=6, prompts_per_step=2, group_size=2, max_new_tokens=4, minibatches=1,
                         env_options={"max_turns": 2}, sampler_options={"max_episode_tokens": 80},
                         out=str(tmp_path / "run"), progress=False, tensorboard=False)
    held_out, resets = held_out_resets(monkeypatch, config)
    second = list(dict.fromkeys(held_out))[1]  # reset again for the reset-determinism check
    assert resets == {**dict.fromkeys(held_out, 1), held_out[0]: 2, second: 2}  # the draw's resets, nothing more
