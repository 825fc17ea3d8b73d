"""Tree rollouts for TRL score each leaf with the reward functions once while the trees grow: adaptive
branching reads every leaf of a tree at every round and the rollout's packing reads them all again, and
:class:`~treecredit.integrations.trl_tree.PromptIdsTask` gives those the rewards it kept."""

import sys
from collections import Counter
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

sys.path.insert(0, str(Path(__file__).parents[1] / "sampling"))

from tree_helpers import tiny_gpt  # noqa: E402

from treecredit.integrations.trl_tree import PromptIdsTask, grow_group_trees  # noqa: E402
from treecredit.sampling.tree import TreeSampler  # noqa: E402

PROMPTS = [[1, 2, 3], [4, 5], [6]]


def _grow(score, schedule="rounds", **options):
    options = {"chains": 2, "rounds": 3, "max_children": 2, **options}
    sampler = TreeSampler(branching="adaptive", branching_options=options, max_new_tokens=12, temperature=1.0,
                          schedule=schedule)
    return grow_group_trees(tiny_gpt(), sampler, PROMPTS, 6, " ", seed=0, score=score)


@pytest.mark.parametrize("schedule", ["rounds", "speculative"])
def test_each_leaf_is_scored_once_while_the_trees_grow(schedule):
    # was: 51 completions scored for these 18 leaves (every round scored all the leaves so far, then the
    # packing scored all 18 again), so TRL's reward functions ran up to 4 times per leaf before TRL's own scoring
    calls: Counter = Counter()

    def score(problems, texts, ids):
        calls.update((p, tuple(row)) for p, row in zip(problems, ids))
        return [((sum(row) + p) % 7) / 6 for p, row in zip(problems, ids)]

    rows = _grow(score, schedule)
    leaves = Counter((i // 6, tuple(ids)) for i, (ids, _, _) in enumerate(rows))
    assert len(leaves) > len(PROMPTS) * 2, "few distinct leaves: weak test"
    assert set(calls) == set(leaves), "a leaf was not scored, or something that is no leaf was"
    assert max(calls.values()) == 1, f"a leaf was scored {max(calls.values())} times"


def test_kept_rewards_grow_the_same_trees():
    # the rewards a leaf keeps are the ones its reward function gives again: the same trees as scoring anew
    def score(problems, texts, ids):
        return [((sum(row) + p) % 7) / 6 for p, row in zip(problems, ids)]

    kept = _grow(score)

    class Fresh(PromptIdsTask):  # the task view without kept rewards: every leaf scored at every read
        def score_batch(self, problems, texts, completion_ids=None):
            self._kept.clear()
            return super().score_batch(problems, texts, completion_ids)

    import treecredit.integrations.trl_tree as trl_tree

    original = trl_tree.PromptIdsTask
    trl_tree.PromptIdsTask = Fresh
    try:
        anew = _grow(score)
    finally:
        trl_tree.PromptIdsTask = original
    assert kept == anew


def test_the_task_view_scores_only_leaves_it_has_not_scored():
    seen = []
    task = PromptIdsTask(" ", score=lambda problems, texts, ids: seen.append(list(texts)) or [len(t) for t in texts])
    assert task.score_batch([0, 1], ["ab", "c"], [[1, 2], [3]]) == [2.0, 1.0]
    again = task.score_batch([1, 0, 0, 2], ["c", "ab", "ab", "de"], [[3], [1, 2], [1, 2], [4, 5]])
    assert again == [1.0, 2.0, 2.0, 2.0]
    assert task.score_batch([0], ["ab"], [[1, 2]]) == [2.0]
    assert seen == [["ab", "c"], ["de"]]  # the last batch: all kept, no call
    assert task.score_batch([0], ["ab"], [[9]]) == [2.0] and seen[-1] == ["ab"]  # other ids: another leaf


def test_a_score_of_the_wrong_length_is_named():
    task = PromptIdsTask(" ", score=lambda problems, texts, ids: [1.0])
    with pytest.raises(ValueError, match=r"^score: gave 1 rewards for 2 completions"):
        task.score_batch([0, 1], ["a", "b"], [[1], [2]])
