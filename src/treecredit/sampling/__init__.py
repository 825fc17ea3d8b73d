"""Sampling: the ``Policy`` protocol, ``RolloutBatch``, the generation-backend contract, the i.i.d. sampler
and the tree sampler.

A sampler is any object with ``sample(policy, task, problems, group_size, generator) -> RolloutBatch``;
register its class with ``@register_sampler(name)`` so that ``treecredit train --sampler name`` finds it.
The built-in samplers generate through a :class:`GenerationBackend` (``backend=`` of ``sample``; the
built-in :class:`KVCacheBackend` over the policy by default). Importing this package is light; torch is
imported inside the functions that run models.
"""

from treecredit.sampling.backend import GenerationBackend, SamplingSettings, Segment, SegmentRequest
from treecredit.sampling.iid import IIDSampler, sample_next, stop_ids_for
from treecredit.sampling.kv_backend import KVCacheBackend
from treecredit.sampling.policy import DecodeState, Policy, left_pad
from treecredit.sampling.registry import make_sampler, register_sampler, samplers
from treecredit.sampling.rollout import RolloutBatch, step_end_mask
from treecredit.sampling.tree import TreeSampler

__all__ = ["DecodeState", "GenerationBackend", "IIDSampler", "KVCacheBackend", "Policy", "RolloutBatch",
           "SamplingSettings", "Segment", "SegmentRequest", "TreeSampler", "left_pad", "make_sampler",
           "register_sampler", "sample_next", "samplers", "step_end_mask", "stop_ids_for"]
