"""``treecredit train --resume`` of a finished run says so first, before it loads a warm start, a model or an env."""

import pytest
import torch

from treecredit.cli import main
from treecredit.training.metrics import read_metrics

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
    from treecredit.training.stopping import run_ended

    assert run_ended()  # was not marked: a SIGTERM after its 'run ended' line exited 143, not 0
    printed = capsys.readouterr().out
    first = printed.splitlines()
    assert first[0] == f"resumed from {out} at step 1"
    assert first[1].startswith("the run is already finished (step 1, ") and "nothing to train" in first[1]
    assert "; --steps 1 reached): " in first[1] and first[1].endswith("resume with a larger --steps")
    assert "budget" not in first[1]  # no --token-budget given: not named, nor suggested
    assert "warm start" not in printed and "evaluation:" not in printed and f"run folder: {out}" in printed
    log = (out / "log.txt").read_text().splitlines()
    assert "run resumed (--resume)" in log[-4] and "already finished" in log[-2] and "run ended at step 1" in log[-1]
    assert main(argv + ["--resume", "--steps", "2"]) == 0  # something left to train: the run resumes it
    assert "resumed from" in capsys.readouterr().out
    # a changed setting is refused as before, not taken for a finished run
    assert main(argv + ["--resume", "--seed", "5"]) == 2
    assert "resume: the run in" in capsys.readouterr().err


@pytest.mark.parametrize("kind, flags, runner", [("task", TASK, "treecredit.training.loop.train"),
                                                 ("agent", AGENT, "treecredit.training.agent_loop.train_agent")])
def test_resuming_a_run_ended_by_its_token_budget_says_so_before_loading_anything(tmp_path, capsys, monkeypatch,
                                                                                   kind, flags, runner):
    # the run ends below its budget (its next step would pass it): its last train record is short of the budget,
    # and only the set-aside step's size says it is finished
    out = tmp_path / "run"
    argv = ["train", "--token-budget", "60", "--out", str(out), "--cache-dir", str(tmp_path / "cache"),
            "--no-progress", "--no-tensorboard", *flags]
    assert main(argv) == 0
    assert "past --token-budget 60" in capsys.readouterr().out
    trained = [r for r in read_metrics(out / "metrics.jsonl") if r["kind"] == "train"]
    assert trained and trained[-1]["generated_tokens"] < 60
    with monkeypatch.context() as patched:
        patched.setattr(runner, _refuse)  # was: the warm start, the model and the env loaded first
        assert main(argv + ["--resume"]) == 0
    first = capsys.readouterr().out.splitlines()
    assert first[0] == f"resumed from {out} at step {trained[-1]['step']}"
    assert "already finished" in first[1] and "would pass the budget" in first[1]
    # trial 18: "--steps 0" (never given) was named, and a larger --steps suggested, which cannot help
    assert "--steps" not in first[1] and first[1].endswith("resume with a larger --token-budget")
    assert "; --token-budget 60: its next step, " in first[1]
    assert main(argv + ["--resume", "--token-budget", "100000", "--steps", str(trained[-1]["step"] + 1)]) == 0
    printed = capsys.readouterr().out  # a larger budget: the set-aside step fits, and the run trains it
    assert "resumed from" in printed and "already finished" not in printed
    last = [r for r in read_metrics(out / "metrics.jsonl") if r["kind"] == "train"][-1]
    assert last["step"] == trained[-1]["step"] + 1


@pytest.mark.parametrize("steps, budget, counters, pending, ends, fix", [
    (0, 150, (3, 150), 0, "--token-budget 150 spent", "a larger --token-budget"),
    (0, 150, (3, 120), 48, "--token-budget 150: its next step, 48 tokens, would pass the budget",
     "a larger --token-budget"),
    (3, 0, (3, 120), 0, "--steps 3 reached", "a larger --steps"),
    (3, 150, (3, 90), 0, "--steps 3 reached", "a larger --steps"),  # the budget has room: only --steps ended it
    (9, 150, (3, 150), 0, "--token-budget 150 spent", "a larger --token-budget"),
    (3, 150, (3, 150), 0, "--steps 3 reached, --token-budget 150 spent",
     "a larger --steps and a larger --token-budget"),
])
def test_the_finished_note_names_only_what_ended_the_run_and_its_fix(steps, budget, counters, pending, ends, fix):
    from types import SimpleNamespace

    from treecredit.training.budget import finished, finished_note

    config = SimpleNamespace(steps=steps, token_budget=budget)
    counters = {"step": counters[0], "generated_tokens": counters[1]}
    assert finished(config, counters, pending)
    assert finished_note(config, counters, pending) == (
        f"the run is already finished (step {counters['step']}, {counters['generated_tokens']} generated tokens; "
        f"{ends}): nothing to train. To train further, resume with {fix}")


def test_a_resume_with_steps_left_checks_its_folder_once_and_resume_with_overwrite_is_refused(tmp_path, capsys,
                                                                                              monkeypatch):
    import treecredit.training.preflight as preflight

    out = tmp_path / "run"
    argv = ["train", "--steps", "1", "--out", str(out), "--cache-dir", str(tmp_path / "cache"), "--no-progress",
            "--no-tensorboard", *TASK]
    assert main(argv) == 0
    calls, check_out = [], preflight.check_out
    monkeypatch.setattr(preflight, "check_out", lambda *a, **k: calls.append(k) or check_out(*a, **k))
    monkeypatch.setattr("treecredit.training.loop.build_policy", lambda *a, **k: 1 / 0)  # stop at the model
    with pytest.raises(ZeroDivisionError):
        main([*argv, "--resume", "--steps", "2"])
    assert len(calls) == 1  # was 2: finished_records checked the folder, then the run checked it again
    capsys.readouterr()
    assert main([*argv, "--resume", "--overwrite"]) == 2  # was: a finished run said "finished", --overwrite unheard
    assert "resume: --resume and --overwrite were both given" in capsys.readouterr().err
