"""``treecredit train --resume`` of a finished run says so first, before it loads a warm start, a model or an env."""

import pytest
import torch

from treecredit.cli import main

torch.set_num_threads(1)

TASK = ["--n-layer", "1", "--n-head", "2", "--n-embd", "16", "--warm-start-steps", "2", "--warm-start-batch", "4",
        "--prompts-per-step", "2", "--group-size", "2", "--max-new-tokens", "6", "--eval-problems", "2",
        "--task-option", "min_operators=1", "--task-option", "max_operators=1", "--estimator", "rloo"]
AGENT = ["--env", "gridworld", "--env-option", "max_turns=2", "--estimator", "rtmc", "--n-layer", "1", "--n-head", "2",
         "--n-embd", "16", "--warm-start-steps", "1", "--warm-start-batch", "2", "--prompts-per-step", "2",
         "--group-size", "2", "--max-new-tokens", "6", "--eval-problems", "2", "--sampler-option", "max_len=320",
         "--sampler-option", "max_episode_tokens=200"]


def _refuse(*args, **kwargs):
    raise AssertionError("the run was loaded to say that it is finished")


@pytest.mark.parametrize("kind, flags, runner", [("task", TASK, "treecredit.training.loop.train"),
                                                 ("agent", AGENT, "treecredit.training.agent_loop.train_agent")])
def test_resuming_a_finished_run_says_so_before_loading_anything(tmp_path, capsys, monkeypatch, kind, flags, runner):
    out = tmp_path / "run"
    argv = ["train", "--steps", "1", "--out", str(out), "--cache-dir", str(tmp_path / "cache"), "--no-progress",
            "--no-tensorboard", *flags]
    assert main(argv) == 0
    capsys.readouterr()
    with monkeypatch.context() as patched:
        patched.setattr(runner, _refuse)  # was: the warm start loaded and the evaluation plan printed first
        assert main(argv + ["--resume"]) == 0
    printed = capsys.readouterr().out
    first = printed.splitlines()
    assert first[0] == f"resumed from {out} at step 1"
    assert first[1].startswith("the run is already finished (step 1, ") and "nothing to train" in first[1]
    assert "warm start" not in printed and "evaluation:" not in printed and f"run folder: {out}" in printed
    log = (out / "log.txt").read_text().splitlines()
    assert "run resumed (--resume)" in log[-4] and "already finished" in log[-2] and "run ended at step 1" in log[-1]
    assert main(argv + ["--resume", "--steps", "2"]) == 0  # something left to train: the run resumes it
    assert "resumed from" in capsys.readouterr().out
    # a changed setting is refused as before, not taken for a finished run
    assert main(argv + ["--resume", "--seed", "5"]) == 2
    assert "resume: the run in" in capsys.readouterr().err
