"""The small GPT and its character tokenizer as a :class:`treecredit.sampling.Policy`."""

from __future__ import annotations

import torch

from treecredit.models.gpt import GPT, GPTConfig
from treecredit.models.kv_buffer import GrowingKV, growing
from treecredit.models.teacher_forcing import TeacherForcing
from treecredit.models.tokenizer import CharTokenizer
from treecredit.sampling.policy import DecodeState, left_pad


class GPTPolicy(TeacherForcing):
    """Adapter: prompts start with ``<bos>``; the cache is a list of per-layer :class:`GrowingKV` (a
    ``(k, v)`` pair of ``(B, H, L, D)`` views of a preallocated buffer, :mod:`treecredit.models.kv_buffer`).

    ``fast_decode`` (True by default): decoding steps under ``torch.no_grad`` run through
    :meth:`GPT.decode_step` (the same logits within float rounding, without module calls); False runs
    :meth:`GPT.forward`. ``compile_decode`` (``"auto"`` by default: compiled only for a GPT of ≥ 50M
    parameters; ``"on"`` / True, ``"off"`` / False): the fused step's layers run as one ``torch.compile`` graph
    (:mod:`treecredit.models.compiled_step`; compiling takes ~15 s once per process for the default GPT)."""

    fast_decode = True
    compile_decode: bool | str = "auto"

    def __init__(self, model: GPT, tokenizer: CharTokenizer) -> None:
        self.model = model
        self.tokenizer = tokenizer
        self.pad_id = tokenizer.pad_id
        self.eos_id = tokenizer.eos_id
        self.vocab_size = model.cfg.vocab_size

    @classmethod
    def build(cls, tokenizer: CharTokenizer | None = None, seed: int = 0, **config) -> "GPTPolicy":
        """A freshly initialised GPT (weights drawn from ``torch.manual_seed(seed)``)."""
        tokenizer = tokenizer or CharTokenizer()
        torch.manual_seed(seed)
        return cls(GPT(GPTConfig(vocab_size=tokenizer.vocab_size, **config)), tokenizer)

    @property
    def module(self) -> torch.nn.Module:
        return self.model

    def encode_prompt(self, text: str) -> list[int]:
        return self.tokenizer.encode_prompt(text)

    def encode(self, text: str) -> list[int]:
        return self.tokenizer.encode(text)

    def decode(self, ids) -> str:
        return self.tokenizer.decode(ids)

    def text_pieces(self):
        """The pieces of :meth:`decode` (:class:`treecredit.text_pieces.Pieces`): each character id's character,
        ``""`` for pad and bos, the text cut at eos, which is what :meth:`CharTokenizer.decode` joins; None where
        :meth:`decode` or the tokenizer's ``decode`` is overridden. Stop strings are then matched on joined pieces
        (:mod:`treecredit.sampling.stop_rows`) instead of decoded windows. Made once per tokenizer."""
        from treecredit.models.tokenizer import SPECIALS

        tokenizer = self.tokenizer
        if type(self).decode is not GPTPolicy.decode or type(tokenizer).decode is not CharTokenizer.decode:
            return None
        made = getattr(self, "_pieces", None)
        if made is None or made[0] is not tokenizer or made[1] != tokenizer.alphabet:
            from treecredit.text_pieces import Pieces, _Table

            table = _Table(_NoDecoder(), b"")
            table.texts[False].update({tokenizer.pad_id: "", tokenizer.bos_id: "", tokenizer.eos_id: ""})
            table.texts[False].update((i + len(SPECIALS), ch) for i, ch in enumerate(tokenizer.alphabet))
            made = self._pieces = (tokenizer, tokenizer.alphabet, Pieces(table, False, frozenset({tokenizer.eos_id})))
        return made[2]

    def prefill(self, prompts: list[list[int]]):
        ids, valid, positions = left_pad(prompts, self.pad_id)
        logits, cache = self.model(ids, positions, valid)
        return logits[:, -1], DecodeState(growing(cache), valid, positions[:, -1] + 1)

    def step(self, state: DecodeState, tokens):
        key_valid = torch.cat([state.key_valid, torch.ones_like(state.key_valid[:, :1])], dim=1)
        if self.fast_decode and not torch.is_grad_enabled():
            logits, cache = self.model.decode_step(tokens.view(-1), state.next_pos, key_valid, growing(state.cache),
                                                   compiled=self.compile_decode)
            return logits, DecodeState(cache, key_valid, state.next_pos + 1)
        # one new token per row: it sees every real key, so the mask is key_valid itself (B, 1, L)
        logits, cache = self.model(tokens.view(-1, 1), state.next_pos.view(-1, 1), None, growing(state.cache),
                                   attn_mask=key_valid[:, None, :])
        return logits[:, -1], DecodeState(cache, key_valid, state.next_pos + 1)

    def select(self, state: DecodeState, rows) -> DecodeState:
        cache = [kv.select(rows) if isinstance(kv, GrowingKV) else GrowingKV(kv[0].index_select(0, rows),
                                                                              kv[1].index_select(0, rows))
                 for kv in state.cache]
        return DecodeState(cache, state.key_valid.index_select(0, rows), state.next_pos.index_select(0, rows))

    def _logits(self, ids, positions, attend, logits_at):
        logits, _ = self.model(ids, positions, None, attn_mask=attend, logits_at=logits_at)
        return logits


class _NoDecoder:
    """The table's backend for ids outside the character vocabulary: refused (``Pieces.texts`` gives None, and
    the matcher decodes such a window itself)."""

    def decode_batch(self, ids, skip_special_tokens=False):
        raise ValueError(f"no piece for ids {ids}")
