"""The pre-flight runs the estimator on its tiny test batch with the batch's own rewards once: the option check
(with options given) and the reward-range probe (rewards that can leave [0, 1]) share that run."""

import pytest

import treecredit.training.dry_run as dry_run
from treecredit.cli import main


@pytest.mark.parametrize("options", [["--estimator-option", "scale=bernoulli"], []])
def test_the_batch_with_its_own_rewards_runs_once(tmp_path, capsys, monkeypatch, options):
    calls, run = [], dry_run.run_estimator

    def counted(config, rollout, task=None, rewards=None):
        calls.append([float(r) for r in rollout.rewards] if rewards is None else list(rewards))
        return run(config, rollout, task, rewards)

    monkeypatch.setattr(dry_run, "run_estimator", counted)
    out = tmp_path / "run"
    assert main(["train", "--estimator", "treerpo", *options, "--reward", "task", "--reward", "task@0.2",
                 "--out", str(out), "--no-progress"]) == 2
    assert "needs rewards in [0, 1], but --reward task --reward task@0.2 add up to" in capsys.readouterr().err
    assert calls.count([1.0, 0.0, 0.0, 1.0]) == 1  # was 2 with options: the option check, then the range probe
    assert [1.5, 0.0, 0.0, 1.0] in calls and not out.exists()
