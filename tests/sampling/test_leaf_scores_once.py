"""The built-in tree sampler scores each leaf once per sampled forest: adaptive branching reads every leaf of a
group at every round and the rollout's packing reads them all again, and
:func:`~treecredit.sampling.leaf_scores.leaf_rewards` gives those the rewards it kept for the forest."""

from collections import Counter

import numpy as np
import pytest
import torch
from tree_helpers import sample_tree, tiny_gpt

from treecredit.sampling.leaf_scores import leaf_rewards, score_leaves
from treecredit.sampling.tree_table import SampledForest
from treecredit.tasks import ArithmeticTask

torch.set_num_threads(1)

OPTIONS = {"chains": 2, "rounds": 3, "max_children": 2}


class CountingTask(ArithmeticTask):
    """Arithmetic problems with a deterministic reward of the response ids that counts every leaf it scores;
    ``fresh``: the reward moves on at every call (a sampled judge), so a leaf scored again would change."""

    def __init__(self, fresh: bool = False) -> None:
        super().__init__(min_operators=1, max_operators=2)
        self.calls: Counter = Counter()
        self.fresh = fresh

    def score_batch(self, problems, responses, completion_ids=None):
        keys = [(str(p), tuple(ids)) for p, ids in zip(problems, completion_ids)]
        self.calls.update(keys)
        return [((sum(ids) + self.calls[k] * self.fresh) % 7) / 6 for k, ids in zip(keys, completion_ids)]


def _sample(task, schedule="rounds", group_size=6):
    problems = task.generate(np.random.default_rng(0), 3)
    return sample_tree(tiny_gpt(torch.float32), task, problems, group_size=group_size, max_new_tokens=12,
                       branching="adaptive", branching_options=OPTIONS, schedule=schedule)


@pytest.mark.parametrize("schedule", ["rounds", "stream", "speculative"])
def test_each_leaf_is_scored_once_per_sampled_forest(schedule):
    # was: 51 reward calls for these 18 leaves (every round scored all the group's leaves so far, then the
    # packing scored all 18 again)
    task = CountingTask()
    rollout = _sample(task, schedule)
    assert rollout.rewards.numel() == 18
    assert sum(task.calls.values()) == 18, f"{sum(task.calls.values())} reward calls for 18 leaves"
    assert max(task.calls.values()) == 1


def test_a_leaf_keeps_its_first_reward():
    # a reward that answers differently when asked again: the rollout carries the value each leaf got first
    task = CountingTask(fresh=True)
    rollout = _sample(task)
    lengths = rollout.response_mask.sum(1).tolist()
    firsts = [((sum(ids[:n]) + 1) % 7) / 6 for ids, n in zip(rollout.response_ids.tolist(), lengths)]
    assert rollout.rewards.tolist() == pytest.approx(firsts)


def test_kept_rewards_grow_the_same_trees_and_rollout(monkeypatch):
    # a deterministic reward: the rewards kept are what scoring anew would give, so the trees, rewards and
    # rows are the same as when every read scores every leaf again
    kept = _sample(CountingTask())
    import treecredit.sampling.leaf_scores as leaf_scores

    monkeypatch.setattr(leaf_scores, "kept_rewards", lambda forest: {})  # nothing kept: every read scores anew
    anew_task = CountingTask()
    anew = _sample(anew_task)
    assert sum(anew_task.calls.values()) > 18  # the comparison is with re-scoring
    for name in ("response_ids", "response_mask", "rewards", "tree_nodes", "group_ids", "old_logprobs"):
        assert torch.equal(getattr(kept, name), getattr(anew, name)), name


def _two_leaf_forest():
    forest = SampledForest()
    for chain in (5, 6):
        node = forest.add_node(0, -1, chain)
        forest.tokens[node], forest.status[node] = [1, 2], "stop"
    return forest


class _Ctx:
    def __init__(self, task):
        self.task, self.problems = task, ["p"]
        self.policy = type("P", (), {"eos_id": -1, "decode": staticmethod(lambda ids: " ".join(map(str, ids)))})()


def test_twin_leaves_of_other_chains_are_scored_apart_and_a_split_leaf_is_not_scored_again():
    seen = []

    class Task:
        end = "<end>"
        failure_reward = 0.0

        def score_batch(self, problems, responses):
            seen.append(list(responses))
            return [float(len(seen))] * len(responses)

    ctx, forest = _Ctx(Task()), _two_leaf_forest()
    assert leaf_rewards(ctx, forest) == {0: 1.0, 1: 1.0} and seen == [["1 2", "1 2"]]  # same text, two leaves
    forest.split(0, 0)  # a fork point inside leaf 0: its tail (node 2) is the same leaf
    assert leaf_rewards(ctx, forest) == {2: 1.0, 1: 1.0} and len(seen) == 1
    assert score_leaves(ctx, _two_leaf_forest(), [0]) == [2.0]  # another forest: scored anew


class CallCountingTask(CountingTask):
    """:class:`CountingTask` that also counts its reward calls (``batches``: completions per call)."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[int] = []

    def score_batch(self, problems, responses, completion_ids=None):
        self.batches.append(len(responses))
        return super().score_batch(problems, responses, completion_ids)


@pytest.mark.parametrize("schedule", ["rounds", "stream", "speculative"])
def test_the_groups_whose_rounds_end_together_share_one_reward_call(schedule, monkeypatch):
    """Trial 35 (F15): adaptive branching called the reward once per group per round (3 prompts × 6 leaves: 10
    calls of 1-3 completions). The ended leaves of every group are now scored together: in the rounds schedule
    one call per round plus the packing's; the trees and rollout are the ones of scoring group by group."""
    import treecredit.sampling.leaf_scores as leaf_scores

    together_task = CallCountingTask()
    together = _sample(together_task, schedule)
    monkeypatch.setattr(leaf_scores, "ENDED", ())  # no other group's leaf: one call per group, as before
    apart_task = CallCountingTask()
    apart = _sample(apart_task, schedule)
    for name in ("response_ids", "response_mask", "rewards", "tree_nodes", "group_ids", "old_logprobs"):
        assert torch.equal(getattr(together, name), getattr(apart, name)), name
    assert sum(together_task.batches) == sum(apart_task.batches) == 18  # each leaf once either way
    assert len(apart_task.batches) == 10, apart_task.batches  # 3 groups × 3 rounds, then the packing
    if schedule == "rounds":
        assert len(together_task.batches) == OPTIONS["rounds"] + 1, together_task.batches
    else:  # a group's round ends when its own chains have: those that end at one decoding step share a call
        assert len(together_task.batches) < len(apart_task.batches), together_task.batches


@pytest.mark.parametrize("schedule", ["rounds", "stream", "speculative"])
def test_other_groups_unscored_leaves_found_without_a_walk_are_those_of_the_walk(schedule, monkeypatch):
    """leaf_rewards finds the other groups' ended leaves not scored yet by one pass over the statuses (the leaves it
    knows are scored skipped, the rest in ``forest.leaves()`` order) and reads a leaf's reward key again only when its
    tokens changed in number: at every round of every group the same leaves, in the same order, as walking every
    tree and reading every leaf's response ids (what it did before); the same calls to the reward."""
    import treecredit.sampling.leaf_scores as leaf_scores

    found, walked = [], []
    real = leaf_scores._ended_unscored

    def checked(forest, group):
        out = real(forest, group)
        kept = leaf_scores.kept_rewards(forest)
        walk = [leaf for leaf in forest.leaves() if forest.group[leaf] != group and forest.status[leaf] in
                leaf_scores.ENDED and (forest.group[leaf], forest.chain[leaf], tuple(forest.path_tokens(leaf)))
                not in kept]
        found.append(out)
        walked.append(walk)
        return out

    monkeypatch.setattr(leaf_scores, "_ended_unscored", checked)
    task = CallCountingTask()
    _sample(task, schedule, group_size=8)
    assert found == walked and any(len(f) > 1 for f in found)
    assert sum(task.batches) == 24 and max(task.calls.values()) == 1


def test_a_leaf_key_is_read_again_when_its_tokens_change():
    class Task:
        end = "<end>"
        failure_reward = 0.0

        def score_batch(self, problems, responses):
            return [float(len(r)) for r in responses]

    ctx, forest = _Ctx(Task()), _two_leaf_forest()
    forest.status[1] = "open"
    assert leaf_rewards(ctx, forest, 0) == {0: 3.0, 1: 3.0}  # "1 2"
    forest.tokens[1] += [3]  # the open leaf grew: its key is its response ids now
    assert leaf_rewards(ctx, forest, 0) == {0: 3.0, 1: 5.0}
    forest.split(1, 0)  # its tail is the same leaf: the same key
    assert leaf_rewards(ctx, forest, 0) == {0: 3.0, 2: 5.0}
