"""Lines a run prints while its bar is shown, where the bar draws to a file (``> log 2>&1``, a CI log): printed as
they are, without redrawing the bar (trial38 finding 9: ``--sample-every 2`` wrote 13 ``train:`` bar lines with stale
counts into the log of a 6-step run; docs/runs.md says a log gets a line every 30 s)."""

import io

import torch
from tqdm.auto import tqdm

from treecredit.training.loop import train
from treecredit.training.progress import LOG_INTERVAL_S, above_bar

torch.set_num_threads(1)


def test_lines_beside_a_bar_in_a_file_do_not_redraw_it(capsys):
    stream = io.StringIO()  # not a terminal
    bar = tqdm(total=6, desc="train", unit="step", file=stream, mininterval=LOG_INTERVAL_S)
    drawn = stream.getvalue().count("train:")
    log = above_bar(print, bar)
    for step in range(1, 7):
        log(f"[step {step}] reward 0.000\n  prompt: 6+6=\n  completion: 12")
        bar.update(1)
    assert stream.getvalue().count("train:") == drawn == 1  # the bar, drawn once at the start; no redraw per line
    assert stream.getvalue().endswith("\n")  # the lines begin on a line of their own
    out = capsys.readouterr().out
    assert out.count("[step ") == 6 and out.startswith("[step 1] reward 0.000\n  prompt: 6+6=")
    bar.close()


def test_a_run_with_samples_writes_its_bar_to_a_file_once_per_interval(tiny_config, warm_start_cache, capsys):
    config = tiny_config(steps=6, sample_every=2, progress=True, eval_problems=4, prompts_per_step=2, group_size=2,
                         eval_every=0, checkpoint_every=0, cache_dir=warm_start_cache)
    capsys.readouterr()
    train(config)  # stdout and stderr captured: not a terminal
    captured = capsys.readouterr()
    assert {f"[step {s}]" in captured.out for s in (2, 4, 6)} == {True} and "[step 1]" not in captured.out
    # the bar drawn at its start and at its close (6 steps take less than LOG_INTERVAL_S), not once per sample line
    assert captured.err.count("train:") <= 3, captured.err
