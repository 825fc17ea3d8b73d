"""How the ``treecredit`` command handles stop signals while it runs, and ends its process once it is over
(:func:`treecredit.cli.entry`).

While the command runs, SIGTERM raises :class:`Terminated` and SIGINT ``KeyboardInterrupt``
(:func:`terminate_interrupts`). Once it is over (it returned its status), its process ends without Python's
teardown of every module and object (0.8 s after a small training run, about 3 s on a busy machine:
:func:`end_process`), and a stop signal then does not change its status: the first one within a second of the
command's end is passed over (its work is done; the process is ending), a second one, or any one later, ends the
process at once with the command's status (until 2026-12-03 both signals were ignored from then on, so a process
whose exit hung, on a thread that is not a daemon or an ``atexit`` function that blocks, could only be killed).
A failed flush of stdout or stderr at the end (a full disk, ``> /dev/full``) is said on stderr and ends the
process with status 120, as Python's own exit does (until 2026-12-03 it was passed over and the status stayed 0);
a closed pipe (``treecredit demo | head``) is passed over. While the command runs, stdout is guarded
(:class:`GuardedStdout`): a failed write raises :class:`StdoutFailed`, which the command says in one line, with
status 120.
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from typing import NoReturn

SECOND_SIGNAL_AFTER = 1.0
"""Seconds after the command's end within which the first stop signal is passed over; after them any signal ends
the process at once (with the command's status)."""

FLUSH_FAILED = 120
"""The exit status when stdout or stderr cannot be flushed at the end: Python's own (``Py_RunMain``)."""


class Terminated(KeyboardInterrupt):
    """SIGTERM outside the training loop's own handling (imports, pre-flight, warm start): raised like Ctrl-C's
    ``KeyboardInterrupt``, so that the run's log says it stopped and the command says what was left, where the
    signal's default action would end the process without a word. Exit code 143 (128 + 15)."""

    def __init__(self, message: str = "SIGTERM (terminated)") -> None:
        super().__init__(message)


class Ending:
    """The command's status (``code``, set by the command's block and by :func:`end_process`), when it returned
    (``since``, ``time.monotonic()``) and the stop signals counted since (``signals``): what
    :func:`after_command` reads. One per process, :data:`_ending` (a command run in another thread gets its own,
    which no handler reads)."""

    def __init__(self) -> None:
        self.code: int | None = None
        self.since: float | None = None
        self.signals = 0


_ending = Ending()
"""The process's command status: what :func:`terminate_interrupts` yields (in the main thread), the signal
handler :func:`after_command` reads and :func:`end_process` sets."""


@contextlib.contextmanager
def terminate_interrupts(ignore_after: bool = False):
    """While the command runs (in the main thread), SIGTERM raises :class:`Terminated` and SIGINT
    ``KeyboardInterrupt``, also where the process inherited the signal as ignored (SIGINT in a job started with
    ``&`` from a script; either under a supervisor that ignores it): the training loop's
    :class:`~treecredit.training.stopping.StopRequest` heeds both whatever was inherited, so start-up does too,
    rather than dropping a signal and training to the end. A handler set by the caller (a Python function) is
    kept. ``StopRequest`` replaces these while the loop runs (first signal: save and stop) and calls them for a
    second signal. Yields the process's :class:`Ending` (:data:`_ending`, cleared): set its ``code`` to the
    command's status before the block ends.

    Afterwards the handlers before are put back, or (``ignore_after``: the process ends with the command, and the
    block ended without an exception) both signals go to :func:`after_command`: the first within
    :data:`SECOND_SIGNAL_AFTER` seconds is passed over, a second or a later one ends the process at once with the
    command's status. A Python handler runs throughout :func:`end_process` (no teardown resets it to the
    default action)."""
    import signal
    import threading

    if threading.current_thread() is not threading.main_thread():
        yield Ending()
        return

    def terminate(signum, frame):
        raise Terminated()

    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM)}
    mine = {signal.SIGINT: signal.default_int_handler, signal.SIGTERM: terminate}
    replaced = [sig for sig, handler in previous.items() if handler in (signal.SIG_DFL, signal.SIG_IGN)
                and not (sig == signal.SIGINT and handler == signal.SIG_DFL)]  # SIG_DFL SIGINT: set on purpose
    for sig in replaced:
        signal.signal(sig, mine[sig])
    _ending.code, _ending.since, _ending.signals = None, None, 0
    finished = False
    try:
        yield _ending
        finished = True
    finally:
        if ignore_after and finished:
            _ending.since, _ending.signals = time.monotonic(), 0
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, after_command)
        else:
            for sig in replaced:
                signal.signal(sig, previous[sig])


def after_command(signum, frame) -> None:
    """The stop signals' handler once the command returned its status: the first within
    :data:`SECOND_SIGNAL_AFTER` seconds is passed over (a line on stderr says so), a second or a later one ends the
    process at once, with the command's status (files open for writing are closed first; a third signal while
    they are does not wait for them), or :data:`FLUSH_FAILED` when stdout or stderr could not be flushed then, as
    :func:`end_process` (until 2026-12-03 a signal that ended a hung exit kept the command's status, 0 after
    saying that the end of stdout could not be written)."""
    _ending.signals += 1
    waited = time.monotonic() - (_ending.since or 0.0)
    code = _ending.code or 0
    if _ending.signals == 1 and waited < SECOND_SIGNAL_AFTER:
        _say(f"treecredit: the command is over (exit status {code}) and its process is ending; a second stop "
             "signal ends it at once")
        return
    failed = close_open_files() if _ending.signals <= 2 else False
    os._exit(FLUSH_FAILED if failed else code)


def end_process(code: int) -> NoReturn:
    """End this process with exit status ``code`` as Python's exit would, without its teardown of every module
    and object (0.8 s after a small training run, about 3 s on a busy machine: some 2,900 modules and 380,000
    objects): threads that are not daemons are waited for, the ``atexit`` functions run (logging's flush,
    multiprocessing's children, ``weakref.finalize``, torch's own), stdout and stderr are flushed and every other
    file still open for writing is closed (as the teardown would close it), then ``os._exit``. A failed flush of
    stdout or stderr other than a closed pipe is said on stderr, and the status is then
    :data:`FLUSH_FAILED` (120), as Python's. The stop signals should go to :func:`after_command` before
    (:func:`terminate_interrupts`' ``ignore_after``)."""
    import atexit
    import threading

    _ending.code = code
    try:
        current = threading.current_thread()
        while True:  # as Python's exit, which waits for them (a signal's handler runs meanwhile)
            waiting = [t for t in threading.enumerate() if t is not current and t.is_alive() and not t.daemon]
            if not waiting:
                break
            for thread in waiting:
                thread.join()
        atexit._run_exitfuncs()
    finally:
        failed = close_open_files()
        os._exit(FLUSH_FAILED if failed else code)


def close_open_files() -> bool:
    """Flush stdout and stderr, and close every other file object open for writing (text layers before the
    buffers under them), as Python's teardown would; the layers of stdin, stdout and stderr (file descriptors 0,
    1, 2) are flushed, not closed. True when stdout or stderr could not be flushed for another reason than a
    closed pipe (said in one line on stderr where it can be); other errors are passed over."""
    import _io  # io's C classes: issubclass is fast against them (io.IOBase is an ABC: 4x slower here)
    import gc

    # type(), not isinstance: a lazy module's proxy would be asked its __class__ (and warn)
    files = sorted((o for o in gc.get_objects() if issubclass(type(o), _io._IOBase)),
                   key=lambda f: not issubclass(type(f), _io._TextIOBase))
    failed = False
    for file in [sys.stdout, sys.stderr, *files]:
        standard = False
        try:
            if file is None or file.closed or not file.writable():
                continue
            standard = _descriptor(file) in (0, 1, 2)
            if standard:
                file.flush()
            else:
                file.close()
        except BrokenPipeError:
            pass
        except (OSError, ValueError, RuntimeError) as exc:  # (RuntimeError: a reentrant flush, from a handler)
            if standard and isinstance(exc, OSError) and not failed:
                failed = True
                name = {1: "stdout", 2: "stderr"}.get(_descriptor(file), "stdin")
                _say(f"treecredit: error: could not write the end of {name} ({exc})")
    return failed


class StdoutFailed(OSError):
    """A write to stdout, or its flush, failed for another reason than a closed pipe (a full disk: ``> /dev/full``),
    raised by :class:`GuardedStdout` in place of the ``OSError``, so that no handler takes it for a failure of the
    file it writes itself (a run folder's ``write_errors`` said "free space on its disk" of the run folder)."""


class GuardedStdout:
    """``sys.stdout`` while a command runs (:meth:`install`): writes and flushes go to the stdout before it, and a
    failure other than a closed pipe is kept (:attr:`failed`, the first) and raised as :class:`StdoutFailed`. The
    failure is kept also where a caller swallows it (argparse's help and ``--version`` pass over an ``OSError``),
    so that the command can say it and exit :data:`FLUSH_FAILED`. Every other attribute is the stdout's own.

    A closed pipe (the reader of ``| head -1`` exited) raises ``BrokenPipeError``, unless :attr:`closed_pipe_note`
    is set (a command that writes files, ``cli.GOES_ON_AFTER_CLOSED_PIPE``: ``train``, ``compare``, ``lab``,
    ``export``): then the first one puts ``os.devnull`` in place
    of the stdout's file descriptor, says the note in one line on stderr, and that write and every later one is
    dropped, so that the command goes on to its end (until 2026-12-03 a run stopped at the next line it printed,
    without saving, and exited 0 without a word). :attr:`pipe_closed` says that it happened."""

    def __init__(self, file) -> None:
        self._file = file
        self.failed: OSError | None = None
        self.closed_pipe_note: str | None = None
        self.pipe_closed = False

    @classmethod
    def install(cls) -> GuardedStdout:
        """Put a guard around the current ``sys.stdout`` (:meth:`uninstall` puts it back)."""
        guard = cls(sys.stdout)
        sys.stdout = guard  # type: ignore[assignment]
        return guard

    def uninstall(self) -> None:
        """Put the stdout before back, unless something replaced this guard meanwhile."""
        if sys.stdout is self:
            sys.stdout = self._file

    def write(self, text: str) -> int:
        return self._guarded(self._file.write, text, dropped=len(text))

    def writelines(self, lines) -> None:
        self._guarded(self._file.writelines, lines)

    def flush(self) -> None:
        self._guarded(self._file.flush)

    def _guarded(self, method, *args, dropped=None):
        try:
            return method(*args)
        except BrokenPipeError:
            if self.closed_pipe_note is None:
                raise
            self._drop_output()
            return dropped
        except OSError as exc:
            if self.failed is None:
                self.failed = exc
            raise StdoutFailed(exc.errno, exc.strerror) from exc

    def _drop_output(self) -> None:
        """After a closed pipe (once): ``os.devnull`` in place of the stdout's file descriptor (what its buffer
        holds, and what a process started later inherits, goes there), and the note on stderr."""
        if self.pipe_closed:
            return
        self.pipe_closed = True
        try:
            devnull = os.open(os.devnull, os.O_WRONLY)
            try:
                os.dup2(devnull, self._file.fileno())
            finally:
                os.close(devnull)
            self._file.flush()  # the buffered rest, to os.devnull
        except (OSError, ValueError):  # no file descriptor (an in-memory file): each later write is dropped here
            pass
        _say(self.closed_pipe_note or "")

    def __getattr__(self, name: str):
        if name == "_file":  # not set yet (a copy being made): no endless recursion
            raise AttributeError(name)
        return getattr(self._file, name)


def stdout_failed_line(exc: OSError, command: str = "", note: str = "") -> str:
    """The one line that says stdout could not be written (``exc``) and the fix; ``command`` names the
    subcommand, ``note`` what the command left (said after its reason)."""
    import errno

    name = errno.errorcode.get(exc.errno or -1, "")
    reason = (exc.strerror or str(exc)) + (f" ({name})" if name else "")
    said = f"; {note}" if note else ""
    return (f"treecredit{' ' + command if command else ''}: error: could not write to stdout: {reason}{said}. Fix: "
            "free space on the disk stdout goes to, or send stdout elsewhere (> FILE on a disk with room)")


def _say(line: str) -> None:
    """``line`` on file descriptor 2 directly (not through ``sys.stderr``, which may be what failed)."""
    try:
        os.write(2, (line + "\n").encode(errors="replace"))
    except OSError:
        pass


def _descriptor(file) -> int | None:
    """``file``'s file descriptor, None where it has none (an in-memory file)."""
    try:
        return file.fileno()
    except (OSError, ValueError):
        return None
