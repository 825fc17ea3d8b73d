"""``train --overwrite`` sets the earlier run aside until the new run trains its first step: a start that fails
before it (its warm start, a check of the step-0 evaluation, a Ctrl-C) puts the earlier run back, losing nothing;
once a step trained, the earlier run is gone. (Was: deleted before the warm start.)"""

from pathlib import Path

import pytest

from treecredit.training import loop
from treecredit.training.out_folder import put_back, set_aside


def _files(run: Path) -> dict:
    return {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}


def test_a_task_run_that_fails_before_its_first_step_puts_the_earlier_run_back(tiny_config, monkeypatch):
    config = tiny_config(steps=1, eval_every=1, warm_start_steps=2, eval_problems=2, prompts_per_step=2, group_size=2)
    loop.train(config, log=lambda *a: None)
    run = Path(config.out)
    before = _files(run)

    def broken(*args, **kwargs):
        raise RuntimeError("the warm start broke")

    monkeypatch.setattr(loop, "build_policy", broken)
    with pytest.raises(RuntimeError, match="the warm start broke"):
        loop.train(tiny_config(steps=1, eval_every=1, warm_start_steps=2, eval_problems=2, prompts_per_step=2,
                               group_size=2, seed=5), overwrite=True, log=lambda *a: None)
    after = _files(run)
    assert {k: v for k, v in after.items() if k != "log.txt"} == {k: v for k, v in before.items() if k != "log.txt"}
    assert "the warm start broke" in after["log.txt"].decode()
    assert not (run / ".replaced-run").exists()


def test_set_aside_and_put_back_move_only_the_run_files(tmp_path):
    run = tmp_path / "run"
    (run / "tensorboard").mkdir(parents=True)
    for name, text in [("config.json", "{}"), ("metrics.jsonl", "m"), ("checkpoint.pt", "c"), ("checkpoint.pt.sha256",
                       "s"), ("log.txt", "old log\n"), ("notes.txt", "mine"), ("tensorboard/events", "e")]:
        (run / name).write_text(text)
    assert set_aside(run)
    assert sorted(p.name for p in run.iterdir()) == [".replaced-run", "notes.txt"]
    (run / "config.json").write_text("{'new': 1}")
    (run / "log.txt").write_text("new start\n")
    said = []
    put_back(run, said.append)
    assert (run / "config.json").read_text() == "{}" and (run / "checkpoint.pt.sha256").read_text() == "s"
    assert (run / "tensorboard" / "events").read_text() == "e" and (run / "notes.txt").read_text() == "mine"
    assert (run / "log.txt").read_text().startswith("old log\n") and "new start" in (run / "log.txt").read_text()
    assert not (run / ".replaced-run").exists() and "was put back" in said[0]


def test_a_start_killed_before_its_first_step_keeps_the_run_before_it(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.jsonl").write_text("the real run")
    set_aside(run)
    (run / "config.json").write_text("the killed start's")  # killed: neither put back nor dropped
    set_aside(run)  # the next --overwrite start
    assert not (run / "config.json").exists()
    put_back(run, lambda *a: None)
    assert (run / "metrics.jsonl").read_text() == "the real run"


def test_a_stop_before_step_1_under_overwrite_says_the_earlier_run_is_back(tmp_path):
    # was: "Start again with `treecredit train --config <out>/config.json --overwrite`", the earlier run's config
    # once it is put back
    import signal

    from treecredit.training.stopping import RunInterrupted

    run = tmp_path / "run"
    run.mkdir()
    (run / "metrics.jsonl").write_text("the earlier run")
    set_aside(run)

    class Writer:
        path = run / "metrics.jsonl"

        def close(self):
            pass

    with pytest.raises(RunInterrupted, match=r"before the first RL step; the earlier run in .* is put back as it "
                       r"was .*Start this run again with the command you ran \(with --overwrite\)"):
        loop._interrupt(signal.SIGINT, {"step": 0}, 0, lambda: None, Writer(), None)
    put_back(run, lambda *a: None)
    with pytest.raises(RunInterrupted, match=r"no checkpoint was saved\. Start the run again from step 0 with "
                       r"`treecredit train --config .*--resume`"):
        loop._interrupt(signal.SIGINT, {"step": 0}, 0, lambda: None, Writer(), None)
