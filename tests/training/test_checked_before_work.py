"""What ``treecredit train`` checks before the warm start: the token budget against one step's most, and the
reward functions on a probe batch (their count of values, whether they raise on every worked solution)."""

import pytest

from treecredit.cli import main

TINY = ["--n-layer", "1", "--n-head", "2", "--n-embd", "16", "--warm-start-steps", "5", "--prompts-per-step", "2",
        "--group-size", "2", "--max-new-tokens", "8", "--eval-problems", "4", "--no-tensorboard", "--no-progress"]


def _no_warm_start(monkeypatch):
    built = []
    monkeypatch.setattr("treecredit.training.loop.build_policy", lambda *a, **k: built.append(a) or 1 / 0)
    monkeypatch.setattr("treecredit.training.agent_loop.build_agent_policy", lambda *a, **k: built.append(a) or 1 / 0)
    return built


@pytest.mark.parametrize("env", [[], ["--env", "gridworld"]])
def test_a_token_budget_one_step_could_pass_is_refused_before_the_warm_start(tmp_path, capsys, monkeypatch, env):
    built = _no_warm_start(monkeypatch)
    # a step generates up to 2 prompts × 2 responses × 8 tokens = 32 tokens
    assert main(["train", *TINY, *env, "--token-budget", "20", "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert "token_budget: is 20, below what one step can generate: 2 prompts × 2 responses × 8 tokens = 32" in err
    assert "Fix: pass --token-budget 32 or more" in err
    assert built == [] and not (tmp_path / "run").exists()
