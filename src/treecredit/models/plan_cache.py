"""A fused decoding step's per-layer plan (the weights it reads, in order), built once per model.

The fused steps (:func:`treecredit.models.hf_fast_step.decode_step`, ``GPT.decode_step``) read each layer's
weights from the model's modules. Reading them again at every step cost ~0.8 ms of a SmolLM2-135M step
(30 layers of module look-ups and checks). :func:`kept_plan` keeps the plan while the module and parameter
dictionaries it was read from hold the same objects: a replaced projection, a LoRA layer put in, a
parameter rebound (``module.weight = ...``) all rebuild it; weights updated in place (an optimiser step,
``load_state_dict``) are the same tensors, so the plan stays valid without a rebuild.
"""

from __future__ import annotations

import weakref
from itertools import chain
from operator import is_

_PLANS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # (model, kind) holder -> kept plan


def _values(dicts: list) -> list:
    return list(chain.from_iterable(map(dict.values, dicts)))


def _same(dicts: list, values: list) -> bool:
    """Whether ``dicts`` hold ``values`` (in order), compared by identity (tensors have no boolean equality)."""
    return sum(map(len, dicts)) == len(values) and all(map(is_, chain.from_iterable(map(dict.values, dicts)), values))


def kept_plan(model, kind: str, build):
    """``build(dicts)``'s plan for ``model``, kept between calls. ``build`` reads the model's modules and
    appends every ``_modules`` / ``_parameters`` dictionary it read to ``dicts``; the plan is returned again
    while those dictionaries hold the same objects, and rebuilt when one does not. A None plan (a model the
    step does not support) is not kept: it is read again at each call. ``kind`` names the step (one model
    may have plans for several)."""
    kept = _PLANS.get(model)
    entry = kept.get(kind) if kept is not None else None
    if entry is not None and _same(entry[0], entry[1]):
        return entry[2]
    dicts: list = []
    plan = build(dicts)
    if plan is not None:
        _PLANS.setdefault(model, {})[kind] = (dicts, _values(dicts), plan)
    return plan
