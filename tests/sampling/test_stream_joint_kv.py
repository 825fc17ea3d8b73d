"""A tree sampled on a tiny float64 Llama whose stream's KV rows live in joint buffers (``models.kv_joint``: every
layer's keys and values in one buffer, rows copied with one operation for all layers) is the tree sampled with a
buffer per layer (``kv_joint.JOINT`` off): token for token, log-probability for log-probability."""

import numpy as np
import pytest
import torch

transformers = pytest.importorskip("transformers")
pytest.importorskip("tokenizers")

from test_segment_rounds import CASES, _same_rollout  # noqa: E402

from hf_tiny import tiny_hf_policy  # noqa: E402
from kv_joint_counts import Counts  # noqa: E402
from treecredit.models import kv_joint  # noqa: E402
from treecredit.sampling.kv_backend import KVCacheBackend  # noqa: E402
from treecredit.sampling.tree import TreeSampler  # noqa: E402
from treecredit.tasks import ArithmeticTask  # noqa: E402

torch.set_num_threads(1)


@pytest.mark.parametrize("case", [CASES[0], CASES[5], CASES[7]])  # fixed (siblings copied after the step), entropy,
def test_a_tree_on_joint_buffers_is_the_same(case, monkeypatch):  # adaptive
    policy = tiny_hf_policy("llama")
    policy.model.to(torch.float64)
    task = ArithmeticTask(min_operators=1, max_operators=3)
    branching, options, cutoff, temperature, top_p = case
    rollouts = []
    for on in (True, False):
        monkeypatch.setattr(kv_joint, "JOINT", on)
        counts = Counts(monkeypatch)
        sampler = TreeSampler(branching=branching, branching_options=options, cutoff=cutoff,
                              temperature=temperature, top_p=top_p, max_new_tokens=12)
        rollouts.append(sampler.sample(policy, task, task.generate(np.random.default_rng(1), 3), 8,
                                       torch.Generator().manual_seed(2), backend=KVCacheBackend(policy)))
        assert (counts.stacks > 0) == on and ((counts.appends > 0) == on or case is not CASES[0])
    _same_rollout(*rollouts)
    np.testing.assert_array_equal(rollouts[0].extras["logprobs_f64"], rollouts[1].extras["logprobs_f64"])
