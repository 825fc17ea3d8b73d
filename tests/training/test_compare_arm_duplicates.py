"""Trial 35 (F14): one arm written twice in different words is refused before any run, an ``@`` or ``:`` with no
name after it is refused, a fix names every part of the arm in its registered spelling, and a ``--reference``
that is a registered estimator but no arm is to be added to ``--estimators``."""

from __future__ import annotations

import pytest

from treecredit.cli import main
from treecredit.training.arms import arm_config, arm_configs, parse_arm
from treecredit.training.config import TrainConfig


def _base(tmp_path, **changes):
    return TrainConfig(warm_start_steps=0, out=str(tmp_path), **changes)


@pytest.mark.parametrize("arms,dropped", [
    (["tempo", "tempo@iid"], "tempo@iid"),  # an arm without @SAMPLER takes --sampler's (iid)
    (["tempo@tree", "tempo@tree:fixed"], "tempo@tree:fixed"),  # ... and without :BRANCHING --branching's (fixed)
    (["grpo", "tempo@tree[lr=0.001]", "tempo[lr=0.001]@tree"], "tempo[lr=0.001]@tree"),  # options before @
])
def test_one_arm_written_twice_is_refused(tmp_path, arms, dropped):
    with pytest.raises(ValueError) as error:
        arm_configs(_base(tmp_path), arms)  # was: accepted, and compare trained the same runs twice
    message = str(error.value)
    assert message.startswith("estimators: arms ") and "are the same arm" in message, message
    assert message.endswith(f"Fix: list that arm once: drop {dropped!r}."), message


def test_arms_that_differ_only_against_the_base_are_kept(tmp_path):
    """With --sampler tree, `tempo` is a tree arm: `tempo` and `tempo@iid` differ; and different options differ."""
    assert len(arm_configs(_base(tmp_path, sampler="tree"), ["tempo", "tempo@iid"])) == 2
    assert len(arm_configs(_base(tmp_path), ["tempo@tree", "tempo@tree:adaptive", "tempo@tree[lr=0.001]"])) == 3


@pytest.mark.parametrize("label,fix", [
    ("tempo@", "write tempo@tree for trees, or tempo for the sampler of --sampler (iid unless set)."),
    ("tempo@[lr=0.001]", "write tempo@tree[lr=0.001] for trees, or tempo[lr=0.001] for the sampler"),
    ("tempo@:adaptive", "write tempo@tree:adaptive for trees"),
    ("tempo@tree:", "write tempo@tree for the branching of --branching (fixed unless set), or "
     "tempo@tree:BRANCHING with BRANCHING one of adaptive, entropy, fixed."),
])
def test_a_mark_with_no_name_after_it_is_refused(label, fix):
    with pytest.raises(ValueError) as error:
        parse_arm(label)  # was: `tempo@` read as `tempo`
    assert fix in str(error.value), str(error.value)


def test_compare_refuses_a_doubled_arm_before_any_run(tmp_path, capsys):
    out = tmp_path / "c"
    assert main(["compare", "--estimators", "tempo,tempo@", "--budget", "100", "--out", str(out)]) == 2
    assert main(["compare", "--estimators", "tempo,tempo@iid", "--budget", "100", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "has '@' but no sampler" in err and "'tempo' and 'tempo@iid' are the same arm" in err, err
    assert not out.exists()


@pytest.mark.parametrize("label,fix", [
    ("tempo@Tree:Entropy", "write tempo@tree:entropy."),  # was: "write tempo@tree:Entropy" (half fixed)
    ("tempo@tre:ENTROPY", "write tempo@tree:entropy."),
    ("tempo@Tree:fixed", "write tempo@tree:fixed."),
])
def test_the_fix_for_a_sampler_names_the_branching_right_too(tmp_path, label, fix):
    with pytest.raises(ValueError) as error:
        arm_config(_base(tmp_path), label)
    assert str(error.value).endswith(f"Fix: {fix}"), str(error.value)


@pytest.mark.parametrize("given,arms", [("treerpo", ["grpo", "tempo"]), ("dr_grpo", ["grpo", "tempo"]),
                                        ("rloo", ["grpo", "tempo"])])
def test_a_reference_that_is_an_estimator_but_no_arm_is_to_be_added(given, arms):
    from treecredit.training.compare_cli import _reference

    with pytest.raises(ValueError) as error:
        _reference(given, arms)
    message = str(error.value)
    assert "did you mean" not in message, message  # was: "did you mean 'tempo'?" for treerpo, 'grpo' for dr_grpo
    assert f"a registered estimator but not one of the arms {arms}" in message, message
    assert f"Fix: add it to --estimators to compare the arms with it (--estimators {','.join([*arms, given])})" \
        in message, message


def test_a_reference_whose_estimator_is_an_arm_is_answered_with_that_arm():
    from treecredit.training.compare_cli import _reference

    with pytest.raises(ValueError, match=r"did you mean 'tempo@tree'\?"):
        _reference("tempo", ["grpo", "tempo@tree"])
