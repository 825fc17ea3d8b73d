"""The GGUF cache: converted once per file hash, the saved weights load back bit for bit."""

import pytest
import torch

transformers = pytest.importorskip("transformers")

from hf_tiny import local_tokenizer, tiny_llama_config  # noqa: E402
from treecredit.models import gguf_cache  # noqa: E402


def tiny_model():
    tok = local_tokenizer()
    torch.manual_seed(0)
    cfg = tiny_llama_config(len(tok))
    cfg.tie_word_embeddings = True
    return transformers.AutoModelForCausalLM.from_config(cfg), tok


def test_save_plain_round_trips_weights_config_and_tokenizer(tmp_path):
    model, tok = tiny_model()
    model.config.quantization_config = {"quant_method": "gguf"}  # as a GGUF-loaded model carries
    gguf_cache.save_plain(model, tok, tmp_path)
    back = transformers.AutoModelForCausalLM.from_pretrained(tmp_path, local_files_only=True)
    assert not hasattr(back.config, "quantization_config")
    for (name, a), b in zip(model.state_dict().items(), back.state_dict().values()):
        assert torch.equal(a, b), name
    assert back.lm_head.weight.data_ptr() == back.model.embed_tokens.weight.data_ptr()
    again = transformers.AutoTokenizer.from_pretrained(tmp_path, local_files_only=True)
    assert again("1+2=")["input_ids"] == tok("1+2=")["input_ids"] and again.chat_template == tok.chat_template


def test_converted_once_per_file_hash(tmp_path, monkeypatch):
    calls = []
    model, tok = tiny_model()

    def fake_model(path, **kwargs):
        calls.append(kwargs["gguf_file"])
        return model

    monkeypatch.setattr(transformers.AutoModelForCausalLM, "from_pretrained", fake_model)
    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", lambda path, **kw: tok)
    (tmp_path / "m.gguf").write_bytes(b"weights v1")
    first = gguf_cache.gguf_as_safetensors(tmp_path, "m.gguf", cache_dir=tmp_path / "cache")
    second = gguf_cache.gguf_as_safetensors(tmp_path, "m.gguf", cache_dir=tmp_path / "cache")
    assert first == second and len(calls) == 1 and (tmp_path / "cache" / "gguf").is_dir()
    (tmp_path / "m.gguf").write_bytes(b"weights v2")  # a changed file is converted again, elsewhere
    third = gguf_cache.gguf_as_safetensors(tmp_path, "m.gguf", cache_dir=tmp_path / "cache")
    assert third != first and len(calls) == 2
    with pytest.raises(ValueError, match="gguf_file"):
        gguf_cache.gguf_as_safetensors(tmp_path, "missing.gguf", cache_dir=tmp_path / "cache")
