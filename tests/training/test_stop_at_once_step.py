"""A second stop signal ends a run at once, without saving the step under way: the run says which checkpoint it
keeps (its step), so that a reader knows where ``--resume`` goes on from."""

from __future__ import annotations

import os
import signal
from pathlib import Path

import pytest


def test_a_double_sigint_names_the_step_of_the_checkpoint_kept(tiny_config, warm_start_cache, monkeypatch):
    # was: "interrupted; the run in ... saved a checkpoint" (the command's line), while the checkpoint kept was
    # step 4's and the run had reached step 5: no step named
    from treecredit.training import metrics
    from treecredit.training.checkpoint import load_latest_checkpoint
    from treecredit.training.loop import train

    real = metrics.MetricsWriter.write

    def write(self, record):  # two Ctrl-Cs 0 ms apart while step 5 is written
        real(self, record)
        if record["kind"] == "train" and record["step"] == 5:
            os.kill(os.getpid(), signal.SIGINT)
            os.kill(os.getpid(), signal.SIGINT)

    monkeypatch.setattr(metrics.MetricsWriter, "write", write)
    config = tiny_config(steps=10, checkpoint_every=2, warm_start_steps=20, cache_dir=warm_start_cache,
                         prompts_per_step=2, group_size=2, eval_every=0, eval_problems=2)
    said: list[str] = []
    with pytest.raises(KeyboardInterrupt):
        train(config, log=said.append)
    line = ("SIGINT received again: stopping at once without saving; the checkpoint kept is the one of step 4 "
            "(--resume goes on from step 4; the steps after it are not kept)")
    assert line in said and line in (Path(config.out) / "log.txt").read_text()
    assert load_latest_checkpoint(Path(config.out), log=lambda *a: None)["counters"]["step"] == 4


@pytest.mark.parametrize("saved,words", [(None, "stopping at once without saving this step"),
                                         (0, "stopping at once without saving; no checkpoint of this run was saved")])
def test_a_double_signal_without_a_saved_step_says_so(saved, words):
    from treecredit.training.stopping import kept_line

    assert kept_line("SIGTERM", saved) == f"SIGTERM received again: {words}"
