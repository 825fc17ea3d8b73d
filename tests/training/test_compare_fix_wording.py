"""A compare error's fix in compare's own form: a branching is an arm's (``@tree:entropy``), not ``--branching``."""

from treecredit.cli import main


def test_speculative_schedule_with_adaptive_arms_suggests_the_arm_form(tmp_path, capsys):
    # was: "Fix: pass --sampler-option schedule=auto or --branching entropy", a flag the arms' @tree:adaptive overrides
    out = tmp_path / "cmp"
    assert main(["compare", "--estimators", "treerpo@tree:adaptive,tempo@tree:adaptive", "--sampler-option",
                 "schedule=speculative", "--seeds", "1", "--budget", "5000", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "the 'adaptive' branching cannot forecast" in err, err
    assert ("Fix: pass --sampler-option schedule=auto or the arms' branching entropy (e.g. --estimators "
            "treerpo@tree:entropy).") in err and "--branching entropy" not in err
    assert not out.exists()
