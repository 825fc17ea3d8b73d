"""Sampling: the ``Policy`` protocol, ``RolloutBatch``, the i.i.d. sampler (the tree sampler: issue 5).

A sampler is any object with ``sample(policy, task, problems, group_size, generator) -> RolloutBatch``.
Importing this package is light; torch is imported inside the functions that run models.
"""

from treecredit.sampling.iid import IIDSampler, sample_next, stop_ids_for
from treecredit.sampling.policy import DecodeState, Policy, left_pad
from treecredit.sampling.rollout import RolloutBatch, step_end_mask

__all__ = ["DecodeState", "IIDSampler", "Policy", "RolloutBatch", "left_pad", "sample_next", "step_end_mask",
           "stop_ids_for"]
