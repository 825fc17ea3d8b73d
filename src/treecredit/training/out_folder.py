"""The ``--out`` folder of ``train``, ``compare`` and ``export``: refused before any work when it cannot be a
folder, because it is a file or a file stands among its parent folders (``afile.txt/sub``), so that no
command ends in a ``NotADirectoryError`` or ``FileExistsError`` once its work has started; and ``train
--overwrite``'s earlier run, set aside until the new run trains its first step (:func:`set_aside`,
:func:`replacing`), so that a start that fails loses nothing; and the lock that keeps a second process from
writing into a run folder (or a comparison's report folder) while one does (:func:`run_lock`,
:func:`refuse_if_held`)."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

from treecredit._validation import fail


def file_in_the_way(out: str | Path) -> Path | None:
    """The file that keeps ``out`` from being a folder: ``out`` itself, or the nearest existing one of its parent
    folders when that is not a folder; None when ``out`` is a folder or can be created as one."""
    found = Path(out)
    while not found.exists() and found != found.parent:  # exists() is False below a file (ENOTDIR)
        found = found.parent
    return found if found.exists() and not found.is_dir() else None


def check_out_folder(out: str | Path, fix: str = "pass --out with a folder path", argument: str = "out") -> None:
    """Refuse (``argument``, with ``fix``) an ``out`` that is a file or lies below a file."""
    out = Path(out)
    file = file_in_the_way(out)
    if file is None:
        return
    if file == out:
        fail(argument, f"{str(out)!r} is a file, not a folder", fix)
    fail(argument, f"{str(file)!r} is a file, so {str(out)!r} cannot be created (no folder can be made inside a file)",
         fix)


ASIDE = ".replaced-run"
"""The folder inside a run's ``--out`` where ``--overwrite`` keeps the earlier run until the new one trains."""


def set_aside(out: str | Path) -> bool:
    """Move the earlier run in ``out`` (its run files with their checksums, ``tensorboard/`` and ``log.txt``) into
    ``out/.replaced-run`` instead of deleting it (``--overwrite``, once the run's checks passed): a start that then
    fails (a warm start whose env raises, a check after it, a Ctrl-C) puts it back (:func:`put_back`), and the
    first training step removes it (:func:`drop_aside`). An ``out/.replaced-run`` left by a start that was killed
    is the older run, kept; the killed start's own files are removed. Returns whether a run was set aside."""
    from treecredit.training.preflight import clear_run
    from treecredit.training.run_log import LOG_NAME

    out, moved = Path(out), False
    aside = out / ASIDE
    if aside.is_dir():  # a start that was killed before its first step: its files go, the run before it stays
        clear_run(out)
        (out / LOG_NAME).unlink(missing_ok=True)
        return True
    for path in _run_paths(out):
        aside.mkdir(exist_ok=True)
        path.replace(aside / path.name)
        moved = True
    return moved


def _run_paths(out: Path) -> list[Path]:
    from treecredit.training.preflight import RUN_FILES
    from treecredit.training.run_log import LOG_NAME

    names = [stem + tail for stem in RUN_FILES + ("checkpoint.pt.tmp", "checkpoint.pt.damaged")
             for tail in ("", ".sha256", ".sha256.tmp")] + ["tensorboard", LOG_NAME]
    return [out / name for name in names if (out / name).exists()]


def drop_aside(out: str | Path) -> None:
    """Remove the run that ``--overwrite`` set aside (:func:`set_aside`): the new run trained a step. Nothing when
    none is kept."""
    import shutil

    aside = Path(out) / ASIDE
    if aside.is_dir():
        shutil.rmtree(aside)


def put_back(out: str | Path, log=print) -> None:
    """Put the run that ``--overwrite`` set aside back in ``out``: the new start stopped before its first training
    step. Its own files are removed, except its ``log.txt``, which is appended to the earlier run's (what stopped
    it stays readable); ``log`` gets a line saying so. Nothing when none is kept."""
    from treecredit.training.preflight import clear_run
    from treecredit.training.run_log import LOG_NAME

    out = Path(out)
    aside = out / ASIDE
    if not aside.is_dir():
        return
    failed = (out / LOG_NAME).read_text(encoding="utf-8", errors="replace") if (out / LOG_NAME).is_file() else ""
    clear_run(out)
    (out / LOG_NAME).unlink(missing_ok=True)
    for path in list(aside.iterdir()):
        path.replace(out / path.name)
    aside.rmdir()
    if failed:
        with (out / LOG_NAME).open("a", encoding="utf-8") as file:
            file.write("\n--- a start with --overwrite that stopped before its first training step (the run above "
                       "was put back):\n" + failed)
    log(f"note: the run in {out} was put back as it was: this start with --overwrite stopped before its first "
        "training step")


@contextmanager
def replacing(out: str | Path, overwrite: bool, log=print):
    """The block of a run started with ``overwrite``: leaving it by an exception before the run's first training
    step puts the earlier run back (:func:`put_back`); leaving it normally removes what is still set aside."""
    try:
        yield
    except BaseException:
        if overwrite:
            put_back(out, log)
        raise
    if overwrite:
        drop_aside(out)


LOCK_NAME = ".treecredit.lock"
"""The file in a run's ``--out`` that the process writing the run holds an exclusive ``flock`` on (:func:`run_lock`)."""

_HELD: dict[str, int] = {}  # run folder (resolved) -> the lock file's descriptor, for the folders this process holds


def _key(out: Path) -> str:
    return str(Path(out).resolve())


def lock_holder(out: str | Path) -> int | None:
    """The pid of another live process that holds ``out``'s run lock (:func:`run_lock`; 0 when its pid cannot be
    read), None when no other process holds it (no lock file, a stale one left by a killed run, or this process
    holds it). The OS releases a ``flock`` when its process dies, so a killed run never blocks its resume."""
    import fcntl
    import os

    path = Path(out) / LOCK_NAME
    if _key(Path(out)) in _HELD or not path.is_file():
        return None
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return _pid_in(path)
    except OSError:  # a file system without flock: no lock to honour
        return None
    finally:
        os.close(fd)
    return None


def _pid_in(path: Path) -> int:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0


def _kind_in(path: Path) -> str:
    """What the lock file ``path`` says its holder writes: ``comparison`` (its second word), else ``run``."""
    try:
        words = path.read_text().split()
    except OSError:
        return "run"
    return words[1] if len(words) > 1 and words[1] in KINDS else "run"


KINDS = ("run", "comparison")
"""What a lock's holder writes in its folder: a run (``train``, each run of a comparison), or a comparison's report
folder (``compare``), whose runs lie below it in ``runs/``."""


def refuse_if_held(out: str | Path) -> None:
    """Refuse (``out``) a folder whose run or comparison another live process is writing: two writers would
    interleave their metrics and checkpoints, or their reports. The fix names that process."""
    pid = lock_holder(out)
    if pid is None:
        return
    kind = _kind_in(Path(out) / LOCK_NAME)
    who = f"process {pid}" if pid else "another process"
    stop = f"`kill {pid}`" if pid else "stop it"
    what = "a run" if kind == "run" else "a comparison (its report and its runs)"
    fail("out", f"{str(out)!r} is in use: {who} is writing {what} there now (it holds {Path(out) / LOCK_NAME})",
         f"wait for that {kind} to end (or {stop}), then run this command again; or pass another --out")


@contextmanager
def run_lock(out: str | Path, kind: str = "run"):
    """The block of a process that writes the run in ``out``: an exclusive ``fcntl.flock`` on ``out/.treecredit.lock``
    (which records the pid, and ``kind`` when it is not ``run``: :data:`KINDS`; ``comparison`` for ``compare``'s
    report folder) is held for the block, so that a second ``train`` (or ``--resume``; a second ``compare``) of the
    same folder is refused (:func:`refuse_if_held`) instead of writing into it too. The OS releases the lock when
    the process dies, so a killed run's folder can be resumed at once; a normal end removes the file (and the
    folder, when the block created it and nothing else was written there). Nothing is locked where the file system
    has no ``flock``."""
    import fcntl
    import os

    out = Path(out)
    check_out_folder(out)
    key = _key(out)
    if key in _HELD:  # already held by this process (a nested call): nothing more to do
        yield
        return
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    path = out / LOCK_NAME
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError:  # a read-only folder: no lock; the run's first write says what is wrong (write_errors)
            fd = -1
            break
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            refuse_if_held(out)
            continue  # released in between: try again
        except OSError:
            os.close(fd)
            fd = -1
            break
        try:  # the file may have been removed by its last holder between our open and our lock: lock the new one
            if os.stat(path).st_ino == os.fstat(fd).st_ino:
                break
        except FileNotFoundError:
            pass
        os.close(fd)
    if fd >= 0:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}{f' {kind}' * (kind != 'run')}\n".encode())
        _HELD[key] = fd
    try:
        yield
    finally:
        if fd >= 0:
            _HELD.pop(key, None)
            path.unlink(missing_ok=True)  # while still locked: a waiting process then locks a new file
            os.close(fd)
        if created and out.is_dir() and not any(out.iterdir()):
            out.rmdir()


WRITE_ERRNOS = frozenset({"ENOSPC", "EDQUOT", "EROFS", "EACCES", "EPERM", "EIO", "EFBIG"})
"""``errno`` names of a failed write that :func:`write_errors` turns into a one-line error about the run folder."""


@contextmanager
def write_errors(out: str | Path):
    """The block of a run that writes into ``out``: an ``OSError`` of a full disk, a quota, a read-only or
    unwritable folder (:data:`WRITE_ERRNOS`) raised in it becomes ``out: writing <file> failed: <reason>. Fix: ...``
    (a ``ValueError``, shown as one line, no traceback) naming the folder, the errno's reason and the fix (free
    space, or another --out). A checkpoint that failed to save leaves no temporary file and the last good one in
    place (:func:`~treecredit.training.checkpoint.save_checkpoint`), so the fix then names ``--resume``. A failed
    write to stdout (:class:`~treecredit.process_end.StdoutFailed`, while the command guards it) is passed on: the
    command says it (until 2026-12-03 a full stdout was said to be the run folder's full disk)."""
    import errno
    import os

    from treecredit.process_end import StdoutFailed

    try:
        yield
    except OSError as exc:
        name = errno.errorcode.get(exc.errno or -1, "")
        if name not in WRITE_ERRNOS or isinstance(exc, StdoutFailed):  # stdout's disk, not the run folder's
            raise
        reason = exc.strerror or os.strerror(exc.errno or 0)
        what = f"{exc.filename}" if exc.filename else f"into {out}"
        space = "free space on its disk" if name in ("ENOSPC", "EDQUOT", "EFBIG") else "make it writable"
        has = Path(out).is_dir() and any(Path(out).glob("checkpoint*.pt"))
        go_on = ("then run the same command again with --resume: the last good checkpoint is kept" if has else
                 "then run the same command again with --resume" if (Path(out) / "config.json").is_file() else
                 "then run the same command again")
        fail("out", f"writing {what} failed: {reason} ({name}) in the run folder {out}",
             f"{space} ({go_on}), or pass another --out")
