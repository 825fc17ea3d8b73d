"""The round-based tree engine against the in-loop forking decoder it replaced, and its round count."""

import numpy as np
import pytest
import torch
from reference_grow import reference_tree
from tree_helpers import NeverStops, check_tree_nodes, tiny_gpt

from treecredit.sampling import IIDSampler
from treecredit.sampling.kv_backend import KVCacheBackend
from treecredit.sampling.tree import TreeSampler
from treecredit.tasks import ArithmeticTask, CountdownTask

torch.set_num_threads(1)

CASES = [
    ("fixed", {}, "off", 1.0, 1.0),
    ("fixed", {"every": 3, "top_up": 2}, "off", 0.7, 0.9),
    ("fixed", {"children": 4, "depth": 1, "every": 2}, "off", 1.0, 1.0),
    ("fixed", {"every": 4}, "any", 1.0, 1.0),
    ("entropy", {"chains": 2, "forks": 2, "children": 1}, "off", 1.0, 1.0),
    ("entropy", {"chains": 2, "forks": 1, "children": 2}, "any", 1.0, 0.95),
    ("adaptive", {"chains": 3, "rounds": 2}, "off", 1.0, 1.0),
    ("adaptive", {"chains": 2, "rounds": 3}, "any", 1.2, 1.0),
]


def _same_rollout(a, b):
    assert torch.equal(a.response_ids, b.response_ids)
    assert torch.equal(a.tree_nodes, b.tree_nodes)
    assert torch.equal(a.group_ids, b.group_ids)
    assert torch.equal(a.step_ends, b.step_ends)
    assert torch.equal(a.rewards, b.rewards)
    assert a.extras["leaf_status"] == b.extras["leaf_status"]
    assert torch.equal(a.extras["uniforms"], b.extras["uniforms"])
    np.testing.assert_allclose(a.extras["logprobs_f64"], b.extras["logprobs_f64"], rtol=0, atol=1e-12)
    # the tree's own tokens: a speculative schedule (schedule="auto" speculates for entropy and adaptive branching
    # at these sizes) also counts the tokens of its cancelled or unused children in generated_tokens
    assert a.generated_tokens - _wasted(a) == b.generated_tokens - _wasted(b)


def _wasted(rollout) -> int:
    return rollout.wasted_tokens


@pytest.mark.parametrize("branching, options, cutoff, temperature, top_p", CASES)
def test_rounds_grow_the_tree_the_in_loop_decoder_grows(branching, options, cutoff, temperature, top_p):
    """Same seed → the same tree, token for token, from the old forking loop and the new segment rounds."""
    policy = tiny_gpt(torch.float64, seed=1)
    task = CountdownTask()
    problems = task.generate(np.random.default_rng(2), 3)
    sampler = TreeSampler(max_new_tokens=18, temperature=temperature, top_p=top_p, branching=branching,
                          branching_options=options, cutoff=cutoff)
    new = sampler.sample(policy, task, problems, 8, torch.Generator().manual_seed(11))
    seed = int(torch.randint(0, 2**62, (1,), generator=torch.Generator().manual_seed(11)))
    old = reference_tree(sampler, policy, task, problems, 8, seed)
    _same_rollout(new, old)
    check_tree_nodes(new)
    assert new.extras["prefill_tokens"] <= old.extras["prefill_tokens"]  # kept states spare prefills


class CountingBackend(KVCacheBackend):
    def __init__(self, policy):
        super().__init__(policy)
        self.sizes = []

    def generate(self, requests, settings, generator=None):
        self.sizes.append(len(requests))
        return super().generate(requests, settings, generator)


@pytest.mark.parametrize("n_problems", [1, 5])
def test_one_generate_call_per_round_whatever_the_number_of_prompts(n_problems):
    """A fixed tree of depth 2 whose chains all reach their fork points takes 3 rounds = 3 calls."""
    task = CountdownTask()
    problems = task.generate(np.random.default_rng(0), n_problems)
    policy = NeverStops(tiny_gpt(torch.float32), [0, 2, policy_token(task.end)])
    backend = CountingBackend(policy)
    sampler = TreeSampler(max_new_tokens=10, branching_options={"every": 3, "top_up": 0}, schedule="rounds")
    r = sampler.sample(policy, task, problems, 8, torch.Generator().manual_seed(0), backend=backend)
    assert backend.calls == len(backend.sizes) == r.extras["rounds"] == 3
    # round 1: one request per prompt (its 2 roots); then one per fork point: 2, then 4 per prompt
    assert backend.sizes == [n_problems, 2 * n_problems, 4 * n_problems]
    assert torch.bincount(r.group_ids).tolist() == [8] * n_problems
    assert backend.kept == {}  # everything kept for the tree is released at the end


def policy_token(text):
    from treecredit.models import CharTokenizer

    return CharTokenizer().token_id(text)


@pytest.mark.parametrize("branching, options, group_size, leaves", [
    ("fixed", {"children": 2, "depth": 2, "every": 3}, 8, 8), ("fixed", {"children": 3, "depth": 1, "every": 2}, 6, 6),
    ("entropy", {"chains": 2, "forks": 1, "children": 2}, 8, 8),
    ("entropy", {"chains": 3, "forks": 2, "children": 1}, 7, 7),
    ("adaptive", {"chains": 2, "rounds": 3, "max_children": 8}, 8, 8)])
def test_each_strategy_grows_the_leaves_asked_for(branching, options, group_size, leaves):
    """Chains that never stop early: every strategy reaches exactly its leaf count per group."""
    task = ArithmeticTask(min_operators=1, max_operators=2)
    problems = task.generate(np.random.default_rng(0), 3)
    policy = NeverStops(tiny_gpt(torch.float32), [0, 2, policy_token(task.end)])
    r = TreeSampler(max_new_tokens=12, branching=branching, branching_options=options).sample(
        policy, task, problems, group_size, torch.Generator().manual_seed(3))
    assert torch.bincount(r.group_ids).tolist() == [leaves] * 3
    check_tree_nodes(r)


def test_depth_zero_tree_rows_are_the_iid_rows():
    """Root chain j of a tree and row j of i.i.d. sampling draw with the same chain key."""
    policy = tiny_gpt(torch.float32)
    task = ArithmeticTask(min_operators=1, max_operators=2)
    problems = task.generate(np.random.default_rng(0), 3)
    tree = TreeSampler(max_new_tokens=12, branching_options={"depth": 0}).sample(
        policy, task, problems, 4, torch.Generator().manual_seed(5))
    iid = IIDSampler(max_new_tokens=12).sample(policy, task, problems, 4, torch.Generator().manual_seed(5))
    assert tree.response_texts == iid.response_texts
    width = iid.shape[1]
    torch.testing.assert_close(tree.old_logprobs[:, :width], iid.old_logprobs, atol=1e-6, rtol=0)
