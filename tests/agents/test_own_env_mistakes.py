"""Mistakes in an own env (``--env module:Class``) are refused before any work, naming the method and the fix."""

import inspect
import re
import warnings

import pytest
from own_env_helpers import OwnInit

from treecredit.envs import make_env
from treecredit.training.config import TrainConfig

NO_BASE_INIT = (r"^env: OwnInit\.__init__ did not call TextEnv\.__init__ \(max_turns, the signature mode and the "
                r"episode state are unset\)\. Fix: call super\(\)\.__init__\(\*\*kwargs\) in OwnInit\.__init__\.$")


def test_an_init_without_super_init_is_refused_by_name(tmp_path):
    with pytest.raises(ValueError, match=NO_BASE_INIT):
        make_env("own_env_helpers:OwnInit")
    with pytest.raises(ValueError, match=NO_BASE_INIT):  # a run's config builds the env first (was: AttributeError)
        TrainConfig(env="own_env_helpers:OwnInit", estimator="rtmc", out=str(tmp_path / "run"), group_size=2)
    with pytest.raises(ValueError, match=NO_BASE_INIT):  # built by hand, then reset
        OwnInit().reset(1)


def test_a_required_init_argument_not_given_is_refused_by_name(tmp_path):
    message = (r"^env: InitArgs\.__init__ needs the argument n, which no --env-option gives\. Fix: pass "
               r"--env-option n=<value> \(in Python: env_options=\{'n': <value>\}\), or give n a default in "
               r"InitArgs\.__init__\.$")
    with pytest.raises(ValueError, match=message):  # was: TypeError: InitArgs.__init__() missing 1 required ...
        make_env("own_env_helpers:InitArgs")
    with pytest.raises(ValueError, match=message):
        TrainConfig(env="own_env_helpers:InitArgs", estimator="rtmc", out=str(tmp_path / "run"), group_size=2)
    assert make_env("own_env_helpers:InitArgs", n=3).n == 3


def test_an_init_that_raises_is_named_with_the_env_class_and_its_options(tmp_path):
    with pytest.raises(ValueError, match=r"^env: InitRaises\.__init__ raised ValueError: n must be even \(building "
                       r"env 'own_env_helpers:InitRaises' with n=3\)\. Fix: fix InitRaises\.__init__ or pass other "
                       r"--env-option values \(build it by hand: InitRaises\(n=3\)\)\.$"):
        make_env("own_env_helpers:InitRaises", n=3)  # was: "n must be even", the env and the flag unnamed
    assert make_env("own_env_helpers:InitRaises", n=2).n == 2
    with pytest.raises(ValueError, match=r"^env_options: --env-option size=-1 \(env 'gridworld'\): size: "):
        TrainConfig(env="gridworld", env_options={"size": -1}, estimator="rtmc", out=str(tmp_path / "run"),
                    group_size=2)  # a built-in env's checked option keeps its own message and flag


def test_an_option_with_a_default_that_is_not_keyword_only_is_an_option():
    from treecredit.envs import env_options

    env = make_env("own_env_helpers:PosOpt", size=3)  # was: "has no option(s) ['size']"
    assert env.n == 3 and env_options("own_env_helpers:PosOpt")["size"] == 4
    assert env_options("own_env_helpers:InitArgs")["n"] is inspect.Parameter.empty  # its own n has no default
    with pytest.raises(ValueError, match=r"^env_options: environment 'own_env_helpers:PosOpt' has no option\(s\) "
                       r"\['sise'\] \(did you mean 'size'\?\)"):
        make_env("own_env_helpers:PosOpt", sise=3)


def test_the_options_of_base_classes_behind_an_init_without_kwargs_are_not_offered():
    from treecredit.envs import env_options

    assert list(env_options("own_env_helpers:Closed")) == ["hard"]  # was: max_turns, n, ... (then a TypeError)
    with pytest.raises(ValueError, match=r"^env_options: environment 'own_env_helpers:Closed' has no option\(s\) "
                       r"\['max_turns'\]: TextEnv\.__init__ takes max_turns, but Closed\.__init__ does not take "
                       r"\*\*kwargs, so options of its parent classes cannot reach TextEnv\.__init__\. Fix: use some "
                       r"of: hard \(default False\)\.$"):  # was: no word on why
        make_env("own_env_helpers:Closed", max_turns=3)
    assert make_env("own_env_helpers:Closed", hard=True).n == 6


def test_a_base_option_that_the_subclass_sets_itself_is_not_offered():
    from treecredit.envs import env_options

    # PosOpt.__init__ passes n=size to Guess.__init__: an option n would reach it twice (a TypeError)
    assert "n" not in env_options("own_env_helpers:PosOpt") and "max_turns" in env_options("own_env_helpers:PosOpt")
    with pytest.raises(ValueError, match=r"^env_options: environment 'own_env_helpers:PosOpt' has no option\(s\) "
                       r"\['n'\]: PosOpt\.__init__ sets Guess's n itself \(it passes n=\.\.\. to Guess\.__init__\)\. "
                       r"Fix: use some of: max_turns .*, size \(default 4\)\.$"):
        make_env("own_env_helpers:PosOpt", n=3)
    assert env_options("own_env_helpers:InitArgs")["n"] is inspect.Parameter.empty  # its own n stays an option


@pytest.mark.parametrize("option, value, expected", [("size", "abc", "an int"), ("size", 3.5, "an int"),
                                                     ("size", True, "an int"), ("hard", "maybe", "a bool"),
                                                     ("hard", 1, "a bool")])
def test_an_option_value_that_is_not_of_its_defaults_type_is_refused_by_flag_and_type(tmp_path, option, value,
                                                                                      expected):
    env = "own_env_helpers:PosOpt" if option == "size" else "own_env_helpers:Closed"
    cls = env.partition(":")[2]
    default = {"size": 4, "hard": False}[option]
    with pytest.raises(ValueError, match=rf"^env_options: --env-option {option}={re.escape(repr(value))} \(env "
                       rf"'{env}'\): {option}: is {re.escape(repr(value))} \({type(value).__name__}\), not {expected} "
                       rf"\(the type of its default {default} in {cls}\.__init__\)\. Fix: pass {expected}"):
        TrainConfig(env=env, env_options={option: value}, estimator="rtmc", out=str(tmp_path / "run"), group_size=2)
    assert not (tmp_path / "run").exists()  # was: the string reached the env (or 3.5 was taken for an int)


def test_an_option_value_is_converted_to_the_type_of_its_default():
    env = make_env("own_env_helpers:PosOpt", size="3")  # the text of --env-option size=3 from Python
    assert env.n == 3 and type(env.n) is int
    env = make_env("own_env_helpers:PosOpt", size=3.0)
    assert env.n == 3 and type(env.n) is int
    assert make_env("own_env_helpers:Closed", hard="true").n == 6
    assert make_env("own_env_helpers:Closed", hard="False").n == 4


TINY = {"estimator": "rtmc", "n_layer": 1, "n_head": 2, "n_embd": 16, "warm_start_steps": 0, "prompts_per_step": 2,
        "group_size": 2, "max_new_tokens": 6, "steps": 1, "eval_problems": 2, "progress": False, "tensorboard": False,
        "sampler_options": {"max_len": 320, "max_episode_tokens": 200}, "env_options": {"max_turns": 2}}


def _train(tmp_path, env: str, log=None):
    from treecredit.training.agent_loop import train_agent

    config = TrainConfig(**TINY, env=f"own_env_helpers:{env}", out=str(tmp_path / "run"))
    return train_agent(config, log=(lambda *a: None) if log is None else log)


BAD_STEPS = [("GymStep", r"GymStep\.step\('(\d)'\)\): ValueError: GymStep\._step\(\1\): returned \('right!', 1\.0, "
              r"True, False, \{'success': True\}\), not a tuple of 4\. Fix: make GymStep\._step return \(observation"),
             ("RewardStr", r"RewardStr\.step\('(\d)'\)\): ValueError: RewardStr\._step\(\1\): returned the reward "
              r"'1\.0' \(str\), not a finite real number\. Fix: make RewardStr\._step return"),
             ("RaiseStep", r"RaiseStep\.step\('\d'\)\): RuntimeError: simulator down\. Fix: fix RaiseStep\.step "
              r"\(play that instance by hand: env\.reset\(\d+\), then env\.step\(\.\.\.\) with a valid action\)"),
             ("ListedOnly", r"first valid_actions\(\) '2', in ListedOnly\.step\('2'\)\): ValueError: "
              r"ListedOnly\._step\(2\): returned info=None")]


@pytest.mark.parametrize("env, message", BAD_STEPS)
def test_a_bad_step_is_refused_before_any_work_without_a_warm_start(tmp_path, env, message):
    # warm_start_steps=0: the untrained policy writes no valid action, so _step was never called (rc 0, no warning)
    with pytest.raises(ValueError, match=rf"^env: {env} failed before any work \(one step of instance \d+ with its "
                       + ("" if env == "ListedOnly" else r"expert_action\(\) '\d', in ") + message):
        _train(tmp_path, env)
    assert not (tmp_path / "run" / "checkpoint.pt").exists()


@pytest.mark.parametrize("env", ["ExpertInt", "ExpertIntGym"])
def test_an_expert_action_that_is_not_a_str_is_refused_before_any_work(tmp_path, env):
    # was: a warning that the env "offers no expert_action()", and the 5-tuple of ExpertIntGym went unchecked;
    # the same error as the warm start's (test_env_checks), before any work whatever the warm start
    with pytest.raises(ValueError, match=rf"^{env}\.expert_action\(\): it chose \d \(int\) in instance \d+, turn 0 "
                       r"\(one step played before any work\), not an action text\. Fix: make "
                       rf"{env}\.expert_action\(\) return the action as a str \(None when it has none\)\.$"):
        _train(tmp_path, env)
    assert not (tmp_path / "run").exists()


def test_an_env_without_an_action_to_play_is_said_unchecked_in_the_output_and_the_log(tmp_path):
    said = []
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # was: a UserWarning, shown as "warning: ..."; it is a note about the env
        _train(tmp_path, "NoExpert", said.append)
    message = r"note: NoExpert\._step's return values were not checked before any work: NoExpert offers no " \
              r"expert_action\(\) or valid_actions\(\).*give NoExpert an expert_action\(\) or valid_actions\(\)"
    assert [line for line in said if re.search(message, line)], said
    log = (tmp_path / "run" / "log.txt").read_text()
    assert re.search(message, log) and "warning: " not in log


def test_compare_notes_an_env_without_an_action_to_play_once(tmp_path, monkeypatch):
    from treecredit.training import agent_loop
    from treecredit.training.compare import run_comparison

    monkeypatch.setattr(agent_loop, "train_agent", lambda config, **k: [])  # each run notes it in its log.txt
    base = TrainConfig(**{**TINY, "warm_start_steps": 0}, env="own_env_helpers:NoExpert",
                       out=str(tmp_path / "cmp"))
    said = []
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # was: a UserWarning of the compare process
        run_comparison(base, ["grpo", "rtmc"], [0], 500, tmp_path / "cmp", jobs=1, log=said.append)
    assert len([line for line in said if line.startswith("compare: note: NoExpert._step's return values were not "
                                                           "checked before any work")]) == 1, said


def test_valid_actions_that_are_not_texts_are_refused_before_any_work(tmp_path):
    # was: the int was skipped, and the run said only that _step was not checked
    with pytest.raises(ValueError, match=r"^ListedInts\.valid_actions\(\): its first entry is \d \(int\) in instance "
                       r"\d+, turn 0 \(one step played before any work\), not an action text\. Fix: make "
                       r"ListedInts\.valid_actions\(\) return the actions as str\.$"):
        _train(tmp_path, "ListedInts")
    assert not (tmp_path / "run").exists()


def test_a_correct_env_plays_its_step_before_any_work_without_a_word():
    from own_env_helpers import Guess

    from treecredit.training.agent_checks import check_first_step

    env = Guess()
    env.reset(5)  # eval_instances leaves the env at the first state (check_signature), and so does this
    resets = []
    env._reset = lambda seed, reset=env._reset: resets.append(seed) or reset(seed)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert check_first_step(env, 5) == ""  # no note
    assert env.actions == ["2"] and env.done and resets == []  # the expert's guess, right at once; no reset again


def test_a_parse_action_that_raises_on_invalid_text_is_refused_before_any_work(tmp_path):
    with pytest.raises(ValueError, match=r"^env: ParseRaises\.parse_action\(''\) raised ValueError: invalid literal "
                       r"for int\(\) with base 10: '' \(text that is not a valid action, tried before any work\)\. "
                       r"Fix: make ParseRaises\.parse_action return None for text that is not a valid action"):
        _train(tmp_path, "ParseRaises")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("env, text, error", [
    ("ParseRaisesLater", "'xyz'", r"ValueError: invalid literal for int\(\) with base 10: 'xyz'"),
    ("ParseJson", "'xyz'", r"JSONDecodeError: Expecting value: line 1 column 1 \(char 0\)"),
    ("ParseRaisesOnTail", r"'\d \?'", r"ValueError: unexpected '\?' after the guess")])
def test_a_parse_action_that_raises_only_on_some_junk_is_refused_before_any_work(tmp_path, env, text, error):
    # was: not refused (only '' was tried), every episode dropped by parse_action, held-out success n/a, rc 0
    with pytest.raises(ValueError, match=rf"^env: {env}\.parse_action\({text}\) raised {error} \(text that is "
                       rf"not a valid action, tried before any work\)\. Fix: make {env}\.parse_action return None "
                       r"for text that is not a valid action \(the turn is then a no-op with invalid_penalty\), "
                       r"never raise\.$"):
        _train(tmp_path, env)
    assert not (tmp_path / "run").exists()


def test_junk_texts_tried_on_parse_action_cover_what_a_policy_writes():
    from own_env_helpers import Guess

    from treecredit.training.agent_checks import INVALID_TEXTS, check_parse_action

    assert "" in INVALID_TEXTS and "\n" in INVALID_TEXTS and max(map(len, INVALID_TEXTS)) >= 100
    seen = []

    class Recording(Guess):
        def parse_action(self, text):
            seen.append(text)
            return super().parse_action(text)

    check_parse_action(Recording())  # a parse_action that returns None for junk passes
    assert seen == list(INVALID_TEXTS)


def test_an_episode_dropped_by_parse_action_names_parse_action():
    import torch
    from agent_helpers import ScriptedPolicy
    from own_env_helpers import ParseRaises

    from treecredit.agents import play

    said = []
    episodes, _ = play(ScriptedPolicy([["s"]]), lambda: ParseRaises(), [1], 1, torch.Generator(), log=said.append)
    assert episodes == [] and len(said) == 1
    # was: "the env's ParseRaises.action_signature('s') raised ValueError", a method the user did not write
    assert "dropped at turn 0: the env's ParseRaises.parse_action('s') (called by action_signature) raised " \
        "ValueError: invalid literal for int() with base 10: 's' (parse_action must return None for text that is " \
        "not a valid action, not raise)" in said[0]


def test_an_env_written_with_a_dot_for_the_colon_gets_the_colon_suggested():
    from treecredit.user_modules import colon_hint

    with pytest.raises(ValueError, match=r"^env: unknown environment 'own_env_helpers\.Guess' \(did you mean "
                       r"own_env_helpers:Guess\? a class is named module:Class\)\. Fix: use one of: .*module:Class"):
        make_env("own_env_helpers.Guess")
    with pytest.raises(ValueError, match=r"^env: unknown environment 'gridwrold' \(did you mean 'gridworld'\?\)"):
        make_env("gridwrold")
    # the same hint as --reward my_rewards.fmt's (rewards/load.py)
    assert colon_hint("my_rewards.fmt", ["math", "exact"], "function") == \
        " (did you mean my_rewards:fmt? a function is named module:function)"
    assert colon_hint("gridworld", ["gridworld"], "Class") == ""
