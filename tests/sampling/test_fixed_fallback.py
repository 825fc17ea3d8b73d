"""The fixed tree's fallback_every: chains that write no step end fork after k tokens (an option, off by default)."""

import numpy as np
import pytest
import torch
from test_segment_rounds import _same_rollout
from tree_helpers import check_tree_nodes, tiny_gpt

from treecredit.sampling.branching import FixedBranching
from treecredit.sampling.tree import TreeSampler
from treecredit.tasks import CountdownTask

torch.set_num_threads(1)


def _forks(rollout) -> int:
    """Nodes shared by two or more leaves."""
    nodes = rollout.tree_nodes[rollout.tree_nodes >= 0]
    return int((torch.bincount(nodes) > 1).sum()) if nodes.numel() else 0


def test_fallback_forks_text_without_step_ends_and_both_schedules_agree():
    policy = tiny_gpt(torch.float64, seed=3)  # random text: rarely a step end
    task = CountdownTask()
    problems = task.generate(np.random.default_rng(0), 3)

    def run(schedule, **options):
        return TreeSampler(max_new_tokens=16, schedule=schedule, branching_options=options).sample(
            policy, task, problems, 8, torch.Generator().manual_seed(7))

    plain, rounds, stream = run("auto"), run("rounds", fallback_every=4), run("auto", fallback_every=4)
    _same_rollout(stream, rounds)
    check_tree_nodes(stream)
    assert _forks(stream) > _forks(plain)
    assert stream.generated_tokens < plain.generated_tokens
    assert torch.bincount(stream.group_ids).tolist() == [8, 8, 8]
    far = run("auto", fallback_every=16)  # no chain grows 16 tokens past a fork point: the default tree
    _same_rollout(far, plain)


def test_fallback_is_refused_with_every():
    with pytest.raises(ValueError, match="fallback_every"):
        FixedBranching(every=3, fallback_every=4)
    with pytest.raises(ValueError, match="fallback_every"):
        FixedBranching(fallback_every=-1)
