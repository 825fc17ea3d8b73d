"""An arm whose estimator needs what only trees give (``vine``: Monte Carlo values) is refused with the fix in the
arm's own form (``vine@tree[mc_rollouts=K]``), keeping its options and branching: train's fix, ``--sampler tree
--mc-rollouts K``, is global in compare and would turn the other arms to trees too (trial42 3: compare said it)."""

import pytest

from treecredit.cli import main

TINY = ["--seeds", "1", "--budget", "100", "--prompts-per-step", "2", "--group-size", "2", "--max-new-tokens", "8",
        "--n-layer", "1", "--n-head", "2", "--n-embd", "16", "--warm-start-steps", "0"]


@pytest.mark.parametrize("arm, fixed", [
    ("vine", "vine@tree[mc_rollouts=K]"),
    ("vine@iid[lr=1e-3]", "vine@tree[lr=1e-3,mc_rollouts=K]"),
    ("vine@tree:fixed[mc_rollouts=0,group_size=4]", "vine@tree:fixed[group_size=4,mc_rollouts=K]"),
])
def test_a_vine_arm_without_trees_gets_the_arms_own_fix(tmp_path, capsys, arm, fixed):
    assert main(["compare", "--estimators", f"grpo,{arm}", "--out", str(tmp_path / "c"), *TINY]) == 2
    err = capsys.readouterr().err
    assert (f"'vine' needs mc_values, which this configuration does not provide. Fix: write the arm as {fixed} in "
            "--estimators (K ≥ 1 Monte Carlo rollouts per step end; --sampler tree and --mc-rollouts would change "
            "every arm).") in err, err
    assert "pass --sampler tree" not in err
    assert not (tmp_path / "c").exists()


def test_train_keeps_its_flags(tmp_path, capsys):
    assert main(["train", "--estimator", "vine", "--out", str(tmp_path / "r"), "--steps", "1", "--n-layer", "1",
                 "--n-head", "2", "--n-embd", "16", "--warm-start-steps", "0"]) == 2
    assert "Fix: pass --sampler tree --mc-rollouts K" in capsys.readouterr().err
