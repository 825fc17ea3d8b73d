"""A run is never lost: no silent overwrite of a run folder, and a resume refuses what changed since the run
started (settings, dataset, a folder with no run) and accepts what only looks different (the folder spelt
otherwise, fields added since, a module reward from another folder). Checkpoints and signals: test_run_safety.py."""

import json
import os
import sys
from pathlib import Path

import pytest

from treecredit.training.loop import train
from treecredit.training.metrics import read_metrics

QUIET = {"log": lambda *a: None}


def test_an_earlier_run_is_never_overwritten_silently(cached_config):
    config = cached_config(steps=1, eval_every=1)
    train(config, **QUIET)
    before = (Path(config.out) / "metrics.jsonl").read_text()
    with pytest.raises(ValueError, match=r"^out: .* already holds a run\. Fix: pass --resume .* --overwrite"):
        train(config, **QUIET)
    assert (Path(config.out) / "metrics.jsonl").read_text() == before
    (Path(config.out) / "notes.txt").write_text("mine")
    records = train(cached_config(steps=2, eval_every=1), overwrite=True, **QUIET)
    assert [r["step"] for r in records if r["kind"] == "train"] == [1, 2]
    assert (Path(config.out) / "notes.txt").read_text() == "mine"  # only the run's own files are replaced


def test_resume_accepts_the_same_folder_spelled_differently(cached_config, tmp_path, monkeypatch):
    train(cached_config(steps=1, eval_every=1, cache_dir=str(tmp_path / "cache")), **QUIET)
    monkeypatch.chdir(tmp_path)
    records = train(cached_config(steps=2, eval_every=1, out="run/", cache_dir="cache/"), resume=True, **QUIET)
    assert [r["step"] for r in records if r["kind"] == "train"] == [1, 2]


def test_a_run_folder_without_a_checkpoint_points_to_resume_and_overwrite(cached_config):
    config = cached_config(steps=1)
    out = Path(config.out)
    out.mkdir(parents=True)
    (out / "config.json").write_text("{}")  # a run that trained steps but stopped before its first checkpoint
    (out / "metrics.jsonl").write_text(json.dumps({"kind": "eval", "step": 0}) + "\n"
                                       + json.dumps({"kind": "train", "step": 1}) + "\n")
    with pytest.raises(ValueError, match=r"^out: .* saved no checkpoint .*Fix: pass --resume to start it again "
                                         r"from step 0.*--overwrite"):
        train(config, **QUIET)


@pytest.mark.parametrize("metrics", [None, [{"kind": "eval", "step": 0}]])
def test_a_run_folder_that_trained_nothing_says_overwrite_loses_nothing(cached_config, metrics):
    """A start whose check failed after it wrote config.json and log.txt (trial 18: an agent run's position check),
    or one stopped in its step-0 evaluation: the next attempt with a fixed value is told that --overwrite loses no
    training, on a fresh start and on a --resume with other settings (which resume refuses)."""
    config = cached_config(steps=1)
    out = Path(config.out)
    out.mkdir(parents=True)
    (out / "config.json").write_text("{}")
    (out / "log.txt").write_text("started\n")
    if metrics:
        (out / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in metrics))
    with pytest.raises(ValueError, match=r"^out: .* already holds a run that stopped before its first training step "
                                         r"\(no checkpoint, no step in its metrics\)\. Fix: pass --overwrite to start "
                                         r"anew there \(nothing trained is lost\), --resume"):
        train(config, **QUIET)
    with pytest.raises(ValueError, match=r"^resume: .* was started with other values of .*Fix: pass --overwrite "
                                         r"instead of --resume to start anew with these settings \(the run there "
                                         r"stopped before its first training step: nothing trained is lost\)"):
        train(config, resume=True, **QUIET)
    kept = ["config.json", "log.txt"] + ["metrics.jsonl"] * bool(metrics)
    assert sorted(p.name for p in out.iterdir()) == sorted(kept)  # nothing written by the refused attempts


def test_resume_refuses_changed_settings_and_accepts_fields_added_since_at_their_default(tmp_path):
    import json

    from treecredit.training.config import TrainConfig
    from treecredit.training.preflight import check_same_settings

    config = TrainConfig(out=str(tmp_path / "run"), lr=5e-4)
    saved = config.to_dict()
    del saved["max_len"]  # a run saved before the field existed
    path = tmp_path / "config.json"
    path.write_text(json.dumps(saved))
    check_same_settings(path, config)  # the new field at its default: the same run
    check_same_settings(path, TrainConfig(out=str(tmp_path / "run"), lr=5e-4, steps=999))  # may change
    with pytest.raises(ValueError, match=r"^resume: .*\['max_len'\]"):
        check_same_settings(path, TrainConfig(out=str(tmp_path / "run"), lr=5e-4, max_len=128))
    with pytest.raises(ValueError, match=r"^resume: .*\['lr'\] \(lr: saved 0.0005, now 0.001\).*--resume"):
        check_same_settings(path, TrainConfig(out=str(tmp_path / "run"), lr=1e-3))


def test_resuming_a_finished_run_says_so_and_trains_nothing(cached_config):
    train(cached_config(steps=1, eval_every=1), **QUIET)
    lines: list[str] = []
    records = train(cached_config(steps=1, eval_every=1), resume=True, log=lines.append)
    assert [r["step"] for r in records if r["kind"] == "train"] == [1]
    assert any("already finished" in line and "larger --steps" in line for line in lines)


def test_dataset_paths_are_stored_absolute_and_resume_from_another_folder(tmp_path, monkeypatch):
    from treecredit.training.config import TrainConfig
    from treecredit.training.preflight import check_same_settings

    (tmp_path / "data").mkdir()
    rows = "".join(json.dumps({"prompt": f"{i}+1=", "answer": str(i + 1)}) + "\n" for i in range(4))
    (tmp_path / "data" / "train.jsonl").write_text(rows)
    (tmp_path / "data" / "test.jsonl").write_text(rows)
    monkeypatch.chdir(tmp_path)
    config = TrainConfig(dataset="data/train.jsonl", task_options={"held_out_path": "data/test.jsonl"},
                         out=str(tmp_path / "run"), progress=False)
    assert config.dataset == str(tmp_path / "data" / "train.jsonl")
    assert config.task_options["held_out_path"] == str(tmp_path / "data" / "test.jsonl")
    saved = tmp_path / "config.json"  # a run saved before paths were stored absolute
    saved.write_text(json.dumps({**config.to_dict(), "dataset": "data/train.jsonl",
                                 "task_options": {"held_out_path": "data/test.jsonl"}}))
    check_same_settings(saved, config)  # the same files: accepted
    monkeypatch.chdir(tmp_path / "data")
    assert TrainConfig(**json.loads(json.dumps(config.to_dict()))).dataset == config.dataset


def test_a_module_reward_resumes_from_another_folder_without_it_on_the_path(cached_config, tmp_path, monkeypatch,
                                                                           capsys):
    import importlib

    from treecredit import user_modules
    from treecredit.cli import main

    name = f"tc_reward_{os.getpid()}"
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / f"{name}.py").write_text(
        "def score(prompts, completions, **kw):\n    return [float(len(c) % 2) for c in completions]\n")
    monkeypatch.setattr(sys, "path", [str(tmp_path / "mine"), *sys.path])  # restored afterwards
    monkeypatch.setattr(user_modules, "_FOLDERS", {})
    out = tmp_path / "run"
    args = ["train", "--out", str(out), "--steps", "1", "--reward", f"{name}:score@0.5", "--warm-start-steps", "0",
            "--n-layer", "1", "--n-head", "2", "--n-embd", "16", "--prompts-per-step", "2", "--group-size", "2",
            "--minibatches", "1", "--eval-problems", "4", "--no-progress", "--no-tensorboard",
            "--cache-dir", str(tmp_path / "cache")]
    assert main(args) == 0
    assert json.loads((out / "config.json").read_text())["module_folders"] == {name: str(tmp_path / "mine")}
    # a new process, elsewhere, without the folder on the path
    sys.path.remove(str(tmp_path / "mine"))
    sys.modules.pop(name)
    importlib.invalidate_caches()
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")
    resume = ["train", "--config", str(out / "config.json"), "--resume", "--steps", "2"]
    assert main(resume) == 0, capsys.readouterr().err
    assert [r["step"] for r in read_metrics(out / "metrics.jsonl") if r["kind"] == "train"] == [1, 2]
    sys.modules.pop(name)  # the folder moved away: an error naming --reward, the recorded folder and the fix
    sys.path.remove(str(tmp_path / "mine"))
    (tmp_path / "mine").rename(tmp_path / "moved")
    capsys.readouterr()
    assert main(resume[:-1] + ["3"]) == 2
    err = capsys.readouterr().err
    assert f"reward: module {name!r}" in err and f"nor from {tmp_path / 'mine'}" in err
    assert f"PYTHONPATH=/path/to/folder treecredit train ... --reward {name}:score" in err


def test_resume_of_a_folder_that_holds_no_run_is_refused(cached_config):
    config = cached_config(steps=1)
    with pytest.raises(ValueError, match=r"^resume: .* holds no run to resume .*Fix: pass the --out of the run to "
                                         r"continue, or drop --resume to start a new run there"):
        train(config, resume=True, **QUIET)
    assert not Path(config.out).exists()


def test_a_resume_refuses_a_dataset_that_changed_since_the_run_started(tmp_path):
    from treecredit.training.config import TrainConfig
    from treecredit.training.preflight import check_out

    data = tmp_path / "data.jsonl"
    rows = [{"prompt": f"{i}+1=", "answer": str(i + 1)} for i in range(8)]
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "run"
    out.mkdir()
    config = TrainConfig(dataset=str(data), out=str(out), progress=False)
    assert config.data_fingerprints[str(data)]["bytes"] == data.stat().st_size
    (out / "config.json").write_text(json.dumps(config.to_dict()))
    check_out(TrainConfig(dataset=str(data), out=str(out), progress=False), resume=True, overwrite=False)
    rows[3]["answer"] = "99"  # an answer changed, the same number of rows
    data.write_text("".join(json.dumps(r) + "\n" for r in rows))
    with pytest.raises(ValueError, match=r"dataset: .*data.jsonl changed since the run .*--overwrite"):
        check_out(TrainConfig(dataset=str(data), out=str(out), progress=False), resume=True, overwrite=False)
    data.write_text("".join(json.dumps(r) + "\n" for r in rows[:6]))  # rows cut
    with pytest.raises(ValueError, match=r"dataset: .*changed since the run"):
        check_out(TrainConfig(dataset=str(data), out=str(out), progress=False), resume=True, overwrite=False)
    check_out(TrainConfig(dataset=str(data), out=str(out), progress=False), resume=False, overwrite=True)


def test_compile_decode_saved_as_a_switch_resumes_as_on_or_off(tmp_path):
    """Runs saved when compile_decode was a switch (true/false) compare as "on"/"off"; the new default "auto"
    is another setting (compiled decoding may draw other tokens at float rounding), refused naming it."""
    import json

    from treecredit.training.config import TrainConfig
    from treecredit.training.preflight import check_same_settings

    saved = TrainConfig(out=str(tmp_path / "run")).to_dict()
    saved["compile_decode"] = False
    path = tmp_path / "config.json"
    path.write_text(json.dumps(saved))
    check_same_settings(path, TrainConfig(out=str(tmp_path / "run"), compile_decode="off"))
    check_same_settings(path, TrainConfig(out=str(tmp_path / "run"), compile_decode=False))
    with pytest.raises(ValueError, match=r"compile_decode: saved 'off', now 'auto'"):
        check_same_settings(path, TrainConfig(out=str(tmp_path / "run")))


def test_a_dataset_run_saves_no_task_and_resumes_old_runs_that_saved_the_default(tmp_path):
    """A dataset (or agent) run has no task: its config.json leaves out TrainConfig's unused default
    ``task: arithmetic``; loading the file gives the same settings back, and a run saved with that default
    (before this change) still resumes; a task run still saves its task."""
    from treecredit.training.config import TrainConfig
    from treecredit.training.preflight import check_same_settings

    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps({"prompt": f"{i}+1=", "answer": str(i + 1)}) + "\n" for i in range(8)))
    config = TrainConfig(dataset=str(data), out=str(tmp_path / "run"), progress=False)
    saved = config.saved_dict()
    assert "task" not in saved and saved["dataset"] == config.dataset
    assert TrainConfig(**saved) == config
    agent = TrainConfig(env="gridworld", out=str(tmp_path / "agent"))
    assert "task" not in agent.saved_dict() and "max_len" not in agent.saved_dict()  # its positions are its own
    assert TrainConfig(**agent.saved_dict()) == agent
    assert TrainConfig(task="countdown").saved_dict()["task"] == "countdown"
    assert TrainConfig(task="countdown").saved_dict()["max_len"] == 96
    path = tmp_path / "config.json"
    for written in (saved, config.to_dict()):  # now, and as runs saved it before
        path.write_text(json.dumps(written))
        check_same_settings(path, config)
    for written in (agent.saved_dict(), agent.to_dict()):
        path.write_text(json.dumps(written))
        check_same_settings(path, agent)


def test_a_finished_run_resumed_with_fewer_steps_keeps_its_config(cached_config, tmp_path):
    """A trial resumed a 3-step run with --steps 2: nothing trains, and config.json kept saying steps 3 (it
    said 2 before, which no longer described the run); a resume with more steps records them."""
    config = cached_config(steps=3, warm_start_steps=0, eval_problems=2, prompts_per_step=2, group_size=2)
    train(config, **QUIET)
    path = Path(config.out) / "config.json"
    train(cached_config(steps=2, warm_start_steps=0, eval_problems=2, prompts_per_step=2, group_size=2), resume=True,
          **QUIET)
    assert json.loads(path.read_text())["steps"] == 3
    train(cached_config(steps=4, warm_start_steps=0, eval_problems=2, prompts_per_step=2, group_size=2), resume=True,
          **QUIET)
    assert json.loads(path.read_text())["steps"] == 4
