"""The ``--out`` folder of ``train``, ``compare`` and ``export``: refused before any work when it cannot be a
folder, because it is a file or a file stands among its parent folders (``afile.txt/sub``), so that no
command ends in a ``NotADirectoryError`` or ``FileExistsError`` once its work has started."""

from __future__ import annotations

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
