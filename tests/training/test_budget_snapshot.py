"""The state a token-budget run captures before each step (to undo a set-aside step) is cheap and exact."""

import copy

import numpy as np
import torch

from treecredit.models import GPTPolicy
from treecredit.sampling.tree import TreeSampler
from treecredit.tasks import ArithmeticTask
from treecredit.training.checkpoint import random_state, restore_random_state
from treecredit.training.loop import train

torch.set_num_threads(1)


def _replay_sampler():
    policy = GPTPolicy.build(seed=0, n_layer=2, n_head=2, n_embd=32, max_len=64)
    task = ArithmeticTask(min_operators=1, max_operators=2)
    problems = task.generate(np.random.default_rng(0), 3)
    sampler = TreeSampler(max_new_tokens=14, branching="entropy", replay_leaves=2)
    sampler.sample(policy, task, problems, 8, torch.Generator().manual_seed(0))
    return policy, task, problems, sampler


def _equal(a, b) -> bool:
    if isinstance(a, torch.Tensor):
        return isinstance(b, torch.Tensor) and torch.equal(a, b)
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_equal(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple):
        return isinstance(b, list | tuple) and len(a) == len(b) and all(map(_equal, a, b))
    return a == b


def test_the_step_snapshot_does_not_copy_the_replay_store_and_stays_exact():
    policy, task, problems, sampler = _replay_sampler()
    generator, problem_rng = torch.Generator().manual_seed(1), np.random.default_rng(1)
    snapshot = random_state(generator, problem_rng, sampler)
    stored = snapshot["sampler"]["replay"]["store"]
    live = sampler.replay.store[stored[0][0]]
    assert stored[0][1]["ids"] is live["ids"]  # the stored tensors are shared, not copied (a deep copy per step)
    deep = copy.deepcopy(snapshot["sampler"])
    straight = sampler.sample(policy, task, problems, 8, torch.Generator().manual_seed(2))  # replays, re-stores
    assert straight.extras["replayed_rows"] > 0
    assert _equal(snapshot["sampler"], deep)  # the step changed no value the snapshot holds
    restore_random_state(snapshot, generator, problem_rng, sampler)
    again = sampler.sample(policy, task, problems, 8, torch.Generator().manual_seed(2))
    assert torch.equal(straight.response_ids, again.response_ids) and torch.equal(straight.row_weights,
                                                                                  again.row_weights)


def test_a_replay_run_ended_by_its_budget_resumes_as_if_never_stopped(tiny_config, tmp_path):
    """The set-aside step's replay store is put back: resuming with a larger budget trains what one run does."""
    settings = dict(steps=0, warm_start_steps=0, eval_every=0, eval_problems=1, sampler="tree", group_size=4,
                    replay_leaves=2, branching_options={"children": 2, "depth": 1}, prompts_per_step=4,
                    task_options={"min_operators": 1, "max_operators": 1, "max_operand": 2, "operators": "+"})
    quiet = {"log": lambda *a: None}
    whole = train(tiny_config(token_budget=700, out=str(tmp_path / "whole"), **settings), **quiet)
    train(tiny_config(token_budget=350, out=str(tmp_path / "part"), **settings), **quiet)
    more = train(tiny_config(token_budget=700, out=str(tmp_path / "part"), **settings), resume=True, **quiet)
    strip = [{k: v for k, v in r.items() if k != "elapsed_s"} for r in whole + more if r["kind"] == "train"]
    whole_train, more_train = strip[:len([r for r in whole if r["kind"] == "train"])], strip[len(
        [r for r in whole if r["kind"] == "train"]):]
    assert any(r.get("tree_replayed_rows", 0) > 0 for r in whole_train)
    assert more_train == whole_train and len(whole_train) >= 3
