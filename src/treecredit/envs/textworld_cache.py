"""The TextWorld game cache: each game is made once, atomically, and only whole files are used.

A game is a set of files in the cache folder (``NAME.json`` and ``NAME.z8`` for the text view,
``compact-NAME.json`` for the compact one). :func:`make_once` makes them so that

- concurrent processes (pytest-xdist workers, two runs) that ask for the same game on an empty cache
  make it once: the first takes a lock (``.NAME.lock``, ``flock``), the others wait for it and then
  use its files;
- a process killed while making a game leaves no half-written file where the game is looked for: the
  files are written into a fresh temporary folder in the cache folder (``.NAME.<random>.partial``) and
  moved into place with ``os.replace``, the one that says the game is there (the ``.z8``) last; the
  next process to make that game removes such left-over folders;
- a file found in place is used only when it is whole (:func:`whole`): a ``.z8`` whose header's length
  and checksum match its bytes, a ``.json`` that parses. Anything else (a file half-written by a version
  that wrote in place) is made again.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

_WHOLE: set[str] = set()  # files found whole by this process (not checked again)


def whole(path: Path, remember: bool = True) -> bool:
    """Whether ``path`` is a whole game file: a Z-machine story (``.z8``) whose header's file length and
    checksum match its bytes, or a ``.json`` file that parses. False for a missing or other file.
    ``remember``: a whole file is not read again by this process."""
    key = str(path)
    if key in _WHOLE:
        return True
    try:
        data = path.read_bytes()
    except OSError:
        return False
    if path.suffix == ".z8":
        ok = _whole_story(data)
    else:
        try:
            json.loads(data)
            ok = True
        except ValueError:
            ok = False
    if ok and remember:
        _WHOLE.add(key)
    return ok


def _whole_story(data: bytes) -> bool:
    """A Z-machine story file (versions 1-8): bytes 0x1A-0x1B hold its length divided by 2, 4 or 8 (by
    version), 0x1C-0x1D the sum of its bytes from 0x40 to that length, modulo 65536 (Z-Machine Standard
    1.1, section 11). Inform pads the file past that length."""
    if len(data) < 0x40 or not 1 <= data[0] <= 8:
        return False
    unit = 2 if data[0] <= 3 else 4 if data[0] <= 5 else 8
    length = int.from_bytes(data[0x1A:0x1C], "big") * unit
    if not 0x40 <= length <= len(data):
        return False
    return sum(data[0x40:length]) & 0xFFFF == int.from_bytes(data[0x1C:0x1E], "big")


def make_once(targets: Sequence[Path], build: Callable[[Path], None]) -> None:
    """Make the files ``targets`` (in one folder; the last is the one that says the game is there) unless
    they are all there and whole (module docstring).

    Args:
        targets: the files' final paths.
        build: ``build(folder)`` writes files of the same names into ``folder`` (a fresh temporary folder
            next to the targets; anything else it writes there is discarded).

    Raises:
        FileNotFoundError: ``build`` did not write one of the targets (naming it).
    """
    if all(whole(path) for path in targets):
        return
    folder, stem = targets[-1].parent, targets[-1].stem
    folder.mkdir(parents=True, exist_ok=True)
    with _Lock(folder / f".{stem}.lock"):
        if all(whole(path) for path in targets):  # another process made it while we waited: use theirs
            return
        for left in folder.glob(f".{stem}.*.partial"):  # (the lock's holder is the only one making it)
            shutil.rmtree(left, ignore_errors=True)
        partial = Path(tempfile.mkdtemp(prefix=f".{stem}.", suffix=".partial", dir=folder))
        try:
            build(partial)
            for path in targets:
                if not whole(partial / path.name, remember=False):
                    raise FileNotFoundError(f"making the TextWorld game {stem!r} wrote no whole {path.name}")
            for path in targets:  # the last one last: until it is in place, the game is not there
                os.replace(partial / path.name, path)
        finally:
            shutil.rmtree(partial, ignore_errors=True)


class _Lock:
    """An exclusive ``flock`` on ``path`` (created if missing), held inside a ``with``; none where the
    platform has no ``fcntl`` (then concurrent processes may both make a game, each atomically)."""

    def __init__(self, path: Path) -> None:
        self.path, self.fd = path, -1

    def __enter__(self) -> _Lock:
        try:
            import fcntl
        except ImportError:
            return self
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc) -> None:
        if self.fd >= 0:
            os.close(self.fd)  # (closing releases the lock)
            self.fd = -1
