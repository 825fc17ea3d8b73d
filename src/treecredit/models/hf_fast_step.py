"""One decoding step of a ``transformers`` Llama-family model without its per-layer module code.

:class:`~treecredit.models.HFPolicy` decodes one token per row at each step. ``transformers`` runs that
step through its general forward: per layer a dozen module calls, the mask builder, float32 casts of the
RMSNorm, rotary embeddings by concatenation, a repeat of the grouped key/value heads when a mask is given.
:func:`decode_step` computes the same step from the model's own weights (nothing copied) with a few fused
kernels per layer: ``torch.nn.functional.rms_norm`` (in float32, as ``transformers`` normalises), one
``linear`` per projection, rotary embeddings from the model's own ``rotary_emb`` (so every rope type it
implements is honoured) applied to the query and key heads together by a swap of the head halves,
:func:`grouped_attention` over the grouped key/value heads (two batched products and a softmax, no copies of
the shared heads; ``scaled_dot_product_attention`` below float32), an in-place SiLU gate, and residual
additions inside the output products (``addmm_``). The query, key and value products write into one
buffer (the query already scaled by the product), and the new keys and values go straight into the
room of the cache's :class:`~treecredit.models.hf_cache.GrowingLayer`, so the state is the one the
``transformers`` forward would have left.

Supported: ``LlamaForCausalLM``, ``Qwen2ForCausalLM`` and ``MistralForCausalLM`` (the classes themselves,
not wrapped: a ``peft`` model or LoRA-replaced projections fall back), SiLU MLP, full attention (no
sliding window), one weight shard (``pretraining_tp`` 1), ``sdpa`` or ``eager`` attention, no attention
dropout in training mode, a dynamic cache whose layers are all filled. :func:`decode_step` returns None
otherwise, and the caller runs the ``transformers`` forward. The logits equal that forward's within float
rounding (the tests compare them on tiny random models, padded batches, selected rows and many steps).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from treecredit.models import compiled_step
from treecredit.models.gpt import attention_mask
from treecredit.models.plan_cache import kept_plan

FAMILIES = {"LlamaForCausalLM", "Qwen2ForCausalLM", "MistralForCausalLM"}
ATTENTION = {"sdpa", "eager", "treecredit_sdpa"}  # the last: hf_cache.share_kv_heads (sdpa, shared heads)


def _weights(linear) -> tuple | None:
    """``(weight, bias)`` of a plain ``nn.Linear`` (None for anything else: a LoRA or quantised layer)."""
    if type(linear) is not torch.nn.Linear:
        return None
    params = linear._parameters
    return params["weight"], params["bias"]


def _norm(module) -> tuple | None:
    """``(weight, eps)`` of a ``transformers`` RMSNorm."""
    if not type(module).__name__.endswith("RMSNorm") or not hasattr(module, "variance_epsilon"):
        return None
    return module._parameters["weight"], float(module.variance_epsilon)


def _config_supported(model) -> bool:
    config = model.config
    return (type(model).__name__ in FAMILIES and type(model).__module__.startswith("transformers.models.")
            and getattr(config, "hidden_act", None) in ("silu", "swish")
            and getattr(config, "pretraining_tp", 1) == 1
            and getattr(config, "sliding_window", None) is None
            and all(t == "full_attention" for t in (getattr(config, "layer_types", None) or ()))
            and getattr(config, "_attn_implementation", None) in ATTENTION
            and not (model.training and float(getattr(config, "attention_dropout", 0.0) or 0.0) > 0))


def layer_plan(model) -> list | None:
    """Per decoder layer ``(norm1, q, k, v, o, norm2, gate, up, down, heads, kv_heads, head_dim, scaling)``
    (each linear a ``(weight, bias)`` pair, each norm a ``(weight, eps)`` pair), or None when the model has
    a part this step does not reproduce exactly. Read once per model and kept while its modules and
    parameters are the same objects (:func:`treecredit.models.plan_cache.kept_plan`); the configuration
    (attention implementation, training mode) is checked at each call."""
    if not _config_supported(model):
        return None
    return kept_plan(model, "hf_fast_step", lambda dicts: _build_plan(model, dicts))


def _build_plan(model, dicts: list) -> list | None:
    """:func:`layer_plan` read from the modules; the dictionaries read are appended to ``dicts``."""
    dicts += [model._modules, model.model._modules, model.model.layers._modules]
    plan = []
    for layer in model.model.layers:
        attn, mlp = layer._modules.get("self_attn"), layer._modules.get("mlp")
        dicts.append(layer._modules)
        if attn is None or mlp is None or getattr(attn, "sliding_window", None) is not None:
            return None
        if set(layer._modules) != {"self_attn", "mlp", "input_layernorm", "post_attention_layernorm"}:
            return None  # extra parts (q/k norms, sandwich norms): not this model family's layer
        if set(attn._modules) != {"q_proj", "k_proj", "v_proj", "o_proj"}:
            return None
        if set(mlp._modules) - {"act_fn"} != {"gate_proj", "up_proj", "down_proj"}:
            return None
        dicts += [attn._modules, mlp._modules]
        modules = (layer.input_layernorm, attn.q_proj, attn.k_proj, attn.v_proj, attn.o_proj,
                   layer.post_attention_layernorm, mlp.gate_proj, mlp.up_proj, mlp.down_proj)
        parts = (_norm(modules[0]), *map(_weights, modules[1:5]), _norm(modules[5]), *map(_weights, modules[6:]))
        if any(p is None for p in parts):
            return None
        dicts += [m._parameters for m in modules]
        width = int(attn.head_dim)
        heads, kv_heads = parts[1][0].shape[0] // width, parts[2][0].shape[0] // width
        plan.append((*parts, heads, kv_heads, width, float(attn.scaling)))
    return plan


def _rms_norm(x, size, norm):
    """``transformers``' RMSNorm: normalised in float32 (whatever the model's dtype), then times the weight."""
    if x.dtype == torch.float32:
        return F.rms_norm(x, size, norm[0], norm[1])
    return norm[0] * F.rms_norm(x.float(), size, None, norm[1]).to(x.dtype)


def _rotate(x, cos, sin_signed, half: int):
    """``x·cos + rotate_half(x)·sin`` (``transformers``' rotary embedding) with ``rotate_half(x)·sin`` as the
    halves swapped (a roll) times ``sin`` with its first half negated."""
    return torch.addcmul(x * cos, x.roll(half, dims=-1), sin_signed)


def decode_step(model, cache, tokens, key_valid, positions, *, compiled: bool = False):
    """Next-token logits ``(B, V)`` (the model's dtype) after ``tokens (B,)``, or None when unsupported or
    when gradients are on (decoding only: training's forward stays ``transformers``').

    ``cache`` is the ``transformers`` dynamic cache of the rows (updated in place, as the forward does),
    ``key_valid (B, L)`` bool marks the real keys over cache + the new token, ``positions (B,)`` long are
    the new tokens' position ids. ``compiled``: the layers run as one ``torch.compile`` graph
    (:mod:`treecredit.models.compiled_step`; the same logits within float rounding)."""
    layers = getattr(cache, "layers", None)
    if torch.is_grad_enabled() or layers is None or tokens.dim() != 1:
        return None
    plan = layer_plan(model)
    if plan is None or len(layers) != len(plan) or not all(
            getattr(layer, "is_initialized", False) and type(layer).__name__ in ("DynamicLayer", "GrowingLayer")
            for layer in layers):
        return None
    body = model.model
    final, head = _norm(body.norm), _weights(model.lm_head)
    embed = body.embed_tokens
    if final is None or head is None or type(embed) is not torch.nn.Embedding:
        return None
    rows = tokens.shape[0]
    x = F.embedding(tokens, embed.weight)  # (B, C)
    cos, sin = body.rotary_emb(x, positions[:, None])  # (B, 1, D) each, the model's own rope
    width = cos.shape[-1]
    cos = cos.view(rows, 1, 1, width)
    sin_signed = torch.cat([-sin[..., :width // 2], sin[..., width // 2:]], dim=-1).view(rows, 1, 1, width)
    buffers = _compiled_buffers(cache, key_valid.shape[1] - 1) if compiled and rows > 1 else None
    if buffers is None:
        mask = attention_mask(key_valid, x.dtype)
        if x.dtype in HAND_ATTENTION:
            from treecredit.models.hf_cache import grow_in_place

            return _eager_layers(plan, final, head, x, cos, sin_signed, mask, grow_in_place(cache).layers)
        return _layers(plan, final, head, x, cos, sin_signed, mask, cache, None, None)
    mask = attention_mask(key_valid, x.dtype, always=True)
    dynamic = [(x, (0,)), (cos, (0,)), (sin_signed, (0,)), (mask, (0, 3)),
               *((b, (0, 2)) for b in buffers[0]), *((b, (0, 2)) for b in buffers[1])]
    key = (_layers, id(head[0]), head[0].dtype)
    logits = compiled_step.run(_layers, key, dynamic, plan, final, head, x, cos, sin_signed, mask, None, *buffers)
    length = key_valid.shape[1]
    for layer, k, v in zip(cache.layers, *buffers):  # the graph wrote column length − 1 of each buffer
        layer.keys, layer.values = k[:, :, :length], v[:, :, :length]
    return logits


def _compiled_buffers(cache, length: int):
    """Each layer's ``(key buffers, value buffers)`` (``(B, kv_heads, room, D)``, owned by the layer, with room
    for one more column, which the compiled graph writes), or None when a layer's cache length is not
    ``length`` (the eager step runs instead)."""
    from treecredit.models.hf_cache import grow_in_place

    if any(layer.keys.shape[-2] != length for layer in cache.layers):
        return None
    grow_in_place(cache)
    pairs = [layer.room_for(1) for layer in cache.layers]
    return [k for k, _ in pairs], [v for _, v in pairs]


def _layers(plan, final, head, x, cos, sin_signed, mask, cache, key_buffers, value_buffers):
    """The decoder layers and the head: ``(B, V)`` logits. Keys and values go through ``cache.update``
    (eager), or, compiled, into column ``L − 1`` of ``key_buffers`` / ``value_buffers`` (``mask (B, 1, 1, L)``
    is then always given)."""
    rows, size, half = x.shape[0], (x.shape[-1],), cos.shape[-1] // 2
    for i, (norm1, q, k, v, o, norm2, gate, up, down, heads, kv_heads, head_dim, scaling) in enumerate(plan):
        # The matrix products run back to back, and the small operations between them together: a small
        # operation right after a product finds the caches cold (the product streamed megabytes of weights).
        h = _rms_norm(x, size, norm1)
        query, key, value = F.linear(h, *q), F.linear(h, *k), F.linear(h, *v)
        query = _rotate(query.view(rows, heads, 1, head_dim), cos, sin_signed, half)
        key = _rotate(key.view(rows, kv_heads, 1, head_dim), cos, sin_signed, half)
        value = value.view(rows, kv_heads, 1, head_dim)
        if key_buffers is None:
            keys, values = cache.update(key, value, i)  # (B, kv_heads, L, D)
        else:
            keys, values = compiled_step.write_column(key_buffers[i], value_buffers[i], key, value, mask.shape[-1])
        y = F.scaled_dot_product_attention(query, keys, values, attn_mask=mask, scale=scaling,
                                           enable_gqa=heads != kv_heads)  # (B, heads, 1, D)
        x.add_(F.linear(y.reshape(rows, heads * head_dim), *o))
        h = _rms_norm(x, size, norm2)
        g, u = F.linear(h, *gate), F.linear(h, *up)
        x.add_(F.linear(F.silu(g, inplace=True).mul_(u), *down))
    return F.linear(_rms_norm(x, size, final), *head)  # (B, V)


HAND_ATTENTION = {torch.float32, torch.float64}  # lower precisions: sdpa, which accumulates in float32


def grouped_attention(query, keys, values, mask):
    """One query token per row against its cache, the query heads grouped over their key/value heads.

    ``query (B, kv_heads, group, D)`` (already times the attention scale; query head ``h`` is
    ``[h // group, h % group]``), ``keys`` / ``values (B, kv_heads, L, D)``, ``mask (B, 1, 1, L)`` additive or
    None: ``softmax(query keysᵀ + mask) values``, ``(B, kv_heads, group, D)``. Two batched matrix products
    and a softmax, over the cache as it is (no copies of the shared heads); the same numbers as
    ``scaled_dot_product_attention(..., enable_gqa=True)`` within float rounding, and faster on a CPU for
    one token per row (its kernel is built for long queries)."""
    scores = torch.matmul(query, keys.transpose(-1, -2))  # (B, kv_heads, group, L)
    if mask is not None:
        scores.add_(mask)
    return torch.matmul(torch.softmax(scores, -1), values)


def _project(h, linear, out, scale: float = 1.0):
    """``scale · (h Wᵀ + b)`` written into ``out`` (a column block of a wider buffer), in the product itself."""
    weight, bias = linear
    if bias is None:
        if scale == 1.0:
            return torch.mm(h, weight.t(), out=out)
        return torch.addmm(out, h, weight.t(), beta=0, alpha=scale, out=out)  # beta 0: out's content is ignored
    return torch.addmm(bias, h, weight.t(), beta=scale, alpha=scale, out=out)


def _residual(x, y, linear) -> None:
    """``x += y Wᵀ + b`` in place (the sum in the product)."""
    weight, bias = linear
    x.addmm_(y, weight.t())
    if bias is not None:
        x.add_(bias)


def _eager_layers(plan, final, head, x, cos, sin_signed, mask, layers):
    """:func:`_layers` for float32 / float64 without the compiler: fewer, larger operations. The query, key
    and value projections write into one buffer (the query already scaled), the query and key heads are
    rotated together, the new key and value go straight into the cache's room (``GrowingLayer``),
    attention is :func:`grouped_attention`, and the residual additions happen inside the output products."""
    rows, size, half = x.shape[0], (x.shape[-1],), cos.shape[-1] // 2
    for layer, (norm1, q, k, v, o, norm2, gate, up, down, heads, kv_heads, head_dim, scaling) in zip(layers, plan):
        h = _rms_norm(x, size, norm1)
        width, group = (heads + kv_heads) * head_dim, heads // kv_heads
        qkv = x.new_empty((rows, width + kv_heads * head_dim))
        _project(h, q, qkv[:, :heads * head_dim], scaling)
        _project(h, k, qkv[:, heads * head_dim:width])
        _project(h, v, qkv[:, width:])
        qk = qkv[:, :width].view(rows, heads + kv_heads, 1, head_dim)
        swapped = qk.view(rows, heads + kv_heads, 2, half).flip(-2).view(rows, heads + kv_heads, 1, head_dim)
        qk = torch.addcmul(qk * cos, swapped, sin_signed)  # (B, heads + kv_heads, 1, D), rotated
        n = layer.keys.shape[-2]
        key_room, value_room = layer.room_for(1)
        key_room[:, :, n:n + 1] = qk[:, heads:]
        value_room[:, :, n:n + 1] = qkv[:, width:].view(rows, kv_heads, 1, head_dim)
        layer.keys, layer.values = keys, values = key_room[:, :, :n + 1], value_room[:, :, :n + 1]
        y = grouped_attention(qk[:, :heads].view(rows, kv_heads, group, head_dim), keys, values, mask)
        _residual(x, y.view(rows, heads * head_dim), o)
        h = _rms_norm(x, size, norm2)
        g, u = F.linear(h, *gate), F.linear(h, *up)
        _residual(x, F.silu(g, inplace=True).mul_(u), down)
    return F.linear(_rms_norm(x, size, final), *head)  # (B, V)
