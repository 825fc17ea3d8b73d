"""Stopping a run cleanly on SIGINT (Ctrl-C) or SIGTERM: finish the step, save, say how to resume.

:class:`StopRequest` replaces the two handlers while the training loop runs: the first signal only
records that a stop was asked for (the loop checks :attr:`StopRequest.signum` between steps, saves a
checkpoint and raises :class:`RunInterrupted`); it also puts the previous handlers back, so that a second
signal stops at once, without saving. Outside the main thread (where Python cannot install handlers)
it does nothing.
"""

from __future__ import annotations

import signal
import threading

SIGNALS = (signal.SIGINT, signal.SIGTERM)


class RunInterrupted(Exception):
    """A run stopped by a signal after saving its checkpoint; ``str()`` says how to resume."""

    def __init__(self, message: str, signum: int, step: int) -> None:
        super().__init__(message)
        self.signum = signum
        self.step = step

    @property
    def exit_code(self) -> int:
        """The shell convention for a process ended by a signal: 128 + its number (130 for SIGINT)."""
        return 128 + int(self.signum)


class StopRequest:
    """Context manager: records SIGINT/SIGTERM instead of dying mid-step (see the module docstring)."""

    def __init__(self, log=print) -> None:
        self.signum: int | None = None
        self.log = log
        self._previous: dict = {}

    def _handle(self, signum, frame) -> None:
        self.signum = signum
        self._restore()
        self.log(f"{signal.Signals(signum).name} received: stopping after this step and saving a checkpoint "
                 "(send it again to stop at once without saving)")

    def _restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in SIGNALS:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc) -> None:
        self._restore()

