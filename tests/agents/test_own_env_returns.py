"""An own env whose returns leave [0, 1] without saying so (no ``negative_rewards`` class attribute) still stops
``treerpo`` (``scale=bernoulli``) at its first such step, but the error gives an env run's fix: the estimator
option, env settings, a turn-level estimator and the class attribute that has such a run refused before any work
(was: the estimator's fix about ``--reward`` weights, which an env run has none of)."""

import pytest

from treecredit.cli import main

TINY = ["--estimator", "treerpo", "--steps", "2", "--warm-start-steps", "0", "--n-layer", "1", "--n-head", "2",
        "--n-embd", "16", "--prompts-per-step", "2", "--group-size", "2", "--eval-problems", "2", "--max-new-tokens",
        "4", "--no-progress", "--no-tensorboard", "--threads", "1", "--sampler-option", "max_len=320",
        "--sampler-option", "max_episode_tokens=200"]


def test_returns_outside_the_unit_range_stop_the_run_with_the_env_runs_fix(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", "--env", "own_env_helpers:BigReward", *TINY, "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert ("error: rewards: at the held-out evaluation before step 1 (no checkpoint was saved yet: start the run "
            "again with the fix (--overwrite "
            "or another --out)): are outside [0, 1] (from 2 to 2), which scale='bernoulli' needs") in err, err
    assert ("(the episode returns of env 'own_env_helpers:BigReward'). Fix: pass --estimator-option scale=std (or "
            "scale=none; in treecredit compare, the arm treerpo[scale=std]), or env settings whose rewards stay in "
            "[0, 1], or a turn-level estimator (e.g. --estimator rtmc); and give BigReward a class attribute "
            "negative_rewards = \"returns up to 2\" (despite its name it declares any return outside [0, 1], above 1 "
            "too), so that such a run is refused before any work."
            ) in err, err
    assert "--reward" not in err and "scale='std'" not in err  # the task run's and the Python form's fixes
    # was: the fix for returns of 2 read as for negative ones ("<why its returns leave [0, 1]>" under that name)
    # the attribute the fix names has the run refused before any work, with the same estimator option
    assert main(["train", "--env", "own_env_helpers:BigRewardSaid", *TINY, "--out", str(tmp_path / "said")]) == 2
    err = capsys.readouterr().err
    assert "estimator: 'treerpo' needs episode returns in [0, 1], and env 'own_env_helpers:BigRewardSaid' can give " \
           "returns outside it: BigRewardSaid declares returns outside [0, 1] (negative_rewards = '2 for every " \
           "action')" in err, err
    assert not (tmp_path / "said").exists()


@pytest.mark.parametrize("option", ["scale=std", "scale=none"])
def test_the_option_the_fix_names_trains_on_those_returns(tmp_path, option):
    out = tmp_path / "run"
    assert main(["train", "--env", "own_env_helpers:BigReward", *TINY, "--estimator-option", option,
                 "--out", str(out)]) == 0
    assert (out / "checkpoint.pt").is_file()


def test_the_class_attribute_fix_is_worded_for_the_returns_seen():
    from treecredit.agents.credit import _declare_fix

    assert "below 0>" in _declare_fix("E", (-1.0, 1.0))  # the refused returns' (min, max), as the estimator saw them
    assert "below 0 and above 1>" in _declare_fix("E", (-1.0, 5.0))
    above = _declare_fix("E", (0.0, 5.0))
    assert 'negative_rewards = "returns up to 5" (despite its name' in above
