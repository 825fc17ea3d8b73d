"""A task run keeps ``log.txt`` in its folder: its start line, notes, warnings (Python's included) and how it
ended, timestamped; ``--resume`` appends, ``--overwrite`` starts it anew, a refused run leaves it alone."""

import re
import warnings

import pytest

from treecredit.training.config import TrainConfig
from treecredit.training.run_log import RunLog, clean_lines, logged_warnings, warned_runs_line
from treecredit.training.stopping import RunInterrupted

STAMP = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d  "

# a 2-step tree run of an untrained GPT: it gets the note that grpo gives no tree credit, and its trees do not
# branch (the policy never writes the delimiter), which treecredit warns about with warnings.warn
TINY = dict(steps=2, n_layer=1, n_head=2, n_embd=16, warm_start_steps=0, prompts_per_step=2, group_size=4,
            max_new_tokens=6, eval_problems=4, progress=False, tensorboard=False, sampler="tree", estimator="grpo",
            task_options={"min_operators": 1, "max_operators": 1})


def tiny(tmp_path, **overrides) -> TrainConfig:
    return TrainConfig(**{**TINY, "out": str(tmp_path / "run"), "cache_dir": str(tmp_path / "cache"), **overrides})


def entries(path) -> list[str]:
    """The entries of a log.txt, their timestamps checked and removed."""
    lines = path.read_text().splitlines()
    assert all(re.match(STAMP, line) or line.startswith(" " * 21) for line in lines), lines
    return [line[21:] for line in lines if re.match(STAMP, line)]


def test_a_task_run_logs_its_start_notes_python_warnings_and_end(tmp_path, capsys):
    from treecredit.training.loop import train

    with pytest.warns(UserWarning, match="the trees did not branch"):  # still shown as before
        train(tiny(tmp_path))
    said = entries(tmp_path / "run" / "log.txt")
    assert said[0].startswith("run started: task arithmetic, estimator grpo, seed 0, out ")
    assert any(e.startswith("note: --estimator grpo gives every token") for e in said)  # what log printed
    assert "note: --estimator grpo gives every token" in capsys.readouterr().out  # and still prints
    assert sum(e.startswith("warning: --sampler tree: no two responses of any group share") for e in said) == 1
    assert said[-1].startswith("run ended at step 2 (") and "held-out sampled pass@1: " in said[-1]
    assert logged_warnings(tmp_path / "run") == 1


def test_resume_appends_and_overwrite_starts_anew_and_a_refused_run_leaves_the_log(tmp_path):
    from treecredit.training.loop import train

    config = tiny(tmp_path, sampler="iid", steps=3, checkpoint_every=1)
    train(config, stop_at_step=1)  # as a kill after step 1
    log = tmp_path / "run" / "log.txt"
    first = log.read_text()
    with pytest.raises(ValueError, match="already holds a run"):
        train(config)  # refused before any work: the log is not touched
    assert log.read_text() == first
    train(config, resume=True)
    text = log.read_text()
    assert text.startswith(first)  # appended
    said = entries(log)[len(entries_of(first)):]
    assert said[0].startswith("run resumed (--resume): ") and any(e.startswith("resumed from ") and
                                                                    e.endswith(" at step 1") for e in said)
    assert said[-1].startswith("run ended at step 3 (")
    train(config, overwrite=True)
    said = entries(log)
    assert said[0].startswith("run started: ") and not any(e.startswith("run resumed") for e in said)


def entries_of(text: str) -> list[str]:
    return [line for line in text.splitlines() if re.match(STAMP, line)]


def test_a_run_with_a_progress_bar_keeps_the_bar_out_of_its_log(tmp_path, capsys):
    from treecredit.training.loop import train

    train(tiny(tmp_path, sampler="iid", progress=True, sample_every=1))
    assert "train:" in capsys.readouterr().err  # the bar was drawn
    text = (tmp_path / "run" / "log.txt").read_text()
    assert "\r" not in text and "it/s" not in text and "step/s" not in text and "train:" not in text
    assert "run ended at step 2" in text


@pytest.mark.parametrize("error, entry", [
    (RuntimeError("update went wrong"), "error: RuntimeError: update went wrong"),
    (RunInterrupted("stopped by SIGINT after step 1; checkpoint saved", 2, 1),
     "stopped by SIGINT after step 1; checkpoint saved"),
])
def test_what_stopped_a_run_ends_its_log(tmp_path, monkeypatch, error, entry):
    from treecredit.training import loop

    def broken(*args, **kwargs):
        raise error

    monkeypatch.setattr(loop, "ppo_update", broken)
    with pytest.raises(type(error)):
        loop.train(tiny(tmp_path, sampler="iid"))
    assert entries(tmp_path / "run" / "log.txt")[-1] == entry


def test_run_log_keeps_lines_until_begin_and_drops_them_when_the_run_never_began(tmp_path):
    with pytest.warns(DeprecationWarning), RunLog(tmp_path / "a", resume=False) as log:
        log.tee(lambda *parts: None)("checked", 1)
        warnings.warn("from a package", DeprecationWarning, stacklevel=1)
    assert not (tmp_path / "a").exists()  # refused by its checks: no folder, no file
    with pytest.warns(UserWarning), RunLog(tmp_path / "b", resume=False) as log:
        warnings.warn("before the folder is ready", UserWarning, stacklevel=1)
        log.begin("run started")
        log.write("two\r\x1b[Atwo lines\n\nsecond")
    said = entries(tmp_path / "b" / "log.txt")
    assert said[0] == "run started"
    assert said[1].startswith("warning: UserWarning: before the folder is ready (") and "test_run_log.py:" in said[1]
    assert said[2] == "two lines"
    assert (tmp_path / "b" / "log.txt").read_text().splitlines()[-1] == " " * 21 + "second"


def test_a_log_that_cannot_be_written_never_stops_the_run(tmp_path, capsys):
    (tmp_path / "log.txt").mkdir()  # the file cannot be opened
    with RunLog(tmp_path, resume=False) as log:
        log.begin("run started")
        log.tee(print)("still printed")
    captured = capsys.readouterr()
    assert "still printed" in captured.out and "cannot write" in captured.err and "log.txt" in captured.err


def test_clean_lines_keeps_what_a_terminal_shows():
    assert clean_lines("train:  10%|#  | 1/10\rtrain: 100%|###| 10/10\n\n  \nnext") == [
        "train: 100%|###| 10/10", "next"]


def test_warned_runs_line_names_the_runs_whose_log_holds_warnings(tmp_path):
    for name, lines in (("a-seed0", ["note: fine"]), ("b-seed0", ["warning: one", "warning: two"])):
        with RunLog(tmp_path / "runs" / name, resume=False) as log:
            log.begin("run started")
            for line in lines:
                log.write(line)
    folders = [tmp_path / "runs" / n for n in ("a-seed0", "b-seed0", "missing-seed0")]
    assert warned_runs_line(folders) == f"1 run logged warnings: {folders[1] / 'log.txt'} (2 warnings)"
    assert warned_runs_line(folders[:1]) == ""


def test_reward_logger_lines_are_kept_and_a_session_keeps_at_most_max_entries(tmp_path, monkeypatch, caplog):
    import logging

    from treecredit.training import run_log

    monkeypatch.setattr(run_log, "MAX_ENTRIES", 3)
    with RunLog(tmp_path, resume=False) as log:
        log.begin("run started")
        logging.getLogger("treecredit.rewards").warning("reward: %s raised on a completion", "my_rewards:f")
        for n in range(5):
            log.write(f"line {n}")
        log.write("run ended", always=True)
    assert entries(tmp_path / "log.txt") == [
        "run started", "warning: reward: my_rewards:f raised on a completion", "line 0", "line 1",
        "log.txt: 3 entries written this session; further ones are left out (the run's output still shows them)",
        "run ended"]
    assert "my_rewards:f raised" in caplog.text  # the logger's own output is unchanged


def test_the_config_folder_note_is_in_the_runs_log(tmp_path, capsys):
    import json

    from treecredit.cli import main

    (tmp_path / "copy").mkdir()  # a run folder copied elsewhere: its config.json still names the old out
    (tmp_path / "copy" / "config.json").write_text(json.dumps(tiny(tmp_path, steps=1, sampler="iid").to_dict()))
    (tmp_path / "copy" / "metrics.jsonl").write_text("")
    assert main(["train", "--config", str(tmp_path / "copy" / "config.json")]) == 0
    note = next(line for line in capsys.readouterr().err.splitlines() if "names out" in line)
    said = entries(tmp_path / "run" / "log.txt")
    assert said[0].startswith("run started: ") and said[1] == note  # the run the note is about keeps it


def test_the_compile_note_is_in_the_runs_log(tmp_path, monkeypatch, capsys):
    from treecredit.models import compiled_step
    from treecredit.training.loop import train

    monkeypatch.setattr(compiled_step, "compiled", lambda fn: fn)  # the step run eagerly: compiling takes ~20 s
    monkeypatch.setattr(compiled_step, "_seen", set())
    train(tiny(tmp_path, steps=1, sampler="iid", compile_decode="on"))
    assert "treecredit: compiling the decoding step" in capsys.readouterr().err
    assert sum(e.startswith("treecredit: compiling the decoding step of a ") for e in
               entries(tmp_path / "run" / "log.txt")) == 1
    assert not compiled_step.NOTE_LISTENERS  # the run's log listens only while the run runs
