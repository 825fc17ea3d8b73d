"""Tree rollouts for TRL score each leaf with the reward functions once while the trees grow: adaptive
branching reads every leaf of a tree at every round and the rollout's packing reads them all again, and
:func:`~treecredit.sampling.leaf_scores.score_leaves` gives those the rewards it kept for the forest, the one
cache (the task view, :class:`~treecredit.integrations.trl_tree.PromptIdsTask`, keeps none)."""

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


def test_kept_rewards_grow_the_same_trees(monkeypatch):
    # the rewards a leaf keeps are the ones its reward function gives again: the same trees as scoring anew.
    # was: the "anew" run cleared a cache of the task view that the sampler's per-forest cache had made
    # redundant, so both runs scored each leaf once and compared nothing
    scored = Counter()

    def score(problems, texts, ids):
        scored["rows"] += len(problems)
        return [((sum(row) + p) % 7) / 6 for p, row in zip(problems, ids)]

    kept = _grow(score)
    once = scored["rows"]
    import treecredit.sampling.leaf_scores as leaf_scores

    scored.clear()
    monkeypatch.setattr(leaf_scores, "kept_rewards", lambda forest: {})  # nothing kept: every read scores anew
    anew = _grow(score)
    assert scored["rows"] > once, "the run without kept rewards scored no more: it does not score anew"
    assert kept == anew


def test_the_task_view_keeps_no_rewards_of_its_own():
    # one source of truth: the sampler's per-forest cache (leaf_scores.score_leaves) decides what is scored,
    # and the task view passes every completion it is asked for to score, without the end marker
    seen = []

    def score(problems, texts, ids):
        seen.append((list(problems), list(texts), ids))
        return [len(t) for t in texts]

    task = PromptIdsTask(" ", end="<e>", score=score)
    assert task.score_batch([0, 1], ["ab<e>", "c"], [[1, 2], [3]]) == [2.0, 1.0]
    assert task.score_batch([0], ["ab"], [[1, 2]]) == [2.0]
    assert seen == [([0, 1], ["ab", "c"], [[1, 2], [3]]), ([0], ["ab"], [[1, 2]])]
    assert not hasattr(task, "_kept")
    assert PromptIdsTask(" ").score_batch([0, 1], ["a", "b"]) == [0.0, 0.0]


def test_a_score_of_the_wrong_length_is_named():
    task = PromptIdsTask(" ", score=lambda problems, texts, ids: [1.0])
    with pytest.raises(ValueError, match=r"^score: gave 1 rewards for 2 completions"):
        task.score_batch([0, 1], ["a", "b"], [[1], [2]])
