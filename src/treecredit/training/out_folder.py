"""The ``--out`` folder of ``train``, ``compare`` and ``export``: refused before any work when it cannot be a
folder, because it is a file or a file stands among its parent folders (``afile.txt/sub``), so that no
command ends in a ``NotADirectoryError`` or ``FileExistsError`` once its work has started; and ``train
--overwrite``'s earlier run, set aside until the new run trains its first step (:func:`set_aside`,
:func:`replacing`), so that a start that fails loses nothing."""

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
