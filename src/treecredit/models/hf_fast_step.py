"""One decoding step of a ``transformers`` Llama-family model without its per-layer module code.

:class:`~treecredit.models.HFPolicy` decodes one token per row at each step. ``transformers`` runs that
step through its general forward: per layer a dozen module calls, the mask builder, float32 casts of the
RMSNorm, rotary embeddings by concatenation, a repeat of the grouped key/value heads when a mask is given.
:func:`decode_step` computes the same step from the model's own weights (nothing copied) with a few fused
kernels per layer: ``torch.nn.functional.rms_norm`` (in float32, as ``transformers`` normalises), one
``linear`` per projection, rotary embeddings from the model's own ``rotary_emb`` (so every rope type it
implements is honoured) applied by a roll of the head halves, ``scaled_dot_product_attention`` over the
grouped key/value heads (``enable_gqa``, no copies), an in-place SiLU gate and in-place residual additions.
Keys and values go through the cache's own ``update`` (:class:`~treecredit.models.hf_cache.GrowingLayer`
writes them into spare room), so the state is the one the ``transformers`` forward would have left.

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


def decode_step(model, cache, tokens, key_valid, positions, *, compiled: bool | str = False):
    """Next-token logits ``(B, V)`` (the model's dtype) after ``tokens (B,)``, or None when unsupported or
    when gradients are on (decoding only: training's forward stays ``transformers``').

    Also None under an enabled autocast, or when the cache's keys or values are not in the weights' dtype
    (a ``forward`` wrapped in autocast, as accelerate's mixed precision does, filled it): the caller's
    ``transformers`` forward then keeps the step in the precision the cache was filled in.

    ``cache`` is the ``transformers`` dynamic cache of the rows (updated in place, as the forward does),
    ``key_valid (B, L)`` bool marks the real keys over cache + the new token, ``positions (B,)`` long are
    the new tokens' position ids. ``compiled``: ``"auto"``, ``"on"``/True or ``"off"``/False, whether the layers
    run as one ``torch.compile`` graph (:func:`treecredit.models.compiled_step.wanted`; the same logits within
    float rounding)."""
    layers = getattr(cache, "layers", None)
    if torch.is_grad_enabled() or layers is None or tokens.dim() != 1 or torch.is_autocast_enabled(tokens.device.type):
        return None  # under autocast the forward decides each operation's dtype; this step would not
    plan = layer_plan(model)
    if plan is None or len(layers) != len(plan) or not all(
            getattr(layer, "is_initialized", False) and type(layer).__name__ in ("DynamicLayer", "GrowingLayer")
            for layer in layers):
        return None
    dtype = plan[0][1][0].dtype
    if layers[0].keys.dtype != dtype or layers[0].values.dtype != dtype:
        return None  # the cache was filled in another precision (e.g. a forward wrapped in autocast by accelerate)
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
    setting = compiled_step.setting_of(compiled)
    buffers = _compiled_buffers(cache, key_valid.shape[1] - 1) if rows > 1 and compiled_step.wanted(setting, model) \
        else None
    logits = None
    if buffers is not None:
        mask = attention_mask(key_valid, x.dtype, always=True)
        dynamic = [(x, (0,)), (cos, (0,)), (sin_signed, (0,)), (mask, (0, 3)),
                   *((b, (0, 2)) for b in buffers[0]), *((b, (0, 2)) for b in buffers[1])]
        key = (_layers, id(head[0]), head[0].dtype)
        logits = compiled_step.run(_layers, key, dynamic, plan, final, head, x, cos, sin_signed, mask, None,
                                   *buffers, module=model, setting=setting)
    if logits is None or buffers is None:  # eager (or the compilation failed under "auto": room left unused)
        return _layers(plan, final, head, x, cos, sin_signed, attention_mask(key_valid, x.dtype), cache, None, None)
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
