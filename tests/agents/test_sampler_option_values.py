"""An agent run's ``--sampler-option`` values are converted to their defaults' types as ``--env-option`` values
are (one conversion, :func:`treecredit.envs.options.converted`), and a value that does not convert is refused
before any work and before the run folder, naming the option, its type and the fix (new-user trials: a raw
``TypeError`` for ``max_episode_tokens=abc``, ``marker=5`` and ``turn_prefix=null``, now the texts '5' and 'null'
(test_env_option_text.py); ``max_episode_tokens=1e9``
crashing in the warm start after the folder was written; ``10.5`` and ``true`` accepted; ``max_len=abc`` naming
no option, ``max_len=100.5`` cut to 100 without a word)."""

import pytest

from treecredit.agents.episodes import EpisodeSettings
from treecredit.cli import main
from treecredit.training.agent_loop import split_sampler_options
from treecredit.training.config import TrainConfig

TINY = ["--env", "gridworld", "--steps", "1", "--warm-start-steps", "1", "--n-layer", "1", "--n-head", "2",
        "--n-embd", "16", "--prompts-per-step", "2", "--group-size", "2", "--eval-problems", "2", "--no-progress",
        "--no-tensorboard", "--threads", "1"]


@pytest.mark.parametrize("given, shown, problem, example", [
    ("max_episode_tokens=abc", "max_episode_tokens=abc", "is 'abc' (str), not an int (the type of its default 400 "
     "in EpisodeSettings)", "--sampler-option max_episode_tokens=400 (in Python: sampler_options="
     "{'max_episode_tokens': 400})"),
    ("max_episode_tokens=10.5", "max_episode_tokens=10.5", "is 10.5 (float), not an int", "max_episode_tokens=400"),
    ("max_episode_tokens=true", "max_episode_tokens=true", "is True (bool), not an int", "max_episode_tokens=400"),
    ("max_len=abc", "max_len=abc", "is 'abc' (str), not an int (the type of its default 768 among an agent run's "
     "options)", "--sampler-option max_len=768 (in Python: sampler_options={'max_len': 768})"),
    ("max_len=100.5", "max_len=100.5", "is 100.5 (float), not an int", "--sampler-option max_len=768"),
    ("expert_noise=true", "expert_noise=true", "is True (bool), not a finite float", "expert_noise=0.3"),
    ("expert_noise=nan", "expert_noise=nan", "is 'nan' (str), not a finite float", "expert_noise=0.3"),
    ("fork_children=2.5", "fork_children=2.5", "is 2.5 (float), not an int", "fork_children=2"),
])
def test_a_value_of_the_wrong_type_is_refused_before_the_folder_naming_the_option(tmp_path, capsys, given, shown,
                                                                                  problem, example):
    out = tmp_path / "run"
    assert main(["train", *TINY, "--out", str(out), "--sampler-option", given]) == 2
    err = capsys.readouterr().err
    name = given.split("=")[0]
    # the value as typed (was its JSON reading: max_episode_tokens='abc', =True for true)
    assert f"error: sampler_options: --sampler-option {shown} (agent episodes): {name}: {problem}" in err, err
    assert f"Fix: pass {'a str' if name == 'turn_prefix' else 'a'}" in err and example in err, err
    assert "Traceback" not in err and not out.exists()


@pytest.mark.parametrize("given, argument, fix", [
    ("max_episode_tokens=1e9", "max_episode_tokens: is 1,000,000,000: with a first observation of ",
     "Fix: pass --sampler-option max_episode_tokens="),
    ("max_len=1e9", "max_len: is 1,000,000,000, more than the 16,384 positions the small GPT takes",
     "Fix: pass --sampler-option max_len=768 (or leave max_len out"),
])
def test_positions_past_what_the_small_gpt_takes_are_refused_before_the_warm_start(tmp_path, capsys, monkeypatch,
                                                                                    given, argument, fix):
    from treecredit.training import agent_loop

    built = []
    monkeypatch.setattr(agent_loop, "build_agent_policy", lambda *a, **k: built.append(a))
    out = tmp_path / "run"
    assert main(["train", *TINY, "--out", str(out), "--sampler-option", given]) == 2
    err = capsys.readouterr().err
    assert argument in err and fix in err and "Traceback" not in err, err
    assert f"--sampler-option {given} (agent episodes)" in err, err  # as typed: 1e9, not 1000000000
    assert built == [] and not out.exists()  # was: a GPT of 10⁹ positions in the warm start, after the folder


def test_the_largest_max_episode_tokens_the_refusal_names_is_accepted(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["train", *TINY, "--out", str(out), "--sampler-option", "max_episode_tokens=99999"]) == 2
    fits = int(capsys.readouterr().err.split("max_episode_tokens=")[-1].split(" ")[0])
    config = TrainConfig(env="gridworld", sampler_options={"max_episode_tokens": fits})
    from treecredit.envs import make_env
    from treecredit.training.agent_checks import MAX_GPT_POSITIONS, eval_instances, gpt_positions

    held = eval_instances(make_env("gridworld"), 2)
    episode, agent = split_sampler_options(config.sampler_options)
    assert gpt_positions(held, EpisodeSettings(**episode), agent) == MAX_GPT_POSITIONS
    with pytest.raises(ValueError, match="more than the 16,384 it takes"):
        gpt_positions(held, EpisodeSettings(max_episode_tokens=fits + 1), agent)


def test_values_are_converted_as_env_option_values_are():
    episode, agent = split_sampler_options({"max_episode_tokens": "300", "fork_children": 3.0, "marker": 5,
                                            "turn_prefix": "> ", "fork_at": [1], "expert_noise": 0, "max_len": 512.0})
    assert episode == {"max_episode_tokens": 300, "fork_children": 3, "marker": "5", "turn_prefix": "> ",
                       "fork_at": [1]}
    assert agent == {"expert_noise": 0.0, "max_len": 512}
    assert type(agent["expert_noise"]) is float and type(agent["max_len"]) is int
    with pytest.raises(ValueError, match=r"has \['max_lenn'\], not options of the agent sampler"):
        split_sampler_options({"max_lenn": 3})


def test_a_python_config_is_refused_with_the_python_form_too():
    with pytest.raises(ValueError, match=r"max_episode_tokens: is 'abc' \(str\), not an int .*\(in Python: "
                                         r"sampler_options=\{'max_episode_tokens': 400\}\)"):
        TrainConfig(env="gridworld", sampler_options={"max_episode_tokens": "abc"})


@pytest.mark.parametrize("settings, message", [
    ({"max_episode_tokens": "abc"}, r"^max_episode_tokens: is 'abc' \(str\), not a whole number of tokens\. Fix: "
                                    r"pass an int, e.g\. max_episode_tokens=400"),
    ({"action_max_tokens": 2.5}, r"^action_max_tokens: is 2.5 \(float\), not a whole number .*action_max_tokens=12"),
    ({"max_episode_tokens": True}, r"^max_episode_tokens: is True \(bool\)"),
    ({"marker": 5}, r"^marker: is 5 \(int\), not text\. Fix: pass a str, e.g\. marker='\\n'"),
    ({"turn_prefix": None}, r"^turn_prefix: is None \(NoneType\), not text"),
])
def test_episode_settings_built_in_python_refuse_a_wrong_type_by_name(settings, message):
    with pytest.raises(ValueError, match=message):  # was: TypeError from a comparison or a concatenation
        EpisodeSettings(**settings)
