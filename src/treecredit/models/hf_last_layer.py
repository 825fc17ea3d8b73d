"""The last layer's MLP of a ``transformers`` model computed only at the columns whose logits are read.

In the update (:meth:`~treecredit.models.HFPolicy._logits`) the head runs only on the columns that predict a
response token (``logits_to_keep``). Every other column needs, from the last decoder layer, only its keys and
values (which later columns of the same layer attend to), not the layer's output: its MLP there is wasted work
(a packed trie's nodes that predict nothing, 27–33 % of a tree's nodes; docs/performance.md [2q]). Within
:func:`mlp_only_at`, the last layer's MLP runs on those columns alone and gives zeros elsewhere; the columns
read are unchanged (the MLP of a position-wise layer sees each column alone), and so are their gradients.

Only for the layouts known here: a decoder whose layers are ``model.layers`` (Llama, Qwen, Mistral, SmolLM2 …)
or ``transformer.h`` (GPT-2), whose last layer's ``mlp`` takes one tensor ``(K, S, C)`` and returns one; other
models, and models that recompute layers in the backward pass (gradient checkpointing, which would run the MLP
again on every column), keep their own MLP.
"""

from __future__ import annotations

from contextlib import contextmanager

import torch


class _AtColumns(torch.nn.Module):
    """``mlp`` run on ``columns`` of its input only (zeros elsewhere)."""

    def __init__(self, mlp, columns) -> None:
        super().__init__()
        object.__setattr__(self, "inner", mlp)  # not registered: the model's parameters stay as they are
        self.columns = columns

    def forward(self, hidden, *args, **kwargs):
        out = self.inner(hidden.index_select(1, self.columns), *args, **kwargs)
        if not isinstance(out, torch.Tensor):  # an MLP of another kind: never installed for it (see _last_layer)
            raise TypeError(f"the last layer's MLP returned {type(out).__name__}, not a tensor")
        return hidden.new_zeros(hidden.shape[:-1] + out.shape[-1:]).index_copy(1, self.columns, out)


def _last_layer(model):
    """The last decoder layer of ``model`` (under peft, of its base model) when it has an ``mlp`` module, else None."""
    base = model.get_base_model() if hasattr(model, "get_base_model") else model
    for path in (("model", "layers"), ("transformer", "h")):
        layers = base
        for name in path:
            layers = getattr(layers, name, None)
        if isinstance(layers, torch.nn.ModuleList) and len(layers):
            last = layers[-1]
            mlp = getattr(last, "mlp", None)
            return last if isinstance(mlp, torch.nn.Module) and type(mlp).__name__.endswith("MLP") else None
    return None


def _checkpoints(model) -> bool:
    """Whether ``model`` recomputes its layers in the backward pass (``is_activation_checkpointing``, the name
    ``transformers`` 5.x gives ``is_gradient_checkpointing``, read without the old name's deprecation warning)."""
    name = "is_activation_checkpointing" if hasattr(type(model), "is_activation_checkpointing") else \
        "is_gradient_checkpointing"
    return bool(getattr(model, name, False))


@contextmanager
def mlp_only_at(model, columns):
    """Within the block, the last layer's MLP of ``model`` runs only at ``columns (C,)`` (long, sorted, the
    sequence columns whose logits are read; zeros at the others), where the model's layout is one this module
    knows and it does not checkpoint its layers; otherwise nothing changes."""
    last = _last_layer(model)
    if last is None or _checkpoints(model) or int(columns.numel()) == 0:
        yield
        return
    mlp = last.mlp
    last.mlp = _AtColumns(mlp, columns)
    try:
        yield
    finally:
        last.mlp = mlp
