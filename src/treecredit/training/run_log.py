"""A run folder's log file, ``log.txt``: what the run said, one timestamped entry a message, kept with the run.

Every training run (``treecredit train``, task or agent, and each run of ``treecredit compare``) writes there
its start line, the notes and warnings it prints (through its ``log``/``warn`` callbacks: :meth:`RunLog.tee`),
the Python warnings raised while it runs and the ``treecredit.rewards`` logger's lines (a reward function
that raised), the note that the decoding step is being compiled, what the command said about the run before it
began (:func:`carried`: ``train``'s ``--config`` folder note, ``compare``'s warm start), where it resumed, and
how it ended (its last step and held-out result, or the error or signal that stopped it). A fresh run (and
``--overwrite``) starts the file anew; ``--resume`` appends to it.

Progress bars are not written (they go to stderr directly, never through ``log``), and a message is cleaned
of what only a terminal uses: the text before a carriage return (what the terminal overwrites), ANSI escape
sequences and empty lines. A session keeps at most :data:`MAX_ENTRIES` entries (then one line says the rest
was left out; the end line is always written). Writing never stops a run: a folder that cannot be written
is said once on stderr and the run goes on without its file.
"""

from __future__ import annotations

import contextlib
import logging
import re
import sys
import time
import warnings
from pathlib import Path

from treecredit.warnings_display import from_treecredit

LOG_NAME = "log.txt"
MAX_ENTRIES = 10_000
"""Entries one session of a run writes at most (a broken env could otherwise warn about every episode)."""

_STAMP = "%Y-%m-%d %H:%M:%S"
_STAMP_WIDTH = 19
_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
_REWARD_LOGGER = "treecredit.rewards"
_CARRIED: dict[str, list[str]] = {}
"""Entries said about the run in a folder (the key) before its :class:`RunLog` was made (:func:`carried`)."""


def clean_lines(text: str) -> list[str]:
    """``text`` as the lines a terminal would keep: per line the part after its last carriage return, without
    ANSI escape sequences and trailing blanks; empty lines left out."""
    lines = (_ANSI.sub("", line.rsplit("\r", 1)[-1]).rstrip() for line in str(text).split("\n"))
    return [line for line in lines if line.strip()]


def warning_text(message, category, filename: str, lineno: int) -> str:
    """A Python warning as a log entry: ``warning: <message>`` for treecredit's own (as the command shows them),
    ``warning: <Category>: <message> (<file>:<line>)`` for another package's."""
    if from_treecredit(filename):
        return f"warning: {message}"
    return f"warning: {getattr(category, '__name__', category)}: {message} ({filename}:{lineno})"


class RunLog:
    """``<out>/log.txt`` of one session of a run; a context manager.

    Inside it, Python warnings that are shown and the ``treecredit.rewards`` logger's warnings are written
    too (the warnings still show as before; each run starts with fresh once-only filters, so a warning shown
    by an earlier run of the same process is shown, and logged, again). Entries written before :meth:`begin`
    (the run's checks, before its folder is ready) are kept and written when it opens the file, or dropped
    when the checks refuse the run (no file is made then); so are the entries :func:`carried` holds for ``out``,
    before them. Inside it, the compile note of the decoding step (:mod:`treecredit.models.compiled_step`) is
    written too. Leaving by an exception writes what stopped the run (a signal's ``stopped by SIGINT ...``, or
    ``error: <Type>: ...``) before the file closes; the exception goes on."""

    def __init__(self, out, *, resume: bool) -> None:
        self.path = Path(out) / LOG_NAME
        self.mode = "a" if resume else "w"
        self.file = None
        self.began = False
        self.pending: list[str] = _CARRIED.pop(_folder_key(out), [])
        self.entries = 0
        self._catch = None

    # writing ---------------------------------------------------------------------------------------------
    def begin(self, first_line: str) -> None:
        """Open the file (appending under ``resume``, else anew) and write ``first_line``, then the entries kept
        from before. Call it once the run's checks passed (its folder may not exist yet: it is made)."""
        self.began = True
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.file = self.path.open(self.mode, encoding="utf-8")
        except OSError as exc:
            self._failed(exc)
            return
        pending, self.pending = self.pending, []
        self._put(log_entry(first_line) + "".join(pending))

    def write(self, text, *, always: bool = False) -> None:
        """Append ``text`` (one entry, its lines cleaned by :func:`clean_lines`); ``always``: even past
        :data:`MAX_ENTRIES`. Never raises."""
        try:
            entry = log_entry(text)
            if not entry:
                return
            self.entries += 1
            if self.entries > MAX_ENTRIES and not always:
                if self.entries == MAX_ENTRIES + 1:
                    entry = log_entry(f"log.txt: {MAX_ENTRIES} entries written this session; further ones are left "
                                   "out (the run's output still shows them)")
                else:
                    return
            if not self.began:
                self.pending.append(entry)
            elif self.file is not None:
                self._put(entry)
        except Exception:  # noqa: BLE001 — a log must never stop a run
            pass

    def tee(self, log):
        """``log`` that also writes its line here (first, so that a display that fails loses nothing)."""
        def both(*parts, **options):
            self.write(" ".join(str(part) for part in parts))
            return log(*parts, **options)

        return both

    def close(self) -> None:
        if self.file is not None:
            try:
                self.file.close()
            except OSError:
                pass
            self.file = None

    def _put(self, entry: str) -> None:
        try:
            self.file.write(entry)  # type: ignore[union-attr]
            self.file.flush()  # type: ignore[union-attr]
        except (OSError, ValueError) as exc:
            self._failed(exc)

    def _failed(self, exc: Exception) -> None:
        self.close()
        self.pending = []
        try:
            print(f"warning: cannot write {self.path} ({exc}); the run goes on without its log file",
                  file=sys.stderr, flush=True)
        except Exception:  # noqa: BLE001
            pass

    # capturing -------------------------------------------------------------------------------------------
    def __enter__(self) -> "RunLog":
        self._catch = warnings.catch_warnings()
        self._catch.__enter__()  # restores the filters and showwarning at the end; resets once-only filters
        shown = warnings.showwarning

        def showwarning(message, category, filename, lineno, file=None, line=None):
            self.write(warning_text(message, category, filename, lineno))
            shown(message, category, filename, lineno, file, line)

        warnings.showwarning = showwarning
        logging.getLogger(_REWARD_LOGGER).addFilter(self._logged)
        from treecredit.models import compiled_step

        compiled_step.NOTE_LISTENERS.append(self.write)
        return self

    def _logged(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING:
            try:
                self.write(f"warning: {record.getMessage()}")
            except Exception:  # noqa: BLE001 — a bad record is the logger's to report
                pass
        return True

    def __exit__(self, kind, exc, tb) -> None:
        logging.getLogger(_REWARD_LOGGER).removeFilter(self._logged)
        from treecredit.models import compiled_step

        with contextlib.suppress(ValueError):
            compiled_step.NOTE_LISTENERS.remove(self.write)
        if self._catch is not None:
            self._catch.__exit__(kind, exc, tb)
            self._catch = None
        if exc is not None:
            from treecredit.training.stopping import RunInterrupted

            stopped = isinstance(exc, (RunInterrupted, KeyboardInterrupt))
            said = str(exc) or type(exc).__name__
            if stopped and not said.startswith("stopped"):
                said = f"stopped: {said}"
            self.write(said if stopped else f"error: {type(exc).__name__}: {said}", always=True)
        self.close()


def log_entry(text) -> str:
    """``text`` as a log entry timestamped now (also for :func:`carried`): its first line after a timestamp, the
    others indented below it; '' when it has no line to keep."""
    lines = clean_lines(text)
    if not lines:
        return ""
    indent = " " * (_STAMP_WIDTH + 2)
    return f"{time.strftime(_STAMP)}  {lines[0]}\n" + "".join(f"{indent}{line}\n" for line in lines[1:])


def recording(log, entries: list[str], prefix: str = ""):
    """``log`` that also keeps each line it is given, with ``prefix``, as a log entry timestamped now, in
    ``entries`` (for :func:`carried`)."""
    def both(*parts, **options):
        entry = log_entry(prefix + " ".join(str(part) for part in parts))
        if entry:
            entries.append(entry)
        return log(*parts, **options)

    return both


@contextlib.contextmanager
def carried(out, entries: list[str]):
    """Within it, the :class:`RunLog` of the run in folder ``out`` (the first one made) writes ``entries``
    (:func:`log_entry`) after its start line: what the command said about the run before the run began."""
    key = _folder_key(out)
    _CARRIED[key] = [*_CARRIED.get(key, []), *(entry for entry in entries if entry)]
    try:
        yield
    finally:
        _CARRIED.pop(key, None)


def _folder_key(out) -> str:
    return str(Path(out).expanduser().resolve())


def start_line(config, resume: bool) -> str:
    """The first entry of a session: what runs (task or env, estimator, seed) and the treecredit version."""
    import treecredit

    what = f"env {config.env}" if config.env else (f"dataset {config.dataset}" if getattr(config, "dataset", "")
                                                   else f"task {config.task}")
    verb = "resumed (--resume)" if resume else "started"
    return (f"run {verb}: {what}, estimator {config.estimator}, seed {config.seed}, out {config.out} "
            f"(treecredit {getattr(treecredit, '__version__', '?')})")


def logged_warnings(folder) -> int:
    """How many entries of ``folder``'s ``log.txt`` are warnings (0 when it has none, or no log)."""
    try:
        text = (Path(folder) / LOG_NAME).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return 0
    return sum(line[_STAMP_WIDTH:].startswith("  warning") and line[:4].isdigit() for line in text.splitlines())


def warned_runs_line(folders: list) -> str:
    """One line naming the run folders (of ``folders``) whose ``log.txt`` holds warnings, e.g. ``2 runs logged
    warnings: runs/compare/runs/grpo-seed0/log.txt (3 warnings), ...``; '' when none did."""
    found = [(Path(folder), logged_warnings(folder)) for folder in folders]
    found = [(folder, n) for folder, n in found if n]
    if not found:
        return ""
    runs = "1 run" if len(found) == 1 else f"{len(found)} runs"
    return f"{runs} logged warnings: " + ", ".join(f"{folder / LOG_NAME} ({n} warning{'s' * (n != 1)})"
                                                   for folder, n in found)
