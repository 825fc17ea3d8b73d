"""``treecredit compare``: an arm's bad sampler, branching, field or estimator option is refused naming the arm
as written, with the fix in the arm's own syntax."""

import pytest

from treecredit.cli import main
from treecredit.training.arms import arm_config, arm_with_option
from treecredit.training.config import TrainConfig


@pytest.mark.parametrize("label,message,fix", [
    ("treerl@tre", "sampler: 'tre' in arm 'treerl@tre' is not one of", "write treerl@tree."),
    ("treerl@tree:fixd", "branching: 'fixd' in arm 'treerl@tree:fixd' is not one of", "write treerl@tree:fixed."),
    ("treerl@tree:fixd[scale_values=false]", "in arm 'treerl@tree:fixd[scale_values=false]'",
     "write treerl@tree:fixed[scale_values=false]."),
    ("treerl@tree[lr=-1]", "lr (arm 'treerl@tree[lr=-1]'): is -1", "write treerl@tree[lr=VALUE]"),
    ("treerpo@tree[scale=bogus]", "arm 'treerpo@tree[scale=bogus]': option scale=bogus: estimator 'treerpo' "
     "refuses it", "(in the arm: treerpo@tree[scale=VALUE])"),
    ("treerpo@tree[estimator.scale=bogus,lr=0.1]", "option scale=bogus",
     "(in the arm: treerpo@tree[estimator.scale=VALUE,lr=0.1])"),
])
def test_an_arms_error_names_the_arm_and_the_fix_in_its_syntax(tmp_path, label, message, fix):
    with pytest.raises(ValueError) as error:
        arm_config(TrainConfig(warm_start_steps=0, out=str(tmp_path)), label)
    text = str(error.value)
    assert message in text and fix in text, text
    assert "--estimator-option" not in text, text  # the option is the arm's, not a flag's


def test_a_global_option_an_arm_refuses_names_both_fixes(tmp_path, capsys):
    assert main(["compare", "--estimators", "grpo,treerpo@tree", "--estimator-option", "scale=bogus",
                 "--out", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err
    assert "arm 'treerpo@tree': --estimator-option scale=bogus: estimator 'treerpo' refuses it" in err, err
    assert "(as --estimator-option scale=VALUE, or for this arm alone treerpo@tree[scale=VALUE])" in err, err
    assert not (tmp_path / "c").exists()


def test_arm_with_option():
    assert arm_with_option("grpo", "lr") == "grpo[lr=VALUE]"
    assert arm_with_option("treerpo[scale=none]@tree", "scale", "std") == "treerpo[scale=std]@tree"
    assert arm_with_option("treerpo@tree[lr=1]", "scale") == "treerpo@tree[lr=1,scale=VALUE]"
