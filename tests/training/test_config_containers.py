"""A list or dict field given as text (trial38 2): a config file's ``task_options: prompt_column=question``,
``sampler_options: fork_at=1``, JSON ``"estimator_options": "norm_by_std=false"``, or Python's
``TrainConfig(sampler_options='x=1')`` is refused naming the field, the file and the mapping meant (before: a raw
TypeError/AttributeError traceback, ``dictionary update sequence element #0``, or accepted silently); one reward
as text (``reward: math``) is the one-item list that one ``--reward`` gives (before: read letter by letter,
"unknown reward 'm'")."""

import json
import re

import pytest
import tomllib
import yaml

from treecredit.cli import main
from treecredit.training.config import TrainConfig
from treecredit.training.config_file import load_config_file

SMALL = dict(steps=1, n_layer=1, n_head=2, n_embd=16, warm_start_steps=0, eval_problems=4)


@pytest.mark.parametrize("field, value, meant, flags", [
    ("sampler_options", "x=1", {"x": 1}, "--sampler-option x=1"),
    ("estimator_options", "norm_by_std=false, scale=std", {"norm_by_std": False, "scale": "std"},
     "--estimator-option norm_by_std=false --estimator-option scale=std"),
    ("task_options", "prompt_column=question", {"prompt_column": "question"}, "--task-option prompt_column=question"),
    ("branching_options", "children=2 depth=3", {"children": 2, "depth": 3},
     "--branching-option children=2 --branching-option depth=3")])
def test_python_refuses_a_dict_field_given_as_text(tmp_path, field, value, meant, flags):
    with pytest.raises(ValueError, match=rf"^{field}: is the text {re.escape(repr(value))}, not a dict of option "
                                         rf"names to values\. Fix: pass a dict, e.g\. {field}="
                                         rf"{re.escape(repr(meant))} \(on the command line: {re.escape(flags)}\)\.$"):
        TrainConfig(out=str(tmp_path / "run"), **{field: value})


@pytest.mark.parametrize("field, value", [("estimator_options", "a"), ("env_options", [1]), ("task_options", None)])
def test_python_refuses_a_dict_field_that_is_no_mapping(tmp_path, field, value):
    with pytest.raises(ValueError, match=rf"^{field}: is .*, not a dict of option names to values\. Fix: pass a dict"):
        TrainConfig(out=str(tmp_path / "run"), **{field: value})
    with pytest.raises(ValueError, match=r"^module_folders: is the text 'x', not a dict\. Fix: leave module_folders"):
        TrainConfig(out=str(tmp_path / "run"), module_folders="x")


def test_python_takes_one_reward_as_a_one_item_list(tmp_path):
    def mine(prompts, completions, **kwargs):
        return [0.0] * len(completions)

    assert TrainConfig(out=str(tmp_path / "run"), reward="numeric").reward == ["numeric"]
    assert TrainConfig(out=str(tmp_path / "run"), reward=("numeric", "exact@0.5")).reward == ["numeric", "exact@0.5"]
    assert TrainConfig(out=str(tmp_path / "run"), reward=mine).reward == [mine]
    with pytest.raises(ValueError, match=r"^reward: is 3 \(an int\), not a list\. Fix: pass a list"):
        TrainConfig(out=str(tmp_path / "run"), reward=3)


@pytest.mark.parametrize("suffix, text, field, meant", [
    (".yaml", "task_options: prompt_column=question\n", "task_options", {"prompt_column": "question"}),
    (".yaml", "sampler_options: fork_at=1\n", "sampler_options", {"fork_at": 1}),
    (".json", '{"estimator_options": "norm_by_std=false", "steps": 1}', "estimator_options", {"norm_by_std": False}),
    (".toml", 'task_options = "prompt_column=question"\n', "task_options", {"prompt_column": "question"})])
def test_a_config_file_names_the_key_and_writes_the_mapping_in_its_format(tmp_path, suffix, text, field, meant):
    path = tmp_path / f"c{suffix}"
    path.write_text(text)
    with pytest.raises(ValueError, match=rf"^config: '.*c\{suffix}' sets {field}: the text '.*', not a mapping of "
                                         rf"option names to values\. Fix: write (.*) in the file, or give them on "
                                         rf"the command line: --") as info:
        load_config_file(path)
    written = re.search(r"Fix: write (.*) in the file", str(info.value)).group(1)
    parse = {".yaml": yaml.safe_load, ".toml": tomllib.loads, ".json": lambda t: json.loads("{" + t + "}")}[suffix]
    assert parse(written) == {field: meant}  # the fix, pasted in the file, is the mapping meant
    path.write_text("{" + written + "}" if suffix == ".json" else written + "\n")
    assert load_config_file(path) == {field: meant}


def test_a_config_file_with_an_empty_mapping_or_a_reward_mapping_is_refused(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("task_options:\n  # prompt_column: question\n")
    with pytest.raises(ValueError, match=r"sets task_options: no value \(null\), not a mapping .* or delete the line"):
        load_config_file(path)
    path.write_text("reward: {math: 1}\n")
    with pytest.raises(ValueError, match=r"sets reward: \{'math': 1\} \(a dict\), not a list\. Fix: write reward: "
                                         r"\[math, 'my_rewards:fn@0\.5'\] in the file \(one reward may be written "
                                         r"as its text: reward: math\)"):
        load_config_file(path)


@pytest.mark.parametrize("text", ["reward: numeric\n", "reward: [numeric]\n"])
def test_a_config_file_takes_one_reward_as_text(tmp_path, text):
    path = tmp_path / "c.yaml"
    path.write_text(text)
    values = load_config_file(path)
    assert TrainConfig(out=str(tmp_path / "run"), **values).reward == ["numeric"]


def test_train_refuses_text_options_in_its_config_file_before_any_work(tmp_path, capsys):
    path = tmp_path / "c.yaml"
    path.write_text("sampler_options: fork_at=1\n")
    out = tmp_path / "run"
    # with a --sampler-option flag too: the flag's options were merged into the file's text (a TypeError)
    for extra in ([], ["--sampler-option", "schedule=rounds"]):
        assert main(["train", "--config", str(path), "--out", str(out), *extra]) == 2
        err = capsys.readouterr().err
        assert "Traceback" not in err and "sets sampler_options: the text 'fork_at=1'" in err, err
    assert not out.exists()
