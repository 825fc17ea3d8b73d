"""A FixError is said in each host's terms from its parts (FixError.said), and a host that re-raises it in its own
terms keeps its type and values (FixError.reworded): sampling.registry.command_line_errors and
training.config.option_flag_named re-raised a TreeRPO-style OutOfRange as a plain FixError / ValueError."""

import pickle

import pytest

from treecredit._validation import FixError, OutOfRange, Remedy

SCALE = (Remedy("scale='std'", "--estimator-option scale=std", (("scale", "std"),)), Remedy("rewards in [0, 1]"))


def _out_of_range() -> OutOfRange:
    return OutOfRange("rewards", "are outside [0, 1] (from -1 to 2)", SCALE, seen=(-1.0, 2.0))


def test_said_in_each_hosts_terms():
    error = _out_of_range()
    assert error.said() == str(error) == ("rewards: are outside [0, 1] (from -1 to 2). Fix: pass scale='std' "
                                          "(treecredit train: --estimator-option scale=std), or rewards in [0, 1].")
    assert error.said("lower the weights", where="at step 3") == ("rewards: are outside [0, 1] (from -1 to 2) (at "
                                                                  "step 3). Fix: lower the weights.")
    assert error.said("") == "rewards: are outside [0, 1] (from -1 to 2)."
    assert error.said(error.fix("cli"), argument="rewards (arm 'a')") == (
        "rewards (arm 'a'): are outside [0, 1] (from -1 to 2). Fix: pass --estimator-option scale=std, or rewards in "
        "[0, 1].")
    assert FixError("", "no argument", (Remedy("do this"),), verb="").said() == "no argument. Fix: do this."


def test_reworded_keeps_the_type_and_values():
    error = _out_of_range()
    again = error.reworded(remedies=(Remedy("--estimator-option scale=std", settings=(("scale", "std"),)),))
    assert type(again) is OutOfRange and again.seen == (-1.0, 2.0) and again.allowed == (0.0, 1.0)
    assert str(again) == "rewards: are outside [0, 1] (from -1 to 2). Fix: pass --estimator-option scale=std."
    assert str(error).endswith("or rewards in [0, 1].")  # the original is unchanged
    back = pickle.loads(pickle.dumps(again))
    assert type(back) is OutOfRange and str(back) == str(again) and back.seen == again.seen
    with pytest.raises(TypeError, match="'seen' is not a part"):
        error.reworded(seen=(0.0, 1.0))


def test_the_sampler_registry_rewords_a_refusal_for_the_command_line_keeping_its_type():
    from treecredit.sampling.registry import command_line_errors

    with pytest.raises(OutOfRange) as raised:
        with command_line_errors("tree", {}):
            raise _out_of_range()
    assert raised.value.seen == (-1.0, 2.0) and type(raised.value.__cause__) is OutOfRange
    assert str(raised.value) == ("rewards: are outside [0, 1] (from -1 to 2). Fix: pass --estimator-option scale=std, "
                                 "or rewards in [0, 1].")


def test_an_option_refusal_named_by_its_flag_keeps_its_type():
    from treecredit.training.config import option_flag_named

    with pytest.raises(OutOfRange) as raised:
        with option_flag_named({"rewards": 3}, "sampler_options", "--sampler-option", "sampler 'tree'"):
            raise _out_of_range()
    assert raised.value.seen == (-1.0, 2.0) and raised.value.argument == "sampler_options"
    assert str(raised.value) == ("sampler_options: --sampler-option rewards=3 (sampler 'tree'): rewards: are outside "
                                 "[0, 1] (from -1 to 2). Fix: pass scale='std' (treecredit train: --estimator-option "
                                 "scale=std), or rewards in [0, 1].")
    with pytest.raises(ValueError) as plain:  # a plain ValueError stays one, named the same way
        with option_flag_named({"children": -2}, "branching_options", "--branching-option", ""):
            raise ValueError("children: is -2. Fix: pass 2 or more.")
    assert type(plain.value) is ValueError
    assert str(plain.value) == ("branching_options: --branching-option children=-2: children: is -2. Fix: pass 2 or "
                                "more.")


def test_verl_words_a_range_refusal_from_its_parts_as_before():
    from treecredit.integrations.verl import _config_error

    said = [str(_config_error(_out_of_range(), {}, accepted, given=given))
            for accepted, given in ((("scale",), "config"), (("scale",), "python"), (("scale",), ""), ((), "config"))]
    start = ("rewards: are outside [0, 1] (from -1 to 2) (each response's reward: the sum of its "
             "token_level_rewards). Fix: ")
    end = ", or give rewards in [0, 1] (the reward function's score plus any in-reward KL terms)."
    assert said == [start + fix + end for fix in (
        "set +algorithm.treecredit_options.scale=std", "pass scale='std' to make_adv_estimator",
        "set +algorithm.treecredit_options.scale=std (in Python: make_adv_estimator(..., scale='std'))",
        "pass scale='std', or rewards in [0, 1]")]


def test_a_host_rewrites_an_unknown_estimators_list_from_its_parts():
    from treecredit.integrations._fixes import host_estimator
    from treecredit.registry import UnknownEstimator, get_estimator

    with pytest.raises(UnknownEstimator) as plain:
        get_estimator("grpoo")
    assert "vine" in plain.value.known and str(plain.value).startswith(
        "estimator: unknown token-level estimator 'grpoo' (did you mean 'grpo'?). Fix: use one of: dr_grpo, grpo")
    with pytest.raises(UnknownEstimator) as hosted:  # a refusal of its own type, with its parts
        host_estimator("grpoo")
    assert hosted.value.argument == "estimator" and str(hosted.value) == str(plain.value).replace(", vine", "")
    assert "vine" not in hosted.value.fix() and "vine" in hosted.value.known


def test_a_failed_runs_cause_comes_from_its_refusals_parts():
    from treecredit.rewards.failed import AllFailedWatch
    from treecredit.training.compare import failed_runs, run_failure
    from treecredit.training.estimator_inputs import StoppedMidRun

    watch = AllFailedWatch(task=None, log=lambda *a: None)
    watch.brief = "every reward of 5 steps in a row failed"
    watch.last = f"{watch.brief} (4 of 4; x)"
    stopped = StoppedMidRun("rewards", "at step 4", "are outside [0, 1] (from -1 to 2). Fix: pass scale='std'.", 2)
    failures = {"grpo": {0: run_failure(watch.stop_error("run/config.json")), 1: run_failure(stopped)},
                "rloo": {2: run_failure(RuntimeError("CUDA out of memory. Tried 2 GiB (GPU 0; 80 GiB)"))}}
    assert str(failures["grpo"][0]).startswith("ValueError: reward: every reward of 5 steps in a row failed (4 of 4; x)"
                                               "; the run stopped, its checkpoint is saved. Fix: fix the reward")
    assert failed_runs(failures) == ["grpo, seed 0: ValueError: reward: every reward of 5 steps in a row failed",
                                     "grpo, seed 1: ValueError: rewards: at step 4",
                                     "rloo, seed 2: RuntimeError: CUDA out of memory. Tried 2 GiB"]
    held_out = StoppedMidRun("rewards", "at the held-out evaluation (before step 1; sampled)", "are outside", 0)
    assert failed_runs({"a": {0: run_failure(held_out)}}) == [  # its parts decide, not a cut of its text
        "a, seed 0: ValueError: rewards: at the held-out evaluation (before step 1; sampled)"]


def test_a_new_problem_drops_the_old_brief():
    error = OutOfRange("rewards", "are outside [0, 1] (from -1 to 2)", SCALE, seen=(-1.0, 2.0),
                       brief="are outside [0, 1]")
    assert error.headline() == "rewards: are outside [0, 1]"
    again = error.reworded(problem="sum to 3 at step 7")
    assert again.headline() == "rewards: sum to 3 at step 7" and again.seen == (-1.0, 2.0)  # kept the old brief
    assert error.reworded(problem="sum to 3 at step 7", brief="sum to 3").headline() == "rewards: sum to 3"
    assert error.reworded(argument="reward").headline() == "reward: are outside [0, 1]"


def test_a_refusal_without_a_brief_heads_by_its_first_clause_so_other_figures_read_the_same():
    from treecredit._validation import OutOfRange, Remedy
    from treecredit.training.compare import failed_runs, run_failure

    def out_of_range(low, high):
        problem = f"are outside [0, 1] (from {low:.8g} to {high:.8g}), which scale='bernoulli' needs"
        return OutOfRange("rewards", problem, (Remedy("scale='std'"),), seen=(low, high))

    lines = failed_runs({"grpo": {0: run_failure(out_of_range(-1, 2)), 1: run_failure(out_of_range(-0.5, 1.5)),
                                  2: "ValueError: boom (at row 3); more. Fix: this."}})
    assert lines == ["grpo, seeds 0, 1: ValueError: rewards: are outside [0, 1]", "grpo, seed 2: ValueError: boom"]
