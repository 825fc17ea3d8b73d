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
    ("Grpo@IID", "write grpo@iid."),  # was "write grpo@IID": the estimator fixed, the sampler's case left in
    ("GRPO@Tree:FIXD", "write grpo@tree:fixed."),
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


def test_a_turn_level_arm_without_env_says_it_needs_env():
    # was: "'rtmc' is no registered token-level estimator ... Fix: start the arm with one of dr_grpo, ..." (train
    # says that rtmc exists at the turn level)
    with pytest.raises(ValueError, match=r"^estimators: arm 'rtmc': 'rtmc' is a turn-level estimator: .* Fix: "
                                         r"compare agents on an environment with --env NAME .* or use a token-level"):
        check_arm_names(["grpo", "rtmc"])
    check_arm_names(["grpo", "rtmc"], env=True)


@pytest.mark.parametrize("given,arms,fix", [
    ("grop", ["grpo", "rloo"], "--reference grpo."),  # was: "..., or add 'grop' to --estimators"
    ("tmpo", ["grpo", "rloo"], "--reference grpo, or add 'tempo' to --estimators."),
    ("tempo", ["grpo", "rloo"], "--estimators grpo,rloo,tempo), or pass --reference with an arm as written in "
     "--estimators, e.g. --reference grpo."),  # a registered estimator: added first
    ("xyzzy", ["grpo", "rloo"], "--reference grpo."),
])
def test_a_misspelt_reference_is_answered_with_the_close_name(given, arms, fix):
    from treecredit.training.compare_cli import _reference

    with pytest.raises(ValueError) as error:
        _reference(given, arms)
    assert str(error.value).endswith(fix), str(error.value)
