"""Rewards that can leave [0, 1] are refused before any work when the estimator needs [0, 1] (TreeRPO's default
Bernoulli scale), by construction (built-in rewards' weights add up) or on the worked solutions (a user's
function); the estimator's own message, mid-run, names the command-line fix."""

import json
import pickle

import numpy as np
import pytest

import treecredit
from treecredit._validation import FixError, OutOfRange
from treecredit.cli import main
from treecredit.registry import _REGISTRY, register_estimator
from treecredit.rewards import RewardSet, register_reward
from treecredit.rewards.load import _REGISTERED
from treecredit.training.preflight import check_run
from treecredit.training.reward_range import combined_range, command_line_fix, needs_unit_rewards

TINY = ["--n-layer", "1", "--n-head", "2", "--n-embd", "16", "--warm-start-steps", "5", "--prompts-per-step", "2",
        "--group-size", "2", "--max-new-tokens", "8", "--eval-problems", "4", "--no-tensorboard", "--no-progress"]


@pytest.fixture
def user_rewards():
    """``rr_format`` gives every completion 1.0 (its range is unknown to treecredit); ``rr_half`` 0.5."""
    register_reward("rr_format", lambda prompts, completions, **_: [1.0] * len(completions))
    register_reward("rr_half", lambda prompts, completions, **_: [0.5] * len(completions))
    yield
    for name in ("rr_format", "rr_half"):
        _REGISTERED.pop(name, None)


def _config(tiny_config, data, rewards, estimator="treerpo", **options):
    return tiny_config(dataset=data, reward=rewards, task_options={"delimiter": "+"}, estimator=estimator,
                       estimator_options=options)


def test_weights_that_add_up_past_one_are_refused_before_the_warm_start(tmp_path, data, capsys, monkeypatch):
    built = []
    monkeypatch.setattr("treecredit.training.loop.build_policy", lambda *a, **k: built.append(a) or 1 / 0)
    argv = ["train", *TINY, "--dataset", data, "--task-option", "delimiter=+", "--estimator", "treerpo",
            "--reward", "math", "--reward", "exact@0.5", "--out", str(tmp_path / "run")]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert ("estimator: 'treerpo' with its default options needs rewards in [0, 1], but --reward math --reward "
            "exact@0.5 add up to a reward in [0, 1.5] (each function gives 0 to 1, times its weight; checked before "
            "any work)") in err, err
    assert ("Fix: pass --estimator-option scale=std (or scale=none; in treecredit compare, the arm "
            "treerpo[scale=std]), or rewards in [0, 1]: e.g. --reward math@0.667 --reward exact@0.333.") in err, err
    assert "scale='std'" not in err and "(treecredit train:" not in err, err  # the command line's form only
    assert built == [] and not (tmp_path / "run").exists()


@pytest.mark.parametrize("rewards, match", [
    (["math@-0.5"], r"add up to a reward in \[-0.5, 0\].*weights must then be ≥ 0"),
    (["math", "numeric:tolerance=0.5@0.25"], r"add up to a reward in \[0, 1.25\]"),
])
def test_any_weights_outside_the_unit_range_are_refused(tiny_config, data, rewards, match):
    with pytest.raises(ValueError, match="^estimator: 'treerpo' .*" + match):
        check_run(_config(tiny_config, data, rewards))


@pytest.mark.parametrize("rewards, estimator, options", [
    (["math", "exact@0.5"], "treerpo", {"scale": "std"}),   # the fix the message names
    (["math", "exact@0.5"], "treerpo", {"scale": "none"}),
    (["math@0.6", "exact@0.4"], "treerpo", {}),              # weights that sum to 1
    (["math@0.56", "rr_half@0.34", "exact@0.1"], "treerpo", {}),  # sum to 1 up to float rounding (1 + 2e-16)
    (["math", "exact@0.5"], "grpo", {}),                    # no range needed
    (["math@0.5", "rr_half@0.5"], "treerpo", {}),           # an own function, taken as 0 to 1: sum ≤ 1
    (["math", "rr_format"], "treerpo", {"scale": "std"}),     # two 0/1 functions with the fix the message names
])
def test_rewards_the_estimator_accepts_pass(tiny_config, data, user_rewards, rewards, estimator, options):
    check_run(_config(tiny_config, data, rewards, estimator, **options))


def test_own_functions_count_as_zero_to_one_times_their_weight(tiny_config, data, user_rewards):
    """docs/own-task.md's ``--reward math --reward my_rewards:fmt@0.2`` pays up to 1.2, and two own 0/1 functions up
    to 2: refused before any work (as TRL refuses them when the trainer is built), not at the step whose rewards
    first leave [0, 1], which a resume with the fix cannot continue."""
    with pytest.raises(ValueError, match=r"^estimator: 'treerpo' with its default options needs rewards in \[0, 1\], "
                                         r"but --reward math --reward rr_format@0.2 add up to a reward in \[0, 1.2\] "
                                         r"\(each function gives 0 to 1, a function of yours taken as such, times its "
                                         r"weight; checked before any work\)\. Fix: pass --estimator-option "
                                         r"scale=std \(or scale=none; .*e\.g\. --reward math@0\.833 --reward "
                                         r"rr_format@0\.167"):
        check_run(_config(tiny_config, data, ["math", "rr_format@0.2"]))
    with pytest.raises(ValueError, match=r"--reward rr_half --reward rr_format add up to a reward in \[0, 2\]"):
        check_run(_config(tiny_config, data, ["rr_half", "rr_format"]))  # each stays in [0, 1] on the solutions
    check_run(_config(tiny_config, data, ["math", "rr_format@0.2"], scale="std"))


def test_an_own_function_alone_that_leaves_the_range_on_a_worked_solution_is_refused(tiny_config, data):
    register_reward("rr_two", lambda prompts, completions, **_: [2.0] * len(completions))
    try:
        with pytest.raises(ValueError, match=r"^estimator: 'treerpo' with its default options needs rewards in "
                                             r"\[0, 1\], but --reward rr_two gave the worked solution of training "
                                             r"problem 0 the reward 2 "):
            check_run(_config(tiny_config, data, ["rr_two"]))
    finally:
        _REGISTERED.pop("rr_two", None)


def test_an_own_function_that_leaves_the_range_on_a_prompt_only_dataset_names_the_empty_completion(
        tiny_config, tmp_path):
    # without worked solutions, pre-flight scores empty completions: the refusal says so, not "worked solution"
    path = tmp_path / "prompts.jsonl"
    path.write_text("".join(json.dumps({"prompt": f"{i}+1="}) + "\n" for i in range(8)))
    register_reward("rr_two", lambda prompts, completions, **_: [2.0] * len(completions))
    try:
        with pytest.raises(ValueError) as caught:
            check_run(tiny_config(dataset=str(path), reward=["rr_two"], task_options={"delimiter": "+"},
                                  estimator="treerpo", warm_start_steps=0))  # no solutions: no warm start
    finally:
        _REGISTERED.pop("rr_two", None)
    message = str(caught.value)
    assert "--reward rr_two gave an empty completion of training problem 0 (it has no worked solution) the reward " \
           "2 (checked before any work)" in message, message
    assert "worked solution of" not in message


def test_the_need_is_asked_of_the_estimator_itself(tiny_config, data):
    assert "--estimator-option scale=std" in str(needs_unit_rewards(_config(tiny_config, data, ["math"])))
    assert needs_unit_rewards(_config(tiny_config, data, ["math"], scale="std")) is None
    assert needs_unit_rewards(_config(tiny_config, data, ["math"], "rloo")) is None

    @register_estimator("_unit_rewards_test")
    def _unit_rewards_test(batch, *, epsilon: float = 1e-6):
        if batch.rewards.max() > 1:
            raise ValueError("rewards: exceed 1. Fix: pass probabilities.")
        return np.zeros(batch.response_mask.shape, np.float32)

    try:
        own = needs_unit_rewards(_config(tiny_config, data, ["math"], "_unit_rewards_test"))  # a plain ValueError
        assert own.argument == "rewards" and own.fix() == "pass probabilities" and own.settings == []
    finally:
        del _REGISTRY["token"]["_unit_rewards_test"]


def test_the_estimators_fix_is_given_in_the_command_lines_form_only():
    # was: the fix's text read back by regular expressions; now its parts, as the estimator raised them
    with pytest.raises(OutOfRange) as caught:
        treecredit.compute_advantages("treerpo", response_ids=np.ones((2, 2), int), response_mask=np.ones((2, 2)),
                                      rewards=np.array([1.5, 0.0]), group_ids=np.array([0, 0]), step_tokens=1)
    own = caught.value
    assert str(own).endswith("Fix: pass scale='std' or scale='none' (treecredit train: --estimator-option scale=std), "
                             "or rewards in [0, 1] (treecredit train: --reward weights that sum to at most 1).")
    assert own.seen == (0.0, 1.5) and own.settings == [("scale", "std"), ("scale", "none")]
    assert command_line_fix("treerpo", own) == ("pass --estimator-option scale=std (or scale=none; in treecredit "
                                                "compare, the arm treerpo[scale=std]), or rewards in [0, 1]")
    plain = FixError.of(ValueError("rewards: exceed 1. Fix: pass probabilities."))
    assert command_line_fix("mine", plain) == "pass probabilities"  # no option named: as it is
    assert pickle.loads(pickle.dumps(own)).settings == own.settings  # compare's workers pass it whole


def test_combined_range_of_known_and_unknown_rewards():
    assert combined_range(RewardSet(["math", "exact@0.5"]).items) == (0.0, 1.5)
    assert combined_range(RewardSet(["math@0.7", "code@-0.3"]).items) == (-0.3, 0.7)
    assert combined_range(RewardSet(["numeric:relative=0.1@0.5"]).items) == (0.0, 0.5)
    own = (lambda prompts, completions, **_: [0.0], 0.5)  # an own function's range is taken as [0, 1]
    assert combined_range(RewardSet(["math", own]).items) == (0.0, 1.5)


def test_the_task_verifier_counts_as_a_unit_range_reward(tiny_config):
    config = tiny_config(reward=["task", "numeric@0.5"], estimator="treerpo")
    with pytest.raises(ValueError, match=r"^estimator: .* --reward task --reward numeric@0.5 add up to a reward "
                                         r"in \[0, 1.5\]"):
        check_run(config)


def test_the_estimators_own_message_mid_run_gives_the_range_and_the_command_line_fix():
    rewards = np.array([0.0, 1.2, 1.0, 0.0])
    with pytest.raises(ValueError) as info:
        treecredit.compute_advantages("treerpo", response_ids=np.ones((4, 3), int), response_mask=np.ones((4, 3)),
                                      rewards=rewards, group_ids=np.array([0, 0, 1, 1]), step_tokens=1)
    message = str(info.value)
    assert message.startswith("rewards: are outside [0, 1] (from 0 to 1.2), which scale='bernoulli' needs"), message
    assert "scale='std'" in message and "treecredit train: --estimator-option scale=std" in message, message


def test_compare_names_the_arm_and_its_own_fix(tmp_path, data, capsys):
    from treecredit.training.arms import arm_configs
    from treecredit.training.config import TrainConfig

    argv = ["compare", "--estimators", "grpo,treerpo", "--seeds", "1", "--budget", "10000", "--dataset", data,
            "--task-option", "delimiter=+", "--reward", "math", "--reward", "exact@0.5", "--out", str(tmp_path / "c"),
            "--n-layer", "1", "--n-head", "2", "--n-embd", "16", "--warm-start-steps", "5"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "estimator (arm 'treerpo', seed 0): 'treerpo' with its default options needs rewards in [0, 1]" in err, err
    assert "in treecredit compare, the arm treerpo[scale=std]" in err, err
    assert not (tmp_path / "c").exists()
    base = TrainConfig(dataset=data, reward=["math", "exact@0.5"], task_options={"delimiter": "+"},
                       out=str(tmp_path / "r"))
    check_run(arm_configs(base, ["treerpo[scale=std]"])["treerpo[scale=std]"])  # the fix it names passes


def test_a_reward_above_one_by_itself_gets_a_weight_that_brings_it_into_range(tiny_config, data):
    """A single function that gives 3 (its range unknown): its weights already sum to 1, so the example scales
    them by the largest reward the worked solutions got (a trial was told ``@1``, which changes nothing); a
    negative reward gets no weight example (no weight ≥ 0 lifts it)."""
    register_reward("rr_three", lambda prompts, completions, **_: [3.0] * len(completions))
    register_reward("rr_negative", lambda prompts, completions, **_: [-0.5] * len(completions))
    try:
        with pytest.raises(ValueError, match=r"the reward 3 .*e\.g\. --reward rr_three@0\.333 \(the worked "
                                             r"solutions' rewards reach 3\)"):
            check_run(_config(tiny_config, data, ["rr_three"]))
        with pytest.raises(ValueError, match=r"the reward -0\.5 .*must then give rewards ≥ 0"):
            check_run(_config(tiny_config, data, ["rr_negative"]))
    finally:
        for name in ("rr_three", "rr_negative"):
            _REGISTERED.pop(name, None)


def test_range_refusal_takes_treerpos_error_and_an_own_estimators_plain_one_alike():
    from treecredit._validation import OutOfRange, Remedy
    from treecredit.training.reward_range import range_refusal

    typed = OutOfRange("rewards", "are outside [0, 1]", (Remedy("scale='std'", "", (("scale", "std"),)),),
                       seen=(-0.5, 1.0))
    assert range_refusal(typed) is typed
    plain = range_refusal(ValueError("rewards: outside [0, 1] for clip=False. Fix: pass clip=True."))
    assert plain is not None and plain.fix("python") == "pass clip=True"
    assert range_refusal(ValueError("rewards: outside [0, 1]")) is None  # no fix to give in a host's terms
    assert range_refusal(ValueError("scale: is 'x'. Fix: pass scale='std'.")) is None
    assert range_refusal(OutOfRange("rewards", "above 5", (), seen=(0.0, 6.0), allowed=(0.0, 5.0))) is None
    assert range_refusal(RuntimeError("rewards: outside [0, 1]. Fix: no.")) is None


def test_verl_words_an_own_estimators_plain_range_refusal_as_a_range_refusal():
    from treecredit.integrations.verl import _config_error

    said = _config_error(ValueError("rewards: are outside [0, 1]. Fix: pass clip=True."), {}, ("clip",))
    assert said is not None, "the plain refusal fell through to the raw error"
    assert "token_level_rewards" in str(said) and "Fix: pass clip=True, or give rewards in [0, 1]" in str(said)
