"""An arm's estimator, sampler or branching written in the wrong case is answered with the name it matches
(``treecredit compare --estimators GRPO``: "write grpo"), as ``train --estimator GRPO`` is."""

from __future__ import annotations

import pytest

from treecredit.cli import main
from treecredit.training.arms import arm_config, check_arm_names
from treecredit.training.config import TrainConfig


@pytest.mark.parametrize("label,fix", [
    ("GRPO", "write grpo."),  # was: "start the arm with one of dr_grpo, grpo, ..." (difflib is case-sensitive)
    ("Dr_GRPO", "write dr_grpo."),
    ("TreeRL@tree[group_size=4]", "write treerl@tree[group_size=4]."),
    ("treerl@IID", "write treerl@iid."),
    ("treerl@tree:FIXED", "write treerl@tree:fixed."),
])
def test_a_name_in_the_wrong_case_is_answered_with_the_name(tmp_path, label, fix):
    with pytest.raises(ValueError) as error:  # estimators first (cheap), then each arm's sampler and branching
        check_arm_names([label])
        arm_config(TrainConfig(warm_start_steps=0, out=str(tmp_path)), label)
    assert str(error.value).endswith(f"Fix: {fix}"), str(error.value)


def test_compare_and_train_both_suggest_the_estimator_for_its_upper_case(tmp_path, capsys):
    assert main(["compare", "--estimators", "GRPO", "--budget", "100", "--out", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err
    assert "Fix: write grpo." in err and "start the arm with one of" not in err, err
    assert main(["train", "--estimator", "GRPO", "--out", str(tmp_path / "r")]) == 2
    assert "(did you mean 'grpo'?)" in capsys.readouterr().err
    assert not (tmp_path / "c").exists() and not (tmp_path / "r").exists()
