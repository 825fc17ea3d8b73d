"""An agent run refused by its env checks (a held-out set covering a finite pool, episodes that do not fit in
--sampler-option max_len) touches no file: under --overwrite the earlier run is left as it was."""

import pytest
from agent_helpers import tiny_agent_config

from treecredit.training.agent_loop import train_agent


@pytest.mark.parametrize("changes, message", [
    ({"eval_problems": 64, "env_options": {"pool": 4, "max_turns": 3, "holes": 0.0}}, r"^eval_problems: is 64"),
    ({"sampler_options": {"max_len": 40, "max_episode_tokens": 200}}, r"^sampler_options: .*max_len"),
])
def test_a_refused_overwrite_leaves_the_earlier_run(tmp_path, monkeypatch, changes, message):
    config = tiny_agent_config(monkeypatch, tmp_path, "poolgrid", "agent_helpers:PoolGrid", steps=1, eval_problems=1)
    train_agent(config, log=lambda *a: None)
    run = tmp_path / "run"
    before = {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}
    assert "checkpoint.pt" in before and "metrics.jsonl" in before
    refused = tiny_agent_config(monkeypatch, tmp_path, "poolgrid", "agent_helpers:PoolGrid", steps=1, **changes)
    with pytest.raises(ValueError, match=message):
        train_agent(refused, overwrite=True, log=lambda *a: None)
    assert {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()} == before  # was: only config.json, log.txt
    with pytest.raises(ValueError, match=message):  # into a new folder: nothing is made there either
        train_agent(tiny_agent_config(monkeypatch, tmp_path / "new", "poolgrid", "agent_helpers:PoolGrid", **changes),
                    log=lambda *a: None)
    assert not (tmp_path / "new" / "run").exists()


def _files(run):
    return {p.name: p.read_bytes() for p in run.iterdir() if p.is_file()}


def test_an_overwrite_that_fails_in_its_warm_start_puts_the_earlier_run_back(tmp_path, monkeypatch):
    """--overwrite sets the earlier run aside until the new one trains a step: a warm start whose env raises (or
    any error, a Ctrl-C, before step 1) leaves it as it was (was: deleted, only config.json and log.txt left)."""
    import treecredit.agents.policy as agent_policy

    config = tiny_agent_config(monkeypatch, tmp_path, "poolgrid", "agent_helpers:PoolGrid", steps=1, eval_problems=1)
    train_agent(config, log=lambda *a: None)
    run = tmp_path / "run"
    before = _files(run)
    assert "checkpoint.pt" in before and "metrics.jsonl" in before

    def broken(*args, **kwargs):
        raise RuntimeError("boom in the warm start")

    monkeypatch.setattr(agent_policy, "warm_start_agent", broken)
    again = tiny_agent_config(monkeypatch, tmp_path, "poolgrid", "agent_helpers:PoolGrid", steps=1, eval_problems=1,
                              warm_start_steps=2, seed=3)
    said = []
    with pytest.raises(RuntimeError, match="boom in the warm start"):
        train_agent(again, overwrite=True, log=said.append)
    after = _files(run)
    assert {name: after[name] for name in before if name != "log.txt"} == \
        {name: data for name, data in before.items() if name != "log.txt"}
    log = after["log.txt"].decode()
    assert log.startswith(before["log.txt"].decode())  # the earlier run's log, then the failed start's
    assert "stopped before its first training step" in log and "boom in the warm start" in log
    assert not (run / ".replaced-run").exists() and any("was put back" in line for line in said)
    monkeypatch.undo()
    records = train_agent(tiny_agent_config(monkeypatch, tmp_path, "poolgrid", "agent_helpers:PoolGrid", steps=1,
                                            eval_problems=1, seed=3), overwrite=True, log=lambda *a: None)
    assert [r["step"] for r in records if r["kind"] == "train"] == [1]
    assert not (run / ".replaced-run").exists()
    assert _files(run)["metrics.jsonl"] != before["metrics.jsonl"]  # replaced once a step trained
