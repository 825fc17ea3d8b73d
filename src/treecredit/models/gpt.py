"""A small GPT in plain torch (pre-LayerNorm, learned positions, tied embeddings) with a KV cache.

Shapes: ``B`` rows, ``S`` new positions in a call, ``L`` cached key positions, ``H`` heads, ``D`` head
width, ``C = H·D`` model width. Rows may be left-padded: ``key_valid (B, L)`` marks real keys and
``positions (B, S)`` gives each new token's position id, so padded rows decode exactly like unpadded ones.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from treecredit.models import compiled_step
from treecredit.models.plan_cache import kept_plan
from treecredit.models.tree_attention import TreeBlocks, tree_attention


@dataclass(frozen=True)
class GPTConfig:
    """Size of the small GPT; the defaults give about 1.8M parameters."""

    vocab_size: int = 22
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 192
    max_len: int = 96
    dropout: float = 0.0


def attention_mask(key_valid, dtype, *, always: bool = False):
    """The additive ``(B, 1, 1, L)`` mask of one new token per row that sees every real key (``key_valid
    (B, L)`` bool): 0 or -inf, made once for all layers; None when every key is real (no mask needed),
    unless ``always``."""
    if not always and bool(key_valid.all()):
        return None
    return torch.zeros(key_valid.shape, dtype=dtype).masked_fill_(~key_valid, float("-inf"))[:, None, None, :]


class _Block(nn.Module):
    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.n_head = cfg.n_head
        self.ln1 = nn.LayerNorm(cfg.n_embd)
        self.qkv = nn.Linear(cfg.n_embd, 3 * cfg.n_embd)
        self.proj = nn.Linear(cfg.n_embd, cfg.n_embd)
        self.ln2 = nn.LayerNorm(cfg.n_embd)
        self.mlp = nn.Sequential(nn.Linear(cfg.n_embd, 4 * cfg.n_embd), nn.GELU(),
                                 nn.Linear(4 * cfg.n_embd, cfg.n_embd))

    def forward(self, x, attn_mask, past, keep=None):
        """``(x, kv)``: ``x (B, S, C)`` after the block, or ``(B, K, C)`` at the positions ``keep (B, K)`` only
        (long, when given: the attention output and MLP are computed only there; keys and values everywhere)."""
        B, S, C = x.shape
        q, k, v = self.qkv(self.ln1(x)).split(C, dim=2)
        q, k, v = (t.view(B, S, self.n_head, C // self.n_head).transpose(1, 2) for t in (q, k, v))  # (B,H,S,D)
        kv = (k, v)
        if hasattr(past, "extend"):  # a preallocated cache (models.kv_buffer): no copy of the past
            kv = past.extend(k, v)
        elif past is not None:
            kv = (torch.cat([past[0], k], dim=2), torch.cat([past[1], v], dim=2))  # (B,H,L,D)
        if isinstance(attn_mask, TreeBlocks):  # a packed trie (B = 1): attention in query blocks
            y = tree_attention(q, kv[0], kv[1], attn_mask)
        else:
            y = F.scaled_dot_product_attention(q, kv[0], kv[1], attn_mask=attn_mask)  # (B,H,S,D)
        y = y.transpose(1, 2).reshape(B, S, C)
        if keep is not None:
            at = keep[:, :, None].expand(-1, -1, C)
            x, y = x.gather(1, at), y.gather(1, at)  # (B, K, C)
        x = x + self.proj(y)
        x = x + self.mlp(self.ln2(x))
        return x, kv


class GPT(nn.Module):
    """Decoder-only transformer; ``forward`` returns logits and the updated per-layer KV cache."""

    def __init__(self, cfg: GPTConfig) -> None:
        super().__init__()
        self.cfg = cfg
        self.tok_emb = nn.Embedding(cfg.vocab_size, cfg.n_embd)
        self.pos_emb = nn.Embedding(cfg.max_len, cfg.n_embd)
        self.blocks = nn.ModuleList(_Block(cfg) for _ in range(cfg.n_layer))
        self.ln_f = nn.LayerNorm(cfg.n_embd)
        self.head = nn.Linear(cfg.n_embd, cfg.vocab_size, bias=False)
        self.head.weight = self.tok_emb.weight
        self.apply(self._init)

    @staticmethod
    def _init(module: nn.Module) -> None:
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=0.02)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def n_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def forward(self, ids, positions, key_valid, past=None, *, attn_mask=None, logits_at=None):
        """Logits for ``ids (B, S)`` given the cache ``past`` (a list of per-layer ``(k, v)`` or None).

        ``key_valid (B, L)`` marks real keys over cache + new tokens (``L`` = cached + ``S``);
        ``positions (B, S)`` are the new tokens' position ids. ``attn_mask (B, S, L)`` bool, when given,
        replaces the causal mask and ``key_valid`` (which may then be None): query s sees key l iff
        ``attn_mask[b, s, l]`` (each query must see at least one key); or a
        :class:`~treecredit.models.tree_attention.TreeBlocks` for a packed trie of rows (B = 1, no cache;
        :mod:`treecredit.models.packing`). ``logits_at (B, K)`` long, when given, computes the head only at
        those positions. Returns ``(logits (B, S or K, V), cache)``.
        """
        B, S = ids.shape
        x = self.tok_emb(ids) + self.pos_emb(positions.clamp(min=0, max=self.cfg.max_len - 1))  # (B,S,C)
        if attn_mask is None:
            L = key_valid.shape[1]
            query_at = torch.arange(L - S, L, device=ids.device)  # (S,) key index of each new token
            causal = torch.arange(L, device=ids.device)[None, :] <= query_at[:, None]  # (S,L)
            own = torch.arange(L, device=ids.device)[None, :] == query_at[:, None]  # padded queries see themselves
            attn_mask = (causal[None] & key_valid[:, None, :]) | own[None]  # (B,S,L)
        mask = attn_mask if isinstance(attn_mask, TreeBlocks) else attn_mask[:, None]  # (B,1,S,L)
        cache = []
        last = len(self.blocks) - 1
        for i, block in enumerate(self.blocks):
            x, kv = block(x, mask, None if past is None else past[i], logits_at if i == last else None)
            cache.append(kv)  # x: (B,K,C) after the last block where logits_at is given
        return self.head(self.ln_f(x)), cache

    @torch.no_grad()
    def decode_step(self, tokens, positions, key_valid, cache, *, compiled: bool | str = False):
        """One token per row, as :meth:`forward` computes it, without module calls (decoding only, no gradients).

        ``tokens (B,)`` and ``positions (B,)`` long; ``key_valid (B, L)`` bool over cache + the new token;
        ``cache`` a list of per-layer :class:`~treecredit.models.kv_buffer.GrowingKV` (extended, not modified).
        ``compiled``: ``"auto"``, ``"on"``/True or ``"off"``/False, whether the layers run as one ``torch.compile``
        graph (:func:`treecredit.models.compiled_step.wanted`).
        Returns ``(logits (B, V), cache)``; the logits equal :meth:`forward`'s within float rounding."""
        rows = tokens.shape[0]
        x = F.embedding(tokens, self.tok_emb.weight) + F.embedding(
            positions.clamp(min=0, max=self.cfg.max_len - 1), self.pos_emb.weight)  # (B, C)
        plan, final = kept_plan(self, "decode_step", self._decode_plan)
        setting = compiled_step.setting_of(compiled)
        if not (rows > 1 and compiled_step.wanted(setting, self)):
            return _layers(plan, final, self.head.weight, x, attention_mask(key_valid, x.dtype), cache, None, None)
        out, buffers = [], ([], [])
        zero = x.new_zeros((rows, self.cfg.n_head, 1, self.cfg.n_embd // self.cfg.n_head))
        for kv in cache:  # the cache grows by a zero column here; the graph writes the keys and values there
            kv = kv.extend(zero, zero)
            key_buffer, value_buffer, copied = compiled_step.buffers_of(kv.keys, kv.values)
            out.append(type(kv)(key_buffer, value_buffer) if copied else kv)
            buffers[0].append(key_buffer)
            buffers[1].append(value_buffer)
        mask = attention_mask(key_valid, x.dtype, always=True)
        dynamic = [(x, (0,)), (mask, (0, 3)), *((b, (0, 2)) for b in buffers[0] + buffers[1])]
        key = (_layers, id(self.head.weight), x.dtype)
        logits = compiled_step.run(_layers, key, dynamic, plan, final, self.head.weight, x, mask, None, *buffers,
                                   module=self, setting=setting)
        if logits is None:  # the compilation failed under "auto": the eager step from the cache as it was
            return _layers(plan, final, self.head.weight, x, attention_mask(key_valid, x.dtype), cache, None, None)
        return logits[0], out


    def _decode_plan(self, dicts: list) -> tuple:
        """``(per-block (ln1, qkv, proj, ln2, fc, down, heads), final norm)`` for :meth:`decode_step` (each
        linear a ``(weight, bias)`` pair, each norm ``(weight, bias, eps)``); the module and parameter
        dictionaries read are appended to ``dicts`` (:func:`treecredit.models.plan_cache.kept_plan`)."""
        dicts += [self._modules, self.blocks._modules, self.ln_f._parameters]
        plan = []
        for b in self.blocks:
            fc, down = b.mlp[0], b.mlp[2]
            dicts += [b._modules, b.mlp._modules, *(m._parameters for m in (b.ln1, b.qkv, b.proj, b.ln2, fc, down))]
            plan.append((_norm(b.ln1), (b.qkv.weight, b.qkv.bias), (b.proj.weight, b.proj.bias), _norm(b.ln2),
                         (fc.weight, fc.bias), (down.weight, down.bias), b.n_head))
        return plan, _norm(self.ln_f)


def _norm(ln: nn.LayerNorm) -> tuple:
    return ln.weight, ln.bias, ln.eps


def _layers(plan, final, head, x, mask, cache, key_buffers, value_buffers):
    """:meth:`GPT.decode_step`'s layers and head: ``(logits (B, V), cache)``. Keys and values extend ``cache``
    (eager), or, compiled, go into column ``L − 1`` of ``key_buffers`` / ``value_buffers`` (``mask (B, 1, 1,
    L)`` is then always given, and the cache returned is None)."""
    rows, width = x.shape
    size = (width,)
    out = []
    for i, (ln1, qkv, proj, ln2, fc, down, heads) in enumerate(plan):
        q, k, v = (t.view(rows, heads, 1, width // heads)
                   for t in F.linear(F.layer_norm(x, size, *ln1), *qkv).split(width, dim=1))  # (B, H, 1, D)
        if key_buffers is None:
            kv = cache[i].extend(k, v)
            out.append(kv)
        else:
            kv = compiled_step.write_column(key_buffers[i], value_buffers[i], k, v, mask.shape[-1])
        y = F.scaled_dot_product_attention(q, kv[0], kv[1], attn_mask=mask)  # (B, H, 1, D)
        x = x + F.linear(y.reshape(rows, width), *proj)
        x = x + F.linear(F.gelu(F.linear(F.layer_norm(x, size, *ln2), *fc)), *down)
    return F.linear(F.layer_norm(x, size, *final), head), (out if key_buffers is None else None)
