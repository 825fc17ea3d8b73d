"""Sampling: the ``Policy`` protocol, ``RolloutBatch``, the i.i.d. sampler and the tree sampler.

A sampler is any object with ``sample(policy, task, problems, group_size, generator) -> RolloutBatch``;
register its class with ``@register_sampler(name)`` so that ``treecredit train --sampler name`` finds it.
Importing this package is light; torch is imported inside the functions that run models.
"""

from treecredit.sampling.iid import IIDSampler, sample_next, stop_ids_for
from treecredit.sampling.policy import DecodeState, Policy, left_pad
from treecredit.sampling.registry import make_sampler, register_sampler, samplers
from treecredit.sampling.rollout import RolloutBatch, step_end_mask
from treecredit.sampling.tree import TreeSampler

__all__ = ["DecodeState", "IIDSampler", "Policy", "RolloutBatch", "TreeSampler", "left_pad", "make_sampler",
           "register_sampler", "sample_next", "samplers", "step_end_mask", "stop_ids_for"]
