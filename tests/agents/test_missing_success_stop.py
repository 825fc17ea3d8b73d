"""An env that sets ``info["success"]`` on the episode the check before any work plays (the expert's) but ends other
episodes without it, later in a run: the run saves its checkpoint, then stops with an error naming the env and
the fix, and ``--resume`` continues once the env is fixed (before, such episodes were dropped with a warning and
the run went on, its success figures read off the episodes that reported it)."""

import os

import pytest
from agent_helpers import preflight_config

from treecredit.envs.gridworld import MOVES, GridWorld
from treecredit.training.agent_loop import train_agent
from treecredit.training.checkpoint import read_checkpoint

FIXED = "TREECREDIT_TEST_SUCCESS_FIXED"
"""Set: the env below is mended (its episodes all report success)."""


class LateNoSuccess(GridWorld):
    """Any text is an action; a text that is not a move goes nowhere (``success`` False, the episode goes on) on the
    first turn and ends the episode on the second, without ``success`` unless :data:`FIXED` is set. The expert's
    moves reach the goal with ``success`` True, so the check before any work passes."""

    def parse_action(self, text):
        return super().parse_action(text) or text or "?"

    def _step(self, action):
        if action in MOVES:
            return super()._step(action)
        if len(self.actions) < 2:
            return self._view(), 0.0, False, {"success": False}
        return "tripped.", 0.0, True, {"success": False} if os.environ.get(FIXED) else {}


def test_an_episode_that_ends_without_success_mid_run_stops_the_run_after_its_checkpoint(tmp_path, monkeypatch):
    monkeypatch.delenv(FIXED, raising=False)
    config = preflight_config(tmp_path, "test_missing_success_stop:LateNoSuccess", eval_problems=2, steps=3,
                              warm_start_steps=0, eval_every=0, checkpoint_every=0,
                              env_options={"max_turns": 3, "holes": 0.0})
    messages: list[str] = []
    with pytest.raises(ValueError, match=r"^env: (an episode|\d+ episodes) of env 'test_missing_success_stop:"
                       r"LateNoSuccess' ended without info\['success'\] by step 1, .*LateNoSuccess\._step\('.*'\): "
                       r"ended the episode \(done=True\) with an info without keys.*the run stopped after step 1, its "
                       r"checkpoint is saved\. Fix: set info\['success'\] in the env's _step on every step that ends "
                       r"an episode .*then resume with `treecredit train --config .*config\.json --resume`"):
        train_agent(config, log=messages.append)
    assert read_checkpoint(tmp_path / "run" / "checkpoint.pt")["counters"]["step"] == 1  # the stop's: no other
    assert any(m.startswith("warning: episode of instance") and "no 'success'" in m for m in messages)
    monkeypatch.setenv(FIXED, "1")  # the env mended: the run resumes from step 1 to its end
    messages.clear()
    records = train_agent(config, resume=True, log=messages.append)
    assert [r["step"] for r in records if r["kind"] == "train"] == [1, 2, 3]
    assert any(m.startswith("resumed from") for m in messages)
    assert read_checkpoint(tmp_path / "run" / "checkpoint.pt")["counters"]["step"] == 3
