"""A ``--reward module:function`` whose module was edited between a stop and ``--resume`` (trial42, finding 1): the
resume imports it anew (so that a broken reward can be fixed) and warns, on stderr and in the run's log.txt, naming
the file and saying that the run's results mix two rewards; an unchanged module, or a run saved before modules were
fingerprinted, resumes without it."""

import json
import os
import sys
import warnings

import pytest

from treecredit.training.metrics import read_metrics

REWARD = "def score(prompts, completions, **kw):\n    return [{value} for c in completions]\n"


def _setup(tmp_path, monkeypatch):
    from treecredit import user_modules

    name = f"tc_edited_{os.getpid()}"
    (tmp_path / "mine").mkdir()
    module = tmp_path / "mine" / f"{name}.py"
    module.write_text(REWARD.format(value="1.0"))
    monkeypatch.setattr(sys, "path", [str(tmp_path / "mine"), *sys.path])  # restored afterwards
    monkeypatch.setattr(user_modules, "_FOLDERS", {})
    _new_process(name)  # not the module of an earlier test of this process
    out = tmp_path / "run"
    args = ["train", "--out", str(out), "--steps", "1", "--reward", f"{name}:score", "--warm-start-steps", "0",
            "--n-layer", "1", "--n-head", "2", "--n-embd", "16", "--prompts-per-step", "2", "--group-size", "2",
            "--minibatches", "1", "--eval-problems", "4", "--no-progress", "--no-tensorboard",
            "--cache-dir", str(tmp_path / "cache")]
    return name, module, out, args


def _new_process(name):
    """As a new process would: the module imported again from its file."""
    import importlib

    sys.modules.pop(name, None)
    importlib.invalidate_caches()


def test_an_edited_reward_module_is_warned_about_on_resume(tmp_path, monkeypatch):
    from treecredit.cli import main

    name, module, out, args = _setup(tmp_path, monkeypatch)
    assert main(args) == 0
    recorded = json.loads((out / "config.json").read_text())["data_fingerprints"][f"module:{name}"]
    assert recorded["module_file"] == str(module) and recorded["bytes"] == module.stat().st_size
    resume = ["train", "--config", str(out / "config.json"), "--resume", "--steps"]
    _new_process(name)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert main([*resume, "2"]) == 0  # unchanged: no warning
    assert "changed since the run" not in (out / "log.txt").read_text()
    module.write_text(REWARD.format(value="0.5"))  # the reward edited between a stop and the resume
    _new_process(name)
    with pytest.warns(UserWarning) as caught:  # the command shows it on stderr (pytest catches it here)
        assert main([*resume, "3"]) == 0  # warned, not refused: the docs say a broken reward can be fixed this way
    said = f"reward: the reward module {name} ({module}: "
    err = "\n".join(str(w.message) for w in caught)
    assert said in err and f"changed since the run in {out} started" in err
    assert "the steps trained from here on use the edited reward" in err and "mix two rewards" in err
    log = (out / "log.txt").read_text()
    assert f"warning: {said}" in log and log.count("mix two rewards") == 1
    rewards = [r["reward"] for r in read_metrics(out / "metrics.jsonl") if r["kind"] == "train"]
    assert rewards == [1.0, 1.0, 0.5]  # the resumed step used the edited reward
    _new_process(name)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert main([*resume, "4"]) == 0  # config.json now records the edited module: said once, at the edit


def test_a_run_saved_before_modules_were_fingerprinted_is_not_checked(tmp_path, monkeypatch):
    from treecredit.training.config import TrainConfig
    from treecredit.training.preflight import check_same_data

    name, module, out, _ = _setup(tmp_path, monkeypatch)
    config = TrainConfig(out=str(out), reward=[f"{name}:score"], progress=False)
    assert f"module:{name}" in config.data_fingerprints
    out.mkdir()
    saved = config.to_dict()
    module.write_text(REWARD.format(value="0.5"))
    _new_process(name)
    now = TrainConfig(out=str(out), reward=[f"{name}:score"], progress=False)
    (out / "config.json").write_text(json.dumps({**saved, "data_fingerprints": {}}))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_same_data(out / "config.json", now)  # nothing recorded: not checked
    (out / "config.json").write_text(json.dumps(saved))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_same_data(out / "config.json", now)  # recorded: warned, never refused
    assert [str(w.message).startswith(f"reward: the reward module {name} ") for w in caught] == [True]
    assert TrainConfig(out=str(out), reward=["math"], progress=False).data_fingerprints == {}  # built-in: none
