"""An agent run (``--env``) with a Hugging Face ``--model`` checks its episodes against the model's positions
before its folder is written, as a task run does (trial 18: a refused start left config.json and log.txt, so the
next attempt was refused too), and the fix names the largest ``max_episode_tokens`` that fits."""

import re

import pytest
import torch

transformers = pytest.importorskip("transformers")

from hf_tiny import local_tokenizer, tiny_llama_config  # noqa: E402
from treecredit.agents.policy import AGENT_ALPHABET  # noqa: E402
from treecredit.cli import main  # noqa: E402

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def model_folder(tmp_path_factory):
    """A random tiny Llama of 128 positions over the agents' characters, saved locally."""
    folder = tmp_path_factory.mktemp("agent_hf") / "model"
    tok = local_tokenizer(chat_template=False, chars=AGENT_ALPHABET)
    torch.manual_seed(0)
    transformers.AutoModelForCausalLM.from_config(tiny_llama_config(len(tok))).save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def _args(model_folder, out, episode_tokens: int) -> list[str]:
    return ["train", "--env", "gridworld", "--model", str(model_folder), "--estimator", "rtmc", "--steps", "1",
            "--prompts-per-step", "2", "--group-size", "2", "--max-new-tokens", "4", "--minibatches", "1",
            "--eval-problems", "2", "--env-option", "max_turns=2", "--threads", "1", "--no-progress",
            "--no-tensorboard", "--sampler-option", f"max_episode_tokens={episode_tokens}", "--out", str(out)]


def test_episodes_past_the_models_positions_are_refused_before_the_folder_and_the_fix_fits(model_folder, tmp_path,
                                                                                            capsys, monkeypatch):
    from treecredit.training import agent_loop

    built = []
    real = agent_loop.build_agent_policy
    monkeypatch.setattr(agent_loop, "build_agent_policy", lambda *a, **k: built.append(a) or real(*a, **k))
    out = tmp_path / "agent_hf"
    assert main(_args(model_folder, out, 200)) == 2
    err = capsys.readouterr().err
    found = re.search(r"max_episode_tokens: a first observation of (\d+) tokens plus max_episode_tokens=200 exceed "
                      r"the model's 128 positions\. Fix: pass --sampler-option max_episode_tokens=(\d+) or less "
                      r"\(the largest that fits\), or a model with more positions", err)
    assert found, err
    first, fits = map(int, found.groups())
    assert fits == 128 - first and fits > 0  # no start token: a row of exactly 128 fits
    assert not out.exists() and built == []  # no config.json or log.txt: the next attempt starts cleanly
    assert main(_args(model_folder, out, fits + 1)) == 2  # one more does not fit
    assert f"max_episode_tokens={fits + 1} exceed the model's 128 positions" in capsys.readouterr().err
    assert not out.exists() and built == []
    assert main(_args(model_folder, out, fits)) == 0  # the value the fix names trains, in the same --out
    assert (out / "checkpoint.pt").is_file() and len(built) == 1
