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


def _one_value(prompts, completions, **_):
    return [1.0]


def _raises(prompts, completions, **_):
    raise RuntimeError("cannot parse")


def _a_float(prompts, completions, **_):
    return 1.0


def _no_return(prompts, completions, **_):
    [1.0 for _ in completions]  # the list is built, but the return was forgotten


@pytest.mark.parametrize("fn,message", [
    (_one_value, "reward: probe_one returned 1 values for 2 completions (checked on the worked solutions of 2 "
                 "training problems before any work). Fix: return one float (or None) per completion"),
    (_raises, "reward: probe_raises raised RuntimeError: cannot parse, on every one of the 2 completions (checked "
              "on the worked solutions of 2 training problems before any work). Fix: fix probe_raises"),
    (_a_float, "reward: probe_float returned float 1.0, not a list of 2 values"),
    (_no_return, "reward: probe_no_return returned None, not a list of 2 values (missing return?) (checked on the "
                 "worked solutions of 2 training problems before any work). Fix: end the function with return"),
])
def test_a_broken_reward_function_is_refused_before_the_warm_start(tmp_path, capsys, monkeypatch, fn, message):
    from treecredit.rewards import register_reward

    name = {"_one_value": "probe_one", "_raises": "probe_raises", "_a_float": "probe_float",
            "_no_return": "probe_no_return"}[fn.__name__]
    register_reward(name, fn)
    built = _no_warm_start(monkeypatch)
    assert main(["train", *TINY, "--steps", "1", "--reward", name, "--out", str(tmp_path / "run")]) == 2
    err = capsys.readouterr().err
    assert message in err, err
    assert built == [] and not (tmp_path / "run").exists()


def test_the_probe_is_not_counted_and_a_reward_that_scores_the_solutions_passes(tmp_path):
    from treecredit.tasks import ArithmeticTask
    from treecredit.tasks.rewarded import RewardedTask
    from treecredit.training.preflight import check_rewards

    task = RewardedTask(ArithmeticTask(), ["task", "numeric"])
    check_rewards(task)
    assert task._reward_set.calls == 0 and task._reward_set.failed == 0
    check_rewards(ArithmeticTask())  # no reward functions: nothing to probe


def _never_applies(prompts, completions, **_):
    return [None] * len(completions)


def test_a_reward_that_applies_to_no_worked_solution_is_warned_before_any_work():
    from treecredit.tasks import ArithmeticTask
    from treecredit.tasks.rewarded import RewardedTask
    from treecredit.training.preflight import check_rewards

    task = RewardedTask(ArithmeticTask(), [_never_applies])
    with pytest.warns(UserWarning, match=r"every reward function \(.*_never_applies\) returned None \(does not "
                      r"apply\) for each of the 2 worked solutions probed before any work"):
        assert check_rewards(task) == [None, None]
    import warnings

    with warnings.catch_warnings():  # one that applies to some solution is not warned about
        warnings.simplefilter("error")
        check_rewards(RewardedTask(ArithmeticTask(), [_never_applies, "task"]))
