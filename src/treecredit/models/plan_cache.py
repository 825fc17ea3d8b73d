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

_PLANS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # (model, kind) holder -> kept plan


def _contents(dicts: list) -> list:
    """The identities of the dictionaries' values, in order (compared, not the values: tensors have no
    boolean equality); the entry also keeps the values alive, so an identity cannot be reused."""
    return [id(value) for d in dicts for value in d.values()]


def kept_plan(model, kind: str, build):
    """``build(dicts)``'s plan for ``model``, kept between calls. ``build`` reads the model's modules and
    appends every ``_modules`` / ``_parameters`` dictionary it read to ``dicts``; the plan is returned again
    while those dictionaries hold the same objects, and rebuilt when one does not. A None plan (a model the
    step does not support) is not kept: it is read again at each call. ``kind`` names the step (one model
    may have plans for several)."""
    kept = _PLANS.get(model)
    entry = kept.get(kind) if kept is not None else None
    if entry is not None and _contents(entry[0]) == entry[1]:
        return entry[3]
    dicts: list = []
    plan = build(dicts)
    if plan is not None:
        alive = [value for d in dicts for value in d.values()]
        _PLANS.setdefault(model, {})[kind] = (dicts, _contents(dicts), alive, plan)
    return plan
