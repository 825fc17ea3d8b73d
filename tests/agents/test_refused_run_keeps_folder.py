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
