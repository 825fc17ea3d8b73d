"""A run whose prompts are chat messages with a tokenizer that has no chat template, under --chat-template auto,
says once (console and log.txt) that they go in as plain text (trial 26: it fell back silently)."""

import json

import pytest
import torch

transformers = pytest.importorskip("transformers")

from hf_tiny import local_tokenizer, tiny_llama_config  # noqa: E402
from treecredit.cli import main  # noqa: E402

NOTE = "prompts looked at are chat messages, but the tokenizer of"


def _model(folder, chat_template: bool):
    tok = local_tokenizer(chat_template=chat_template)
    torch.manual_seed(0)
    transformers.AutoModelForCausalLM.from_config(tiny_llama_config(len(tok))).save_pretrained(folder)
    tok.save_pretrained(folder)
    return str(folder)


def _train(tmp_path, model, name, *extra):
    rows = [{"prompt": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": f"{i}+{i}="}],
             "answer": str(2 * i)} for i in range(6)]
    (tmp_path / "chat.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / name
    assert main(["train", "--model", model, "--dataset", str(tmp_path / "chat.jsonl"), "--task-option", "held_out=2",
                 "--steps", "1", "--prompts-per-step", "2", "--group-size", "2", "--max-new-tokens", "3",
                 "--eval-problems", "2", "--no-tensorboard", "--no-progress", "--out", str(out), *extra]) == 0
    return out


def test_chat_prompts_without_a_chat_template_are_noted_once_in_console_and_log(tmp_path, capsys):
    plain = _model(tmp_path / "plain", chat_template=False)
    out = _train(tmp_path, plain, "run")
    printed = capsys.readouterr().out
    assert printed.count(NOTE) == 1, printed
    assert f"note: 6 of the 6 {NOTE} {plain} has no chat template, so under --chat-template auto they go in as " \
           "plain text" in printed
    assert (out / "log.txt").read_text().count(NOTE) == 1
    _train(tmp_path, plain, "off", "--chat-template", "off")  # plain text said to be meant: no note
    assert NOTE not in capsys.readouterr().out
    _train(tmp_path, _model(tmp_path / "chat", chat_template=True), "withchat")  # the template is used: no note
    assert NOTE not in capsys.readouterr().out
