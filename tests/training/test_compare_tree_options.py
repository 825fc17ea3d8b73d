"""``compare`` refuses a tree sampler's option on an i.i.d. arm, as ``train`` refuses it without ``--sampler tree``,
and keeps a global one (``--branching-option``, ``--mc-rollouts``) out of its i.i.d. arms (trial40 3: until
2026-12-03 ``tempo[branching.children=3]`` and ``tempo[mc_rollouts=2]`` ran as plain i.i.d. tempo without a word, and
the i.i.d. runs' config.json kept the options, so ``train --config RUN/config.json --resume`` refused them)."""

import pytest

from treecredit.training.arms import arm_configs
from treecredit.training.config import TrainConfig
from treecredit.training.train_cli import check_tree_fields_unused

SMALL = dict(n_layer=1, n_head=2, n_embd=16, warm_start_steps=0, eval_problems=4, tensorboard=False, progress=False,
             steps=0, token_budget=300)


@pytest.mark.parametrize("arm, key, tree", [
    ("tempo[branching.children=3]", "branching.children", "tempo@tree[branching.children=3]"),
    ("tempo@iid[mc_rollouts=2]", "mc_rollouts", "tempo@tree[mc_rollouts=2]"),
    ("treerl[replay_leaves=4,leave_one_out=false]", "replay_leaves",
     "treerl@tree[replay_leaves=4,leave_one_out=false]"),
])
def test_a_tree_option_on_an_iid_arm_is_refused_naming_the_tree_arm(arm, key, tree):
    with pytest.raises(ValueError) as caught:
        arm_configs(TrainConfig(**SMALL), ["grpo", arm])
    assert str(caught.value) == (f"arm {arm!r}: option {key!r} shapes the tree sampler's trees; the 'iid' sampler of "
                                 f"this arm would ignore it. Fix: write {tree} for a tree arm, or drop {key}.")
    arm_configs(TrainConfig(**SMALL), ["grpo", tree.replace("children=3", "children=2")])  # the tree arm runs


def test_a_global_tree_option_stays_out_of_the_iid_arms_and_needs_a_tree_arm():
    base = TrainConfig(**SMALL, branching_options={"children": 2}, mc_rollouts=2,
                       given=frozenset({"branching_options", "mc_rollouts"}))
    configs = arm_configs(base, ["grpo", "tempo@tree"])
    assert (configs["grpo"].branching_options, configs["grpo"].mc_rollouts) == ({}, 0)
    assert (configs["tempo@tree"].branching_options, configs["tempo@tree"].mc_rollouts) == ({"children": 2}, 2)
    check_tree_fields_unused(TrainConfig(**configs["grpo"].saved_dict()))  # its config.json: train accepts it
    with pytest.raises(ValueError, match=r"^branching_options: --branching-option shapes the tree sampler's trees, "
                                         r"and no arm of --estimators grows trees, so every run would ignore it\. "
                                         r"Fix: add a tree arm \(e\.g\. tempo@tree\), or drop --branching-option\."):
        arm_configs(base, ["grpo", "tempo"])
