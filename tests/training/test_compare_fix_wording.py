"""A compare error's fix in compare's own form: a branching is an arm's (``@tree:entropy``), not ``--branching``."""

from treecredit.cli import main


def test_speculative_schedule_with_fixed_arms_suggests_the_arm_form(tmp_path, capsys):
    out = tmp_path / "cmp"
    assert main(["compare", "--estimators", "treerpo@tree:fixed,tempo@tree:fixed", "--sampler-option",
                 "schedule=speculative", "--seeds", "1", "--budget", "5000", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "the 'fixed' branching cannot forecast" in err, err
    assert ("Fix: pass --sampler-option schedule=auto or the arms' branching entropy (e.g. --estimators "
            "treerpo@tree:entropy).") in err and "--branching entropy" not in err
    assert not out.exists()


def test_in_arm_words_a_branching_remedy_from_the_errors_parts():
    # was: compare read the arm back out of its own "arm '...'" text and rewrote "--branching X" in the fix by regex
    import pytest

    from treecredit._validation import FixError, Remedy
    from treecredit.training.compare_checks import ArmCheck, in_arm

    remedies = (Remedy("schedule='auto'", "--sampler-option schedule=auto"),
                Remedy("branching='fixed'", "--branching fixed", (("branching", "fixed"),)))

    def check():
        try:
            raise FixError("schedule", "cannot", remedies, joiner=" or ")
        except FixError as error:  # a caller that names the flag keeps the parts as its cause
            raise ValueError(f"sampler_options: --sampler-option schedule='x': {error}") from error

    with pytest.raises(ValueError) as caught:
        in_arm(ArmCheck("tempo@tree:entropy[tau=0.1]", "tempo", 3), check)
    assert str(caught.value) == ("sampler_options (arm 'tempo@tree:entropy[tau=0.1]', seed 3): --sampler-option "
                                 "schedule='x': schedule: cannot. Fix: pass --sampler-option schedule=auto or the "
                                 "arms' branching fixed (e.g. --estimators tempo@tree:fixed).")
