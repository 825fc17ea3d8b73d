"""An own env's two silent mistakes, refused before any work (the warm start never runs): a ``_step`` whose
``info`` has no ``success`` key (every episode would count as failed, and compare --env would rank arms by
zeros), and a constant ``instance_key()`` in an env that also has an ``instance_count()`` (refused only after the
warm start before, with a fix that named --eval-problems)."""

import numpy as np
import pytest
from agent_helpers import preflight_config

from treecredit.envs import make_env
from treecredit.training.agent_checks import eval_instances
from treecredit.training.agent_loop import train_agent


def test_an_info_without_success_is_refused_before_the_warm_start_naming_the_key(tmp_path, no_warm_start):
    with pytest.raises(ValueError, match=r"^env: NoSuccessInfo failed before any work \(instance \d+'s episode played "
                       r"on with expert_action\(\).*NoSuccessInfo\._step\('\w+'\): ended the episode \(done=True\) "
                       r"with an info without keys, no 'success'.*Fix: set info\['success'\] in NoSuccessInfo\._step "
                       r"on the step that ends an episode"):
        train_agent(preflight_config(tmp_path, "agent_helpers:NoSuccessInfo", eval_problems=2), log=lambda *a: None)
    assert not (tmp_path / "run").exists()


def test_success_set_only_on_the_step_that_ends_the_episode_is_accepted():
    env = make_env("agent_helpers:SuccessAtEndOnly")
    held = eval_instances(env, 2)  # plays the expert's episode to its end: no refusal
    assert held.note == "" and env.done and env.success_reported


def test_a_success_given_as_text_is_refused_before_the_warm_start(tmp_path, no_warm_start):
    with pytest.raises(ValueError, match=r"^env: SuccessAsText failed before any work .*SuccessAsText\._step\('\w+'\): "
                       r"returned info\['success'\]='no' \(str\), not True or False.*Fix: set info\['success'\] in "
                       r"SuccessAsText\._step to True when the task is solved, else False"):
        train_agent(preflight_config(tmp_path, "agent_helpers:SuccessAsText", eval_problems=2), log=lambda *a: None)


@pytest.mark.parametrize("value, read", [(True, True), (False, False), (np.bool_(True), True), (1, True),
                                         (np.int64(0), False)])
def test_success_as_a_bool_or_0_1_is_read_as_a_bool(value, read):
    env = make_env("agent_helpers:NoSuccessInfo")
    env.reset(3)
    env._step = lambda action: ("ok", 0.0, True, {"success": value})
    info = env.step("up")[3]
    assert info["success"] is read


@pytest.mark.parametrize("value", ["no", "yes", None, 0.5, 2, [True]])
def test_success_of_another_type_is_refused_naming_step_and_the_fix(value):
    env = make_env("agent_helpers:NoSuccessInfo")
    env.reset(3)
    env._step = lambda action: ("ok", 0.0, False, {"success": value})
    with pytest.raises(ValueError, match=r"^NoSuccessInfo\._step\('up'\): returned info\['success'\]=.*not True or "
                       r"False.*Fix: set info\['success'\] in NoSuccessInfo\._step to True when"):
        env.step("up")


def test_an_episode_ending_without_success_is_refused_by_step_naming_the_fix():
    env = make_env("agent_helpers:NoSuccessNoExpert")
    held = eval_instances(env, 2)  # no step can be played before any work: a note says success was not checked
    assert "return values were not checked" in held.note
    env.reset(held.seeds[0])
    env._step = lambda action: ("ok", 0.0, False, {})
    env.step("up")  # a step that does not end the episode may leave success out
    env._step = lambda action: ("end", 1.0, True, {"score": 3})
    with pytest.raises(ValueError, match=r"^NoSuccessNoExpert\._step\('up'\): ended the episode \(done=True\) with an "
                       r"info with the keys \['score'\], no 'success'.*Fix: set info\['success'\] in "
                       r"NoSuccessNoExpert\._step on the step that ends an episode"):
        env.step("up")


def test_the_built_in_envs_set_success_on_every_step():
    for name in ("gridworld", "frozenlake", "cliffwalking"):
        env = make_env(name)
        held = eval_instances(env, 2)  # plays one step: refused if its info had no success
        env.reset(held.seeds[0])
        for action in env.valid_actions() or ["up"]:
            env.reset(held.seeds[0])
            env.step(action)
            assert env.success_reported, (name, action)


def test_a_constant_instance_key_with_an_instance_count_is_refused_before_the_warm_start(tmp_path, no_warm_start):
    with pytest.raises(ValueError, match=r"^env: PoolSameKey\.instance_key\(\) is the same for all 64 instances "
                       r"drawn \(0\).*Fix: make PoolSameKey\.instance_key\(\) return what tells instances apart"):
        train_agent(preflight_config(tmp_path, "agent_helpers:PoolSameKey", eval_problems=4), log=lambda *a: None)


def test_a_pool_with_distinct_keys_is_not_sampled_again(monkeypatch):
    env = make_env("agent_helpers:PoolGrid", pool=16)
    resets = []
    monkeypatch.setattr(env, "_reset", lambda seed, inner=env._reset: resets.append(seed) or inner(seed))
    held = eval_instances(env, 4)
    assert len(held.keys) > 1
    assert len(resets) <= len(set(held.seeds)) + 2  # the held-out draw and the first step's: no 64-instance sample
