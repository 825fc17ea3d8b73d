"""A Hugging Face agent whose tokenizer does not give back the text it encodes (a character-level tokenizer
without a decoder: ``right`` decodes as ``r i g h t``) is refused before any work, naming the tokenizer and the fix
(was: the run started and every action the model wrote was an invalid no-op)."""

import pytest
import torch

transformers = pytest.importorskip("transformers")

from hf_tiny import local_tokenizer, tiny_llama_config  # noqa: E402
from treecredit.agents.policy import AGENT_ALPHABET  # noqa: E402
from treecredit.envs import make_env  # noqa: E402
from treecredit.training.agent_preflight import agent_setup  # noqa: E402
from treecredit.training.config import TrainConfig  # noqa: E402


def _saved_model(folder, decoder: bool):
    from tokenizers import Tokenizer, models, pre_tokenizers

    tok = local_tokenizer(chat_template=False, chars=AGENT_ALPHABET)
    if not decoder:  # the same vocabulary without a decoder (as a trial built it): tokens joined with spaces
        raw = Tokenizer(models.WordLevel(tok.get_vocab(), unk_token="<pad>"))
        raw.pre_tokenizer = pre_tokenizers.Split("", behavior="isolated")
        tok = transformers.PreTrainedTokenizerFast(tokenizer_object=raw, pad_token="<pad>", bos_token="<s>",
                                                   eos_token="</s>")
    torch.manual_seed(0)
    config = tiny_llama_config(len(tok))
    config.max_position_embeddings = 256
    transformers.AutoModelForCausalLM.from_config(config).save_pretrained(folder)
    tok.save_pretrained(folder)
    return tok


def _config(tmp_path, folder):
    return TrainConfig(env="gridworld", model=str(folder), estimator="rtmc", eval_problems=2, prompts_per_step=2,
                       group_size=2, max_new_tokens=4, env_options={"max_turns": 2},
                       sampler_options={"max_episode_tokens": 80}, out=str(tmp_path / "run"), progress=False,
                       tensorboard=False)


def test_a_tokenizer_that_does_not_round_trip_is_refused_before_any_work(tmp_path):
    tok = _saved_model(tmp_path / "model", decoder=False)
    assert tok.decode(tok("up", add_special_tokens=False)["input_ids"]) != "up"  # the flaw the check is about
    config = _config(tmp_path, tmp_path / "model")
    with pytest.raises(ValueError, match=r"^model: the tokenizer of .*model \(\w+\) does not give back the text it "
                       r"encodes: the action '\w+' with the marker '\\n' after it decodes to '(\w )+\\n', which "
                       r"GridWorld\.parse_action refuses.*Fix: use a tokenizer that decodes what it encodes.*"
                       r"decoders\.Fuse\(\)"):
        agent_setup(config, make_env("gridworld", max_turns=2))
    assert not (tmp_path / "run").exists()


def test_a_tokenizer_that_round_trips_passes(tmp_path):
    _saved_model(tmp_path / "model", decoder=True)
    setup = agent_setup(_config(tmp_path, tmp_path / "model"), make_env("gridworld", max_turns=2))
    assert setup.held.action in ("up", "down", "left", "right")
