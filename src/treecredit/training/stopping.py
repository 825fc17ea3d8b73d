"""Stopping a run cleanly on SIGINT (Ctrl-C) or SIGTERM: finish the step, save, say how to resume.

:class:`StopRequest` replaces the two handlers while the training loop runs: the first signal only records
that a stop was asked for (the loop checks :attr:`StopRequest.signum` between steps, saves a checkpoint and
raises :class:`RunInterrupted`: :func:`stop_and_save`); a second signal stops at once, without saving, naming
the step of the checkpoint kept (:func:`kept_line`): it puts
the previous handlers back and hands the signal to the previous handler when that is a Python function, else
raises ``KeyboardInterrupt`` (SIGINT) or ends the process by the signal (SIGTERM), also when the process
inherited the signal as ignored (started with ``&`` from a script, or under ``nohup``). Outside the main
thread (where Python cannot install handlers) it does nothing.

A comparison (``treecredit compare``) handles the signals once, in its parent process (:class:`StopAll`):
the first sets a number shared with its worker processes, which the runs' ``StopRequest`` read
(:func:`follow`) instead of handling signals of their own (a terminal's Ctrl-C reaches every process of
its group); the second stops at once.
"""

from __future__ import annotations

import os
import signal
import threading
from typing import NoReturn

SIGNALS = (signal.SIGINT, signal.SIGTERM)

_FOLLOWED: list = []
"""``[value, parent pid or None]`` while this process follows a comparison's stop (:func:`follow`)."""

_ENDED: list = []
"""``[True]`` once this process's run wrote its summary (``run ended at step …`` in ``log.txt``): see
:func:`mark_run_ended`."""

_DONE: list = []
"""``[exit code]`` once this process's command wrote all it writes (a comparison's report): see
:func:`mark_command_done`."""


def mark_run_ended(ended: bool = True) -> None:
    """Record that the run wrote its summary (the training loop, after its ``run ended`` line; ``False`` when a
    run starts). A stop signal after that (while the files are listed, the process exits) ends the command with
    exit status 0, not 130/143: the run finished, and its checkpoint and summary are written (the CLI's ``main``)."""
    _ENDED[:] = [True] if ended else []


def run_ended() -> bool:
    """Whether this process's run wrote its summary (:func:`mark_run_ended`)."""
    return bool(_ENDED)


def mark_command_done(code: int | None) -> None:
    """Record that the command wrote all it writes (``compare``: its final report) and ends with exit status
    ``code`` once it has printed what it prints; None when a command starts. A stop signal after that ends the
    command with ``code``, not 130/143 (the CLI's ``main``)."""
    _DONE[:] = [] if code is None else [int(code)]


def command_done() -> int | None:
    """The exit status :func:`mark_command_done` recorded; None while the command's work is not all written."""
    return _DONE[0] if _DONE else None


class RunCounts:
    """How many of a comparison's ``total`` runs have started and finished (the caller counts them), for what
    :class:`StopAll` says when a signal comes: the runs still running stop, those not started do not start, or
    every run has finished and only the report is left."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.started = 0
        self.finished = 0

    @property
    def running(self) -> int:
        return max(0, self.started - self.finished)

    @property
    def waiting(self) -> int:
        return max(0, self.total - self.started)


class RunInterrupted(Exception):
    """A run stopped by a signal after saving its checkpoint; ``str()`` says how to resume."""

    def __init__(self, message: str, signum: int, step: int) -> None:
        super().__init__(message)
        self.signum = signum
        self.step = step

    def __reduce__(self):  # picklable: a comparison's worker process returns it to the parent
        return type(self), (str(self), self.signum, self.step)

    @property
    def exit_code(self) -> int:
        """The shell convention for a process ended by a signal: 128 + its number (130 for SIGINT)."""
        return 128 + int(self.signum)


class StoppedAtOnce(RunInterrupted):
    """A comparison stopped by a second signal: its running runs were ended without saving (:class:`StopAll`)."""


def follow(value, parent: int | None = None) -> None:
    """Make this process's :class:`StopRequest` read the stop from ``value`` (a shared ``multiprocessing``
    int: a signal's number once a stop is asked for, else 0) instead of handling signals; ``parent``: the
    process id of the comparison's parent, whose death also stops the run (SIGTERM). None: stop following."""
    _FOLLOWED[:] = [] if value is None else [value, parent]


def follow_in_worker(value) -> None:
    """A comparison's worker process: :func:`follow` its parent, and leave SIGINT and SIGTERM to the parent
    (a terminal sends Ctrl-C to every process of the group; the parent decides). The handlers are Python
    functions, so that processes started by the run (a code sandbox) get the default handlers back."""
    follow(value, os.getppid())
    for sig in SIGNALS:
        signal.signal(sig, _left_to_parent)


def _left_to_parent(signum, frame) -> None:
    """A signal reaching a comparison's worker: the parent got it too, or decides (see :func:`follow_in_worker`)."""


def stop_asked() -> int | None:
    """The signal number a comparison's stop was asked with (see :func:`follow`); None when none was."""
    if not _FOLLOWED:
        return None
    value, parent = _FOLLOWED
    if value.value:
        return int(value.value)
    if parent is not None and os.getppid() != parent:  # the parent is gone: nobody would collect the run
        return int(signal.SIGTERM)
    return None


class _SignalHandlers:
    """SIGINT/SIGTERM handled by ``handler`` between :meth:`_install` and :meth:`_restore`, which puts the
    previous handlers back (the base of :class:`StopRequest` and :class:`StopAll`). Outside the main thread,
    where Python cannot install handlers, it installs nothing."""

    _previous: dict

    def _install(self, handler) -> None:
        self._previous = {}
        if threading.current_thread() is threading.main_thread():
            for sig in SIGNALS:
                self._previous[sig] = signal.signal(sig, handler)

    def _restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}


class StopRequest(_SignalHandlers):
    """Context manager: records SIGINT/SIGTERM instead of dying mid-step (see the module docstring).

    ``saved_step``: a function giving the step of the run's last saved checkpoint (the training loop's
    ``lambda: saved_step``), which the line of a second signal names as the checkpoint kept; None: not named."""

    def __init__(self, log=print, saved_step=None) -> None:
        self._signum: int | None = None
        self.log = log
        self.saved_step = saved_step
        self._previous = {}

    @property
    def signum(self) -> int | None:
        """The signal that asked for a stop (its own, or a comparison's: :func:`follow`); None while none did."""
        return self._signum if self._signum is not None else stop_asked()

    def _handle(self, signum, frame) -> None:
        if self._signum is None:
            self._signum = signum
            self.log(f"{signal.Signals(signum).name} received: stopping after this step and saving a checkpoint "
                     "(send it again to stop at once without saving)")
            return
        previous = self._previous.get(signum)
        self._restore()
        try:  # said before the stop (what the command prints then names no step); never in its way
            self.log(kept_line(signal.Signals(signum).name, None if self.saved_step is None else self.saved_step()))
        except Exception:
            pass
        _stop_at_once(signum, frame, previous)

    def __enter__(self):
        if not _FOLLOWED:  # a comparison's run: its parent handles the signals (StopAll)
            self._install(self._handle)
        return self

    def __exit__(self, *exc) -> None:
        self._restore()


def kept_line(name: str, saved_step: int | None) -> str:
    """What a run says when a second stop signal (``name``) ends it at once: the step of the checkpoint it
    keeps (``saved_step``; 0: none saved; None: not known), since the steps after it are not saved."""
    if saved_step is None:
        return f"{name} received again: stopping at once without saving this step"
    if saved_step <= 0:
        return f"{name} received again: stopping at once without saving; no checkpoint of this run was saved"
    return (f"{name} received again: stopping at once without saving; the checkpoint kept is the one of step "
            f"{saved_step} (--resume goes on from step {saved_step}; the steps after it are not kept)")


class StopAll(_SignalHandlers):
    """Context manager of a comparison's parent process, around its runs: the first SIGINT/SIGTERM sets
    ``value`` to its number (:func:`follow`: every running run stops after its step and saves its checkpoint;
    the caller starts no further run) and says so on stderr; the second puts the previous handlers back and
    raises :class:`StoppedAtOnce` at once (the caller ends the runs without saving). Runs in this process
    follow ``value`` too. Outside the main thread it installs nothing. ``counts`` (a :class:`RunCounts` the
    caller keeps up to date): what the first signal's line says is left (:func:`stop_line`); when every run has
    finished, the comparison is not stopped: its report is written in full (:attr:`all_finished`)."""

    def __init__(self, value, counts: RunCounts | None = None) -> None:
        self.value = value
        self.counts = counts
        self.signum: int | None = None
        self.all_finished = False
        self._previous = {}

    def _handle(self, signum, frame) -> None:
        name = signal.Signals(signum).name
        if self.signum is None:
            self.signum = self.value.value = signum
            counts = self.counts
            self.all_finished = counts is not None and counts.running == counts.waiting == 0
            _say(f"\n{stop_line(name, counts)}\n")
            return
        self._restore()
        raise StoppedAtOnce(f"stopped at once by a second {name}: the running runs were ended without saving",
                            signum, 0)

    def __enter__(self):
        self._install(self._handle)
        follow(self.value)
        return self

    def __exit__(self, *exc) -> None:
        follow(None)
        self._restore()


def stop_line(name: str, counts: RunCounts | None) -> str:
    """What a comparison says when its first stop signal (``name``) comes, from ``counts`` (None: nothing known
    of its runs): which runs stop after their step with a checkpoint, which do not start, or (every run
    finished) that the report is written and the command ends as it would have."""
    again = "(send it again to stop at once without saving)"
    if counts is None:
        return (f"{name} received: every running run stops after its current step and saves a checkpoint; no "
                f"further run starts {again}")
    if counts.running == counts.waiting == 0:
        return (f"{name} received: every run of the comparison has finished, so nothing is stopped; its report is "
                "written in full and the command ends (send it again to stop at once, before the report is written)")
    running, waiting = counts.running, counts.waiting
    parts = ["the running run stops after its current step and saves a checkpoint" if running == 1 else
             f"the {running} running runs stop after their current step and save their checkpoints"] if running else []
    if waiting:
        parts.append(f"the {waiting} run{'s' * (waiting != 1)} not started yet {'do' if waiting != 1 else 'does'} "
                     "not start")
    return f"{name} received: {'; '.join(parts)} {again}"


def stop_and_save(signum: int, counters: dict, saved_step: int, checkpoint, writer, bar) -> NoReturn:
    """A run's stop at a safe point after signal ``signum`` (the training loops', between steps): save a checkpoint
    (``checkpoint()``, unless the last step is saved already or no step ran), close the progress ``bar`` and the
    metrics ``writer``, and raise :class:`RunInterrupted`, whose text says what was kept and how to resume."""
    from pathlib import Path

    from treecredit.training.out_folder import ASIDE

    step = counters["step"]
    path = checkpoint() if step > saved_step else None
    if bar is not None:
        bar.close()
    writer.close()
    name = signal.Signals(signum).name
    out = Path(writer.path).parent
    # the run folder's config.json holds every setting, so this command resumes exactly
    if step == 0 and (out / ASIDE).is_dir():  # --overwrite: the earlier run goes back (out_folder.replacing)
        message = (f"stopped by {name} before the first RL step; the earlier run in {out} is put back as it was "
                   "(this start's settings are not kept there). Start this run again with the command you ran "
                   "(with --overwrite).")
    elif step == 0:
        message = (f"stopped by {name} before the first RL step; no checkpoint was saved. Start the run again "
                   f"from step 0 with `treecredit train --config {out / 'config.json'} --resume` (its saved "
                   "settings), or anew with new settings and --overwrite.")
    else:
        message = (f"stopped by {name} after step {step}; checkpoint {path or out / 'checkpoint.pt'} is saved. "
                   f"Resume with `treecredit train --config {out / 'config.json'} --resume` (the saved settings; "
                   f"only {resume_may_change()} may change).")
    raise RunInterrupted(message, signum, step)


def resume_may_change() -> str:
    """The flags ``--resume`` may change, as the stop message lists them: from the one list the resume check
    uses (:data:`~treecredit.training.preflight.RESUME_MAY_CHANGE_FLAGS`)."""
    from treecredit.training.preflight import RESUME_MAY_CHANGE_FLAGS

    flags = [f"--{name.replace('_', '-')}" for name in RESUME_MAY_CHANGE_FLAGS]
    return ", ".join(flags[:-1]) + " and " + flags[-1] if len(flags) > 1 else flags[0]


def _stop_at_once(signum, frame, previous) -> None:
    """The second signal: ``previous`` (a Python handler, e.g. the ``KeyboardInterrupt`` of Python's own
    SIGINT handler) when there is one; else ``KeyboardInterrupt`` for SIGINT, and for SIGTERM the end of the
    process by the signal (exit status 143). Never ignored: a previous ``SIG_IGN`` (inherited by a process
    started with ``&`` from a script, or under ``nohup``) would let the run go on and save."""
    if callable(previous):
        previous(signum, frame)
        return
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)


def _say(text: str) -> None:
    """Write to stderr's file descriptor from a signal handler (``print`` may be mid-write in the main thread)."""
    try:
        os.write(2, text.encode())
    except OSError:
        pass
