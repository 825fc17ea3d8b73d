"""Progress of a run and of its warm start: a tqdm bar, or a line every 30 s where there is no bar.

On a terminal a bar redraws in place. Redirected to a file or a CI log, tqdm writes a new line at every
refresh, so there the bar refreshes at most every :data:`LOG_INTERVAL_S` seconds (``mininterval``), and
postfix values are set with ``refresh=False`` (shown at the bar's own interval, not at every step). Lines a
run prints while its bar is shown (samples, notes: :func:`above_bar`) go above the bar on a terminal; elsewhere
they are printed as they are, without redrawing the bar (until 2026-12-03 each redrew it: ``--sample-every 2``
wrote 13 ``train:`` lines with stale counts into the log of a 6-step run).
Task runs, agent runs (``--env``) and the warm starts all show their progress through this module.
"""

from __future__ import annotations

import contextlib
import time

LOG_INTERVAL_S = 30.0


def progress_bar(total: int, *, desc: str, unit: str, initial: int = 0):
    """A tqdm bar on stderr; refreshed at most every :data:`LOG_INTERVAL_S` s when stderr is not a terminal."""
    import sys

    from tqdm.auto import tqdm

    every = {} if sys.stderr.isatty() else {"mininterval": LOG_INTERVAL_S}
    return tqdm(total=total, initial=initial, unit=unit, desc=desc, **every)


def run_bar(config, counters: dict):
    """The bar of a training run when ``config.progress`` (else None): generated tokens against
    ``token_budget`` when the run has one, else steps against ``steps``; starts at ``counters`` (a resume)."""
    if not config.progress:
        return None
    if config.token_budget > 0:
        return progress_bar(config.token_budget, initial=counters["generated_tokens"], unit="tok", desc="train")
    return progress_bar(config.steps, initial=counters["step"], unit="step", desc="train")


def above_bar(log, bar):
    """``log`` for the lines a run prints while ``bar`` is shown, when ``log`` is ``print``: on a terminal through
    ``tqdm.write`` (the line goes above the bar, which is redrawn below it); where the bar's stream is not a
    terminal (a file, a CI log) printed without redrawing the bar (:func:`lines_beside_bar`). ``log`` itself
    otherwise (a caller's own function, or no bar)."""
    if bar is None or log is not print:
        return log
    if not _on_terminal(bar):
        return lines_beside_bar(bar)
    from tqdm.auto import tqdm

    return lambda *parts: tqdm.write(" ".join(str(p) for p in parts))


def _on_terminal(bar) -> bool:
    """Whether ``bar`` draws on a terminal (its stream's ``isatty``; stderr's for a bar without a stream)."""
    import sys

    stream = getattr(bar, "fp", None) or sys.stderr
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):
        return False


def lines_beside_bar(bar):
    """A ``print`` for a run whose ``bar`` draws to a file: each line printed (stdout, flushed) as it is, the bar not
    redrawn (``tqdm.write`` clears and redraws it, which there writes the bar again, stale, once per line). Where the
    bar drew since the last line (its text ends without a newline), a newline on the bar's stream first, so that the
    line starts a line of its own where both streams go to one file."""
    import sys

    seen = {"drawn": None}

    def write(*parts) -> None:
        drawn = getattr(bar, "last_print_t", None)
        if drawn != seen["drawn"]:
            seen["drawn"] = drawn
            try:
                bar.fp.write("\n")
                bar.fp.flush()
            except (AttributeError, ValueError, OSError):
                pass
        print(" ".join(str(p) for p in parts), file=sys.stdout, flush=True)

    return write


@contextlib.contextmanager
def closed_at_exit(bar):
    """Close ``bar`` (None: nothing) when the block ends, also by an exception: a closed bar ends its line,
    so that an error printed then stands on its own line(s), not on the bar's."""
    try:
        yield bar
    finally:
        if bar is not None:
            bar.close()


def advance_bar(bar, config, generated: int, postfix: dict) -> None:
    """Move ``bar`` (None: no bar) by one step, or by ``generated`` tokens under a budget; show ``postfix``."""
    if bar is None:
        return
    bar.set_postfix(postfix, refresh=False)  # shown by the update, at the bar's own interval
    bar.update(generated if config.token_budget > 0 else 1)


def held_out_postfix(last_eval: dict, config, keys: tuple[tuple[str, str], ...], step: dict | None = None) -> dict:
    """The bar's held-out entry: ``{label: value}`` for the first ``(key, label)`` of ``keys`` that
    ``last_eval`` (the last evaluation record; {} before any) holds a number for; labels say which decoding
    (``eval_sampled_pass1``). Left out while the last evaluation is the one before the first step of a run
    that evaluates nowhere between its first and last (``--eval-every 0``, or no more steps than it, by
    :func:`expected_steps` under a token budget: ``step`` is the last train record, with its ``step`` and
    ``generated_tokens``): that value would stand still, stale, for the whole run; the final evaluation shows
    once it has run."""
    from treecredit.training.evaluation import scheduled_between

    if not last_eval or (last_eval.get("step") == 0
                         and not scheduled_between(config.eval_every, expected_steps(config, step))):
        return {}
    for key, label in keys:
        if last_eval.get(key) is not None:
            return {label: f"{last_eval[key]:.2f}"}
    return {}


def expected_steps(config, step: dict | None = None) -> int:
    """How many steps the run will take (0: unknown, no bound): ``config.steps`` without a token budget; under
    one, the step at which ``config.token_budget`` is spent at the mean tokens per step so far (``step``: the
    last train record, ``step`` and ``generated_tokens``), at most ``config.steps`` (0 there: no step bound)."""
    import math

    budget = getattr(config, "token_budget", 0)
    if budget <= 0 or not step or step.get("generated_tokens", 0) <= 0:
        return config.steps
    estimate = max(1, math.ceil(step["step"] * budget / step["generated_tokens"]))
    return min(config.steps, estimate) if config.steps > 0 else estimate


class StepProgress:
    """Progress of a loop of ``total`` steps that prints nothing else (a warm start).

    A context manager; call it once per step with the step's loss. With ``bar`` a tqdm bar (``desc``,
    the last loss as postfix); without, a line ``"<desc>: step 120/300, loss 0.412"`` through ``log`` at most
    every ``every_s`` seconds (none after the last step: the caller reports the end).
    """

    def __init__(self, total: int, desc: str, *, bar: bool, log=print, every_s: float = LOG_INTERVAL_S) -> None:
        self.total, self.desc, self.log, self.every_s = total, desc, log, every_s
        self.bar = progress_bar(total, desc=desc, unit="step") if bar and total > 0 else None
        self.done = 0
        self.last_line = time.perf_counter()

    def __enter__(self) -> "StepProgress":
        return self

    def __exit__(self, *exc) -> None:
        if self.bar is not None:
            self.bar.close()

    def __call__(self, loss: float) -> None:
        self.done += 1
        if self.bar is not None:
            self.bar.set_postfix(loss=f"{loss:.3f}", refresh=False)
            self.bar.update(1)
        elif self.done < self.total and time.perf_counter() - self.last_line >= self.every_s:
            self.log(f"{self.desc}: step {self.done}/{self.total}, loss {loss:.3f}")
            self.last_line = time.perf_counter()
