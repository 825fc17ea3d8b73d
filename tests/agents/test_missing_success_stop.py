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


def test_an_episode_dropped_in_the_closing_evaluation_of_a_budget_stops_the_run(tmp_path, monkeypatch):
    """A run whose next step passes its token budget ends with an evaluation of the last step that fit: an episode
    dropped there for a missing success stops the run with the same error (it was counted, never acted on)."""
    from treecredit.training import budget

    monkeypatch.setenv(FIXED, "1")  # the steps' and step 0's episodes report success
    monkeypatch.setattr(budget, "passes_budget", lambda config, counters, tokens: counters["step"] >= 1)
    set_aside = budget.StepBudget.set_aside_if_past

    def broken_at_the_close(self, counters, tokens, log, *, evaluate, **kwargs):
        def evaluate_broken():
            monkeypatch.delenv(FIXED)  # the closing evaluation's episodes end without success
            return evaluate()
        return set_aside(self, counters, tokens, log, evaluate=evaluate_broken, **kwargs)

    monkeypatch.setattr(budget.StepBudget, "set_aside_if_past", broken_at_the_close)
    config = preflight_config(tmp_path, "test_missing_success_stop:LateNoSuccess", eval_problems=2, steps=0,
                              token_budget=10**6, warm_start_steps=0, eval_every=0, checkpoint_every=0,
                              env_options={"max_turns": 3, "holes": 0.0})
    with pytest.raises(ValueError, match=r"^env: (an episode|\d+ episodes) of env 'test_missing_success_stop:"
                       r"LateNoSuccess' ended without info\['success'\] by step 1, .*the run stopped after step 1, "
                       r"its checkpoint is saved"):  # was: the run ended as finished, its eval success short
        train_agent(config, log=lambda *a: None)
    assert read_checkpoint(tmp_path / "run" / "checkpoint.pt")["counters"]["step"] == 1


def test_a_drop_counts_by_the_error_the_env_raised_not_by_the_warnings_text():
    """Another env error whose text reads like the refusal (an env quoting one) is no missing success; the refusal
    itself counts whatever the warning says around it."""
    from treecredit.agents.episodes import DroppedEpisode
    from treecredit.envs.base import SuccessNotReported
    from treecredit.training.agent_success import MissingSuccessWatch

    said: list[str] = []
    watch = MissingSuccessWatch("mine", said.append)
    quoted = "env: X._step('a') raised SuccessNotReported: no 'success'"
    watch.warn(DroppedEpisode(f"episode of instance 3 dropped at turn 1: the env's X.step('a') raised "
                              f"ValueError: {quoted}", ValueError(quoted)))
    watch.warn(f"warning: raised SuccessNotReported: {quoted}")  # a plain line: no error to read
    assert not watch.stops() and len(said) == 2  # was: both counted, by the text " raised SuccessNotReported: "
    refusal = SuccessNotReported("env", "X._step('a'): ended the episode (done=True) without 'success'",
                                 (), verb="", brief="b")
    watch.warn(DroppedEpisode("episode of instance 4 dropped", refusal))
    assert watch.stops() and watch.dropped == 1 and "ended the episode (done=True)" in str(
        watch.stop_error(2, "c.json"))
