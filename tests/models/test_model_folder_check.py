"""``--model FOLDER`` is refused before loading when the folder lacks a config, weights (or shards its
index names) or a tokenizer, naming what is missing; a complete folder passes."""

import json

import pytest
import torch

transformers = pytest.importorskip("transformers")

from hf_tiny import local_tokenizer, tiny_llama_config  # noqa: E402
from treecredit.models.hf_load import check_model_argument  # noqa: E402


@pytest.fixture()
def folder(tmp_path):
    tok = local_tokenizer()
    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_config(tiny_llama_config(len(tok)))
    model.save_pretrained(tmp_path)
    tok.save_pretrained(tmp_path)
    return tmp_path


def _refusal(path) -> str:
    with pytest.raises(ValueError) as caught:
        check_model_argument(str(path))
    message = str(caught.value)
    assert message.startswith("model: ") and "Fix: " in message
    return message


def test_a_complete_folder_passes(folder):
    check_model_argument(str(folder))


def test_a_folder_without_config_is_refused(folder):
    (folder / "config.json").unlink()
    assert "no config.json" in _refusal(folder)


def test_a_folder_without_weights_is_refused(folder):
    (folder / "model.safetensors").unlink()
    message = _refusal(folder)
    assert "lacks weights" in message and "save_pretrained" in message


def test_an_index_whose_shards_are_missing_is_refused(folder):
    (folder / "model.safetensors").unlink()
    index = {"weight_map": {"a": "model-00001-of-00002.safetensors", "b": "model-00002-of-00002.safetensors"}}
    (folder / "model.safetensors.index.json").write_text(json.dumps(index))
    assert "2 of the 2 weight shards" in _refusal(folder)


def test_a_folder_without_tokenizer_is_refused(folder):
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "vocab.json", "merges.txt"):
        (folder / name).unlink(missing_ok=True)
    assert "holds no tokenizer" in _refusal(folder)


def test_the_cli_refuses_it_before_work(folder, capsys):
    from treecredit.cli import main

    (folder / "model.safetensors").unlink()
    assert main(["train", "--model", str(folder), "--out", str(folder / "run"), "--steps", "1"]) != 0
    assert "error: model: the model folder" in capsys.readouterr().err
    assert not (folder / "run").exists()
