"""Misspelt names get a suggestion wherever a list of known names is given (a new-user trial's list)."""

import pytest
import torch

import treecredit


def _call(name, **options):
    rewards, mask = torch.tensor([1.0, 0.0]), torch.ones(2, 3, dtype=torch.bool)
    return treecredit.compute_advantages(name, rewards=rewards, response_mask=mask, group_ids=torch.tensor([0, 0]),
                                         response_ids=torch.ones(2, 3, dtype=torch.long), **options)


def test_the_api_suggests_the_estimator_and_option_meant():
    with pytest.raises(ValueError, match=r"unknown token-level estimator 'tmepo' \(did you mean 'tempo'\?\)"):
        _call("tmepo")
    with pytest.raises(ValueError, match=r"\['norm_by_sdt'\] \(did you mean 'norm_by_std'\?\)\. Fix"):
        _call("grpo", norm_by_sdt=True)
    with pytest.raises(ValueError, match=r"unknown token-level estimator 'qwerty'\. Fix"):  # nothing close
        _call("qwerty")


def test_compare_arms_and_task_options_suggest_the_name_meant(tmp_path):
    from treecredit.training.arms import arm_configs
    from treecredit.training.config import TrainConfig

    with pytest.raises(ValueError, match=r"'scal' is neither .* nor a TrainConfig field \(did you mean 'scale'\?\)"):
        arm_configs(TrainConfig(), ["treerpo@tree[scal=none]"])
    data = tmp_path / "d.jsonl"
    data.write_text('{"prompt": "1+1=", "answer": "2"}\n' * 4)
    with pytest.raises(ValueError, match=r"\['promt_column'\] are not options of DatasetTask \(did you mean "
                                         r"'prompt_column'\?\)\. Fix: use some of \['answer_column'") as error:
        TrainConfig(task_options={"promt_column": "q"}, dataset=str(data))
    assert "'path'" not in str(error.value) and "'rewards'" not in str(error.value)  # set by --dataset/--reward


def test_a_tree_arm_whose_size_does_not_divide_the_group_is_shown_its_own_group_size():
    from treecredit.training.arms import arm_configs
    from treecredit.training.config import TrainConfig

    with pytest.raises(ValueError, match=r"multiple of children\*\*depth = 9\. Fix: give the arm its own group size, "
                                         r"treerl@tree:fixed\[branching\.children=3,branching\.depth=2,group_size=9\]"):
        arm_configs(TrainConfig(), ["treerl@tree:fixed[branching.children=3,branching.depth=2]"])
    arm_configs(TrainConfig(), ["treerl@tree:fixed[branching.children=3,branching.depth=2,group_size=9]"])
