"""The tree sampler's own checks: replay sizes refused when the sampler is made or first called (not at the second
visit of a problem), replay and short groups counted for the metrics, an empty batch named, and options that keep
the trees from branching named by the warning about trees that did not branch."""

import numpy as np
import pytest
import torch
from tree_helpers import tiny_gpt

from treecredit.sampling.branch_stats import sampler_metrics
from treecredit.sampling.branching import FixedBranching
from treecredit.sampling.iid import IIDSampler
from treecredit.sampling.tree import TreeSampler, short_groups
from treecredit.tasks import ArithmeticTask
from treecredit.training.estimator_inputs import warn_if_tree_did_not_branch

torch.set_num_threads(1)
TASK = ArithmeticTask(min_operators=1, max_operators=2)
PROBLEMS = TASK.generate(np.random.default_rng(0), 3)


@pytest.mark.parametrize("replay_leaves, match", [
    (2, r"^replay_leaves: is 2: a revisited problem grows G − r = 8 − 2 = 6 new leaves, which must be a multiple of "
        r"children\*\*depth = 4. Fix: pass --replay-leaves \(replay_leaves\) 4\.$"),
    (8, r"^replay_leaves: is 8, not below the group size G = 8 \(--group-size\).*Fix: pass --replay-leaves"),
])
def test_replay_leaves_that_do_not_fit_are_refused_at_the_first_call(replay_leaves, match):
    sampler = TreeSampler(max_new_tokens=6, replay_leaves=replay_leaves)  # fixed 2×2: 4 leaves per root chain
    with pytest.raises(ValueError, match=match):
        sampler.sample(tiny_gpt(torch.float32), TASK, PROBLEMS, 8, torch.Generator().manual_seed(0))
    with pytest.raises(ValueError, match=match):
        sampler.check_group_size(8)


@pytest.mark.parametrize("weight", [0.5, -3, float("nan"), "2"])
def test_a_replay_max_weight_below_one_is_refused_by_its_name(weight):
    with pytest.raises(ValueError, match=r"^replay_max_weight: is .*must be a finite number ≥ 1.*--replay-max-weight"):
        TreeSampler(replay_max_weight=weight)  # even with replay off: the value is wrong either way


@pytest.mark.parametrize("schedule, branching", [("auto", "fixed"), ("rounds", "fixed"),
                                                  ("auto", FixedBranching())])  # a strategy object with phases
def test_replayed_rows_and_short_groups_are_counted_and_a_new_problem_still_grows_a_full_group(schedule, branching):
    policy = tiny_gpt(torch.float32)
    sampler = TreeSampler(max_new_tokens=14, replay_leaves=4, schedule=schedule, branching=branching)
    first = sampler.sample(policy, TASK, PROBLEMS[:2], 8, torch.Generator().manual_seed(0))
    assert torch.bincount(first.group_ids).tolist() == [8, 8]
    assert sampler_metrics(first)["tree_replayed_rows"] == 0 and sampler_metrics(first)["tree_short_groups"] == 0
    # problem 0 comes again (G − r = 4 grown, 4 replayed); problem 2 is new: all G = 8 grown (it got 4 before)
    second = sampler.sample(policy, TASK, [PROBLEMS[0], PROBLEMS[2]], 8, torch.Generator().manual_seed(1))
    metrics = sampler_metrics(second)
    assert torch.bincount(second.group_ids).tolist() == [8, 8]
    assert metrics["tree_replayed_rows"] == second.extras["replayed_rows"] == 4
    assert second.extras["leaf_status"].count("replayed") == 4 and metrics["tree_short_groups"] == 0
    assert short_groups(torch.tensor([0, 0, 0, 1, 1, 2, 2, 2]), 3, 3) == 1  # group 1 holds 2 of 3 rows


@pytest.mark.parametrize("sampler", [TreeSampler(), IIDSampler()])
def test_an_empty_batch_of_problems_is_named(sampler):
    with pytest.raises(ValueError, match=r"^problems: is empty.*Fix: pass at least one problem"):
        sampler.sample(tiny_gpt(torch.float32), TASK, [], 8, torch.Generator())


@pytest.mark.parametrize("branching, options, named", [
    ("fixed", {"depth": 0}, "--branching-option depth=0"),
    ("adaptive", {"token_budget": 5}, "--branching-option token_budget=5"),
])
def test_an_option_that_keeps_the_trees_from_branching_is_named_as_the_cause(branching, options, named):
    sampler = TreeSampler(max_new_tokens=10, branching=branching, branching_options=options)
    rollout = sampler.sample(tiny_gpt(torch.float32), TASK, PROBLEMS, 4, torch.Generator().manual_seed(0))
    with pytest.warns(UserWarning) as caught:
        assert warn_if_tree_did_not_branch(rollout, TASK, branching)
    text = str(caught[0].message)
    assert f"your {named} " in text and "keeps them from forking" in text and "warm start" not in text, text


def test_without_a_limiting_option_the_warning_gives_the_usual_fixes():
    rollout = TreeSampler(max_new_tokens=10).sample(tiny_gpt(torch.float32), TASK, PROBLEMS, 4,
                                                    torch.Generator().manual_seed(0))
    rollout.tree_nodes = torch.arange(rollout.response_ids.numel()).reshape(rollout.shape)  # no shared node
    with pytest.warns(UserWarning, match="warm start"):
        warn_if_tree_did_not_branch(rollout, TASK, "fixed")


@pytest.mark.parametrize("branching", ["entropy", "adaptive"])
def test_a_greedy_entropy_or_adaptive_tree_is_refused_naming_temperature(branching):
    with pytest.raises(ValueError, match=rf"^temperature: is 0 \(greedy\) with '{branching}' branching: .*all the "
                                         r"leaves of a tree are the same response\. Fix: pass temperature > 0"):
        TreeSampler(temperature=0.0, branching=branching)
    TreeSampler(temperature=0.5, branching=branching)  # any τ > 0 samples its branches


@pytest.mark.parametrize("branching", ["fixed", FixedBranching(every=2)])
def test_a_greedy_fixed_tree_or_strategy_object_is_warned_about_naming_temperature(branching):
    with pytest.warns(UserWarning, match=r"^temperature: is 0 \(greedy\) with '(fixed|FixedBranching)' branching: "
                                         r".*same response\. Fix: pass temperature > 0"):
        TreeSampler(temperature=0.0, branching=branching)


def test_the_speculative_schedule_refusal_gives_each_fix_in_its_callers_form():
    """In Python the fix names the keywords; ``treecredit train`` (``build_sampler``) gives the flags only."""
    from treecredit.training.config import TrainConfig
    from treecredit.training.preflight import build_sampler

    with pytest.raises(ValueError, match=r"^schedule: .*Fix: pass schedule='auto' \(treecredit train: "
                                         r"--sampler-option schedule=auto\) or branching='entropy'"):
        TreeSampler(schedule="speculative", branching="fixed")
    config = TrainConfig(sampler="tree", branching="fixed", sampler_options={"schedule": "speculative"})
    with pytest.raises(ValueError) as error:
        build_sampler(config)
    assert str(error.value).startswith("sampler_options: --sampler-option schedule='speculative' (sampler 'tree'): "
                                       "schedule: is 'speculative'")
    assert str(error.value).endswith("Fix: pass --sampler-option schedule=auto or --branching entropy.")
    config = TrainConfig(sampler="tree", branching="entropy", sampler_options={"schedule": "speculative"})
    assert build_sampler(config).schedule == "speculative"
