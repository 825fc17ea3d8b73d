"""An env's return values are checked by name; an own env is named ``module:Class``; a failing warm start names
the env, the instance and the turn."""

import sys

import numpy as np
import pytest
import torch
from agent_helpers import Flaky, ScriptedPolicy

from treecredit.agents import EpisodeSettings, play
from treecredit.agents.policy import scripted_episode
from treecredit.envs import make_env
from treecredit.envs.gridworld import GridWorld


def _returning(value):
    class Bad(GridWorld):
        def _step(self, action):
            return value

    return Bad


BAD_STEPS = [(("fine", 0.0, False, {}), None),
             ((None, 0.0, False, {}), r"the observation None \(NoneType\), not a str"),
             ((42, 0.0, False, {}), r"the observation 42 \(int\), not a str"),
             (("ok", 0.0, "no", {}), r"done='no' \(str\), not True or False"),
             (("ok", float("nan"), False, {}), r"the reward nan \(float\), not a finite real number"),
             (("ok", "1.0", False, {}), r"the reward '1.0' \(str\), not a finite real number"),
             (("ok", True, False, {}), r"the reward True \(bool\)"),
             (("ok", 0.0, False, None), r"info=None \(NoneType\), not a dict"),
             (("ok", 0.0, False), r"returned \('ok', 0.0, False\), not a tuple of 4")]


@pytest.mark.parametrize("value, message", BAD_STEPS)
def test_step_checks_what_step_returns(value, message):
    env = _returning(value)(holes=0.0)
    env.reset(3)
    if message is None:
        assert env.step("up") == ("fine", 0.0, False, {"invalid": False, "success": False, "truncated": False})
        return
    with pytest.raises(ValueError, match=r"^Bad\._step\('up'\): returned " + message.removeprefix("returned ")
                       + r".*Fix: make Bad\._step return \(observation: str, reward: a finite real number"):
        env.step("up")


def test_numpy_rewards_and_done_pass_and_become_python_values():
    env = _returning(("ok", np.float32(0.5), np.bool_(True), {"success": np.bool_(True)}))(holes=0.0)
    env.reset(1)
    _, reward, done, _ = env.step("up")
    assert (reward, done) == (0.5, True) and type(reward) is float and type(done) is bool


def test_reset_checks_the_first_observation():
    class NoObservation(GridWorld):
        def _reset(self, seed):
            super()._reset(seed)

    with pytest.raises(ValueError, match=r"^NoObservation\._reset\(seed=4\): returned the first observation None "
                       r"\(NoneType\), not a str"):
        NoObservation().reset(4)


def test_a_bad_step_value_drops_the_episode_in_play_with_its_message():
    policy = ScriptedPolicy([["up", "up"]])
    messages = []
    episodes, _ = play(policy, lambda: _returning((None, 0.0, False, {}))(holes=0.0), [1, 2], 1, torch.Generator(),
                       log=messages.append)
    assert episodes == [] and len(messages) == 2  # was: observation None ended the episode silently
    assert "dropped at turn 0: the env's Bad.step('up') raised ValueError: Bad._step('up'): returned the " \
        "observation None" \
        in messages[0]


def test_a_state_key_without_a_canonical_form_names_the_env_and_state_key():
    from agent_helpers import NoCanonicalState

    env = NoCanonicalState()
    env.reset(1)
    with pytest.raises(ValueError, match=r"^NoCanonicalState\.state_key\(\): returned .*no canonical form"):
        env.signature()


def test_a_warm_start_episode_whose_env_raises_names_env_instance_and_turn():
    policy = ScriptedPolicy([["left"]])
    scripted_episode(policy, Flaky(holes=0.0, max_turns=4), 2, 0, EpisodeSettings(), lambda env: "left")  # even: fine
    with pytest.raises(ValueError, match=r"^env: Flaky failed in the warm start \(a scripted expert episode of "
                       r"instance 3, turn 1, action 'left', in Flaky\.step\('left'\)\): RuntimeError: simulator "
                       r"crashed\. Fix: fix Flaky\.step \(play that instance by hand") as caught:
        scripted_episode(policy, Flaky(holes=0.0, max_turns=4), 3, 0, EpisodeSettings(), lambda env: "left")
    assert "warm-start-steps" not in str(caught.value)  # skipping the warm start would leave the env broken


class _BrokenExpert(GridWorld):
    def expert_action(self):
        raise KeyError("no route")


class _BrokenEncoding(ScriptedPolicy):
    def encode(self, text):
        raise RuntimeError("tokenizer lost")


def test_only_the_env_is_blamed_in_the_warm_start():
    policy, settings = ScriptedPolicy([["left"]]), EpisodeSettings()
    with pytest.raises(ValueError, match=r"^env: _BrokenExpert failed in the warm start \(a scripted expert episode "
                       r"of instance 2, turn 0, in _BrokenExpert\.expert_action\(\)\): KeyError: 'no route'"):
        scripted_episode(policy, _BrokenExpert(holes=0.0), 2, 0, settings, lambda env: env.expert_action())
    with pytest.raises(ZeroDivisionError):  # the expert's own fault, not the env's (was: "env: ... failed")
        scripted_episode(policy, make_env("gridworld", holes=0.0), 2, 0, settings, lambda env: 1 / 0)
    with pytest.raises(RuntimeError, match="^tokenizer lost$"):  # the policy's fault, as itself
        scripted_episode(_BrokenEncoding([["left"]]), make_env("gridworld", holes=0.0), 2, 0, settings,
                         lambda env: "left")
    with pytest.raises(ValueError, match=r"^GridWorld\.expert_action\(\): the warm start's expert chose 7 \(int\) "
                       r"in instance 2, turn 0, not an action text"):
        scripted_episode(policy, make_env("gridworld", holes=0.0), 2, 0, settings, lambda env: 7)


def _write_module(folder, name):
    (folder / f"{name}.py").write_text(
        "from treecredit.envs import TextEnv\nfrom treecredit.envs.gridworld import GridWorld\n\n"
        "class Walk(GridWorld):\n    name = 'walk'\n\nclass Half(TextEnv):\n    pass\n\nclass Other:\n    pass\n")


def test_an_own_env_is_named_module_colon_class(tmp_path, monkeypatch):
    from treecredit.envs import module_folder

    _write_module(tmp_path, "tc_own_env_a")
    monkeypatch.chdir(tmp_path)  # imported from the current folder, as --reward module:function
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    (tmp_path / "tc_broken_env.py").write_text("import tc_no_such_package\n")
    env = make_env("tc_own_env_a:Walk", size=3, holes=0.0)
    assert type(env).__name__ == "Walk" and env.size == 3
    assert module_folder("tc_own_env_a:Walk") == {"tc_own_env_a": str(tmp_path.resolve())}
    cases = [("tc_own_env_a:Walkk", r"env: module 'tc_own_env_a' has no class 'Walkk' \(did you mean 'Walk'\?\)"),
             ("tc_own_env_a:Other", r"env: 'tc_own_env_a:Other' is .*not a subclass of treecredit\.envs\.TextEnv"),
             ("tc_own_env_a:Half", r"env: 'tc_own_env_a:Half' does not implement _reset, _step, parse_action"),
             ("tc_no_such_module:Env", r"env: module 'tc_no_such_module' .*does not import.*PYTHONPATH"),
             ("tc_broken_env:Env", r"env: module 'tc_broken_env' .*tc_broken_env\.py\) was found but failed while "
                                   r"it was imported: ModuleNotFoundError: .*'tc_no_such_package' \(line 1 of"),
             ("walk", r"env: unknown environment 'walk'.*module:Class")]
    for name, message in cases:
        with pytest.raises(ValueError, match=message):
            make_env(name)


def test_a_run_records_where_its_own_env_came_from_and_imports_it_from_any_folder(tmp_path, monkeypatch):
    from dataclasses import asdict

    from treecredit.training.config import TrainConfig

    home, elsewhere = tmp_path / "envs", tmp_path / "elsewhere"
    home.mkdir(), elsewhere.mkdir()
    _write_module(home, "tc_own_env_b")
    monkeypatch.chdir(home)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p != ""])
    config = TrainConfig(env="tc_own_env_b:Walk", estimator="rtmc", out=str(tmp_path / "run"), group_size=2)
    assert config.module_folders == {"tc_own_env_b": str(home.resolve())}
    monkeypatch.chdir(elsewhere)  # a resume (or a compare worker) from another folder, in a fresh process
    monkeypatch.delitem(sys.modules, "tc_own_env_b")
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(home.resolve()))])
    again = TrainConfig(**asdict(config))
    assert again.env == "tc_own_env_b:Walk" and "tc_own_env_b" in sys.modules


def test_an_agent_config_adds_its_recorded_module_folders_once(tmp_path, monkeypatch):
    from treecredit import user_modules
    from treecredit.rewards import load
    from treecredit.training.config import TrainConfig

    added = []
    real = user_modules.add_module_folders

    def counting(folders):
        added.append(dict(folders))
        real(folders)

    monkeypatch.setattr(user_modules, "add_module_folders", counting)
    monkeypatch.setattr(load, "add_module_folders", counting)  # the old place, re-exported
    monkeypatch.setattr(user_modules, "_FOLDERS", {})
    folders = {"tc_recorded_nowhere": str(tmp_path)}
    monkeypatch.setattr(sys, "path", list(sys.path))
    TrainConfig(env="gridworld", estimator="rtmc", out=str(tmp_path / "run"), group_size=2, module_folders=folders)
    assert added == [folders]
    added.clear()
    TrainConfig(out=str(tmp_path / "run2"), group_size=2, module_folders=folders)  # a task run: once too
    assert added == [folders]
