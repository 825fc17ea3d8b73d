"""Resumable checkpoints: model, optimizer, every RNG stream, the sampler's state and the counters.

``<out>/checkpoint.pt`` is an ordinary ``torch.save`` file (``torch.load`` reads it); beside it,
``checkpoint.pt.sha256`` holds ``<sha256 hex> <bytes>`` of that file. :func:`save_checkpoint` writes the
checkpoint and its checksum to temporary files, syncs them, then renames them into place (the checkpoint
it replaces is kept, with its checksum, as ``checkpoint.prev.pt``) and syncs the folder, in an order that
leaves every intact checkpoint's checksum in some checksum file whenever the save is killed.
:func:`read_checkpoint` refuses a truncated or corrupted file (length or sha256 matching no checksum file)
with an error naming it; :func:`load_latest_checkpoint` then falls back to the previous checkpoint with a
logged warning.
"""

from __future__ import annotations

import hashlib
import io
import os
import random
from pathlib import Path

from treecredit._validation import fail, split_fix

CHECKPOINT = "checkpoint.pt"
PREVIOUS = "checkpoint.prev.pt"
SUFFIX = ".sha256"


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used (truncated, corrupted, no checksum); names the file."""


def random_state(generator, problem_rng, sampler=None) -> dict:
    """A copy of every random stream a training step draws from (the run's ``torch.Generator``, its problem
    ``numpy`` generator, Python's, NumPy's and torch's global streams) and the sampler's state (when it has
    a ``state_dict``: the tree sampler's replay store). :func:`restore_random_state` puts it back.

    Taken before every step of a run with a token budget, so it must be cheap: the sampler's
    ``state_dict()`` is kept as returned, not deep-copied. That is exact because it returns containers of
    its own whose values are never changed in place (the replay store replaces an entry, it never edits
    one; ``tests/training/test_budget_snapshot.py`` checks it), so a later step cannot alter it."""
    import copy

    import numpy as np
    import torch

    state = {"generator": generator.get_state(), "problem_rng": copy.deepcopy(problem_rng.bit_generator.state),
             "python_rng": random.getstate(), "numpy_rng": np.random.get_state(), "torch_rng": torch.get_rng_state()}
    if getattr(sampler, "state_dict", None) is not None:
        state["sampler"] = sampler.state_dict()  # its own containers of unchanging values: no deep copy
    return state


def restore_random_state(state: dict, generator, problem_rng, sampler=None) -> None:
    """Put back what :func:`random_state` (or a checkpoint) holds."""
    import numpy as np
    import torch

    generator.set_state(state["generator"])
    problem_rng.bit_generator.state = state["problem_rng"]
    random.setstate(state["python_rng"])
    np.random.set_state(state["numpy_rng"])
    torch.set_rng_state(state["torch_rng"])
    if "sampler" in state:
        sampler.load_state_dict(state["sampler"])


def save_checkpoint(folder: Path, *, model, optimizer, generator, problem_rng, counters: dict,
                    sampler=None, elapsed_s: float = 0.0, pending_step_tokens: int = 0) -> Path:
    """Write everything a killed run needs to continue exactly where it stopped; return the file.

    ``sampler``: its ``state_dict()`` is saved when it has one (the tree sampler's replay store).
    ``elapsed_s``: training wall time so far, continued after a resume. ``pending_step_tokens``: the
    tokens of the next step, sampled and set aside because they would pass the token budget (0: none).

    Crash-safe: the new file and its checksum are written and synced under temporary names first, then
    renamed into place one by one (the old checkpoint, then its checksum, to ``checkpoint.prev.*``; the new
    file, then its checksum, to ``checkpoint.pt*``), and the folder is synced. A kill between any two renames
    leaves every intact checkpoint with its checksum in one of the checksum files, which
    :func:`load_latest_checkpoint` matches by content, not by name.
    """
    import torch

    state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
             **random_state(generator, problem_rng, sampler), "counters": dict(counters),
             "elapsed_s": float(elapsed_s), "pending_step_tokens": int(pending_step_tokens)}
    buffer = io.BytesIO()
    torch.save(state, buffer)
    payload = buffer.getvalue()
    folder = Path(folder)
    path, prev, tmp = folder / CHECKPOINT, folder / PREVIOUS, folder / (CHECKPOINT + ".tmp")
    digest = _digest_line(_digest(payload))
    try:
        _write_atomic(tmp, payload, None)
        _write_atomic(_pending_sidecar(path), digest, None)  # its checksum exists before it is renamed
    except OSError:  # a full disk or a read-only folder: the last good checkpoint stays, no partial file is left
        for leftover in (tmp, _pending_sidecar(path)):
            try:
                leftover.unlink(missing_ok=True)
            except OSError:
                pass
        raise
    if path.exists():
        os.replace(path, prev)
        if _sidecar(path).exists():
            os.replace(_sidecar(path), _sidecar(prev))
    os.replace(tmp, path)
    os.replace(_pending_sidecar(path), _sidecar(path))
    _sync_folder(folder)
    return path


def _digest(data: bytes) -> tuple[str, int]:
    """``(sha256 hex, bytes)`` of a checkpoint file's contents, as its checksum file holds them."""
    return hashlib.sha256(data).hexdigest(), len(data)


def _digest_line(digest: tuple[str, int]) -> bytes:
    """The checksum file's text for ``digest`` (:func:`_digest`)."""
    return f"{digest[0]} {digest[1]}\n".encode()


def _sidecar(path: Path) -> Path:
    return Path(str(path) + SUFFIX)


def _pending_sidecar(path: Path) -> Path:
    """Where a checksum is written before it is renamed to :func:`_sidecar` (``<path>.sha256.tmp``)."""
    return Path(str(_sidecar(path)) + ".tmp")


def _sync_folder(folder: Path) -> None:
    """fsync ``folder`` so that the renames in it survive a power loss (nothing where folders cannot be opened)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_atomic(tmp: Path, data: bytes, target: Path | None) -> None:
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    if target is not None:
        os.replace(tmp, target)
        _sync_folder(tmp.parent)


def _checksum_files(folder: Path) -> list[Path]:
    names = [CHECKPOINT + SUFFIX, PREVIOUS + SUFFIX, CHECKPOINT + SUFFIX + ".tmp", PREVIOUS + SUFFIX + ".tmp"]
    return [Path(folder) / name for name in names]


def _known_digests(folder: Path) -> set[tuple[str, int]]:
    """``(sha256 hex, bytes)`` of every readable checksum file of a run folder (a checkpoint is intact when any
    of them matches it: a kill between two renames of a save can leave its checksum under another name)."""
    found = set()
    for file in _checksum_files(folder):
        try:
            digest, size = file.read_text().split()
            found.add((digest, int(size)))
        except (OSError, ValueError):
            continue
    return found


def read_checkpoint(path: Path) -> dict:
    """The state dict stored in ``path``, after checking its length and sha256 against the run folder's checksum
    files (its own ``<path>.sha256``, or another one a save interrupted between two renames left it in).

    Raises :class:`CheckpointError` (a ``ValueError``) naming the file when it is truncated, its bytes do
    not match the stored checksum, or the checksum file is missing or damaged.
    """
    path = Path(path)
    data = path.read_bytes()
    return _checked_state(path, data, _digest(data))


def _checked_state(path: Path, data: bytes, digest: tuple[str, int]) -> dict:
    """:func:`read_checkpoint` of ``path`` whose contents ``data`` and their :func:`_digest` were read already (a
    resume hashes each file once, and :func:`_tidy` reuses the digests)."""
    import torch

    if digest in _known_digests(path.parent):
        return torch.load(io.BytesIO(data), map_location="cpu", weights_only=False)
    fix = "Fix: resume from the previous checkpoint, or start anew with --overwrite."
    try:
        digest, size = _sidecar(path).read_text().split()
        size = int(size)
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint: {path} has no checksum file {_sidecar(path).name} (its save was "
                              f"interrupted, or it was copied without it). {fix}") from None
    except ValueError:
        raise CheckpointError(f"checkpoint: {path} has a damaged checksum file {_sidecar(path).name}. {fix}") from None
    if len(data) != size:
        raise CheckpointError(f"checkpoint: {path} is truncated or altered ({len(data)} of {size} bytes). {fix}")
    raise CheckpointError(f"checkpoint: {path} is corrupted (its sha256 does not match {_sidecar(path).name}). {fix}")


def checkpoint_files(folder: Path) -> list[Path]:
    """The checkpoints of a run folder that exist, newest first."""
    return [p for p in (Path(folder) / CHECKPOINT, Path(folder) / PREVIOUS) if p.exists()]


def _load_unverified(path: Path) -> dict | None:
    """The state in ``path`` when no checksum file exists for it at all (an older version's save killed after its
    rename and before its checksum) and it loads completely as a checkpoint (torch checks each record's CRC-32);
    None otherwise."""
    import torch

    if _sidecar(path).exists():  # a checksum that does not match: damaged
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=False)
    except Exception:  # noqa: BLE001 - any failure to read it means it is not usable
        return None
    return state if isinstance(state, dict) and {"model", "optimizer", "counters"} <= set(state) else None


def load_latest_checkpoint(folder: Path, log=print, *, read_only: bool = False) -> dict | None:
    """The newest valid checkpoint's state in ``folder`` (None when there is none).

    A checkpoint is valid when its length and sha256 match one of the folder's checksum files (any of them: a save
    killed between two renames may leave the checksum under the other name). A damaged newest checkpoint is
    skipped with a logged warning in favour of the previous one (and renamed ``checkpoint.pt.damaged``, unless
    ``read_only``: a reader such as export leaves the folder as it is). When none is valid, a checkpoint with no
    checksum file at all that loads completely (a save killed before its checksum was written, by a version that
    wrote the checksum last) is used with a warning. Unless ``read_only``, the folder is then tidied for the next
    save: each valid checkpoint gets its own checksum file and stale temporary files go. When every checkpoint
    is damaged, the error names each file.
    """
    folder = Path(folder)
    errors = []
    digests: dict[Path, tuple[str, int]] = {}  # of the files read: each is hashed once
    for path in checkpoint_files(folder):
        data = path.read_bytes()
        digests[path] = _digest(data)
        try:
            state = _checked_state(path, data, digests[path])
        except CheckpointError as exc:
            errors.append(split_fix(str(exc))[0].removeprefix("checkpoint: "))
            continue
        if errors and read_only:
            log(f"warning: checkpoint {errors[-1]}; reading {path} (step {state['counters']['step']}) instead")
        elif errors:
            damaged = folder / (CHECKPOINT + ".damaged")
            os.replace(folder / CHECKPOINT, damaged)  # kept for inspection, out of the rotation
            if _sidecar(folder / CHECKPOINT).exists():
                os.replace(_sidecar(folder / CHECKPOINT), _sidecar(damaged))
            log(f"warning: checkpoint {errors[-1]}; falling back to {path} (step {state['counters']['step']}); "
                f"the damaged file is kept as {damaged}.")
        if not read_only:
            _tidy(folder, digests)
        return state
    for path in checkpoint_files(folder):
        state = _load_unverified(path)
        if state is not None:
            log(f"warning: checkpoint {path} has no checksum file (its save was interrupted before the checksum "
                f"was written), but it loads completely: resuming from it (step {state['counters']['step']})")
            if not read_only:
                _write_atomic(_pending_sidecar(path), _digest_line(digests[path]), _sidecar(path))
                _tidy(folder, digests)
            return state
    if errors:
        fail("resume", f"no valid checkpoint in {folder}: " + "; ".join(errors),
             "start anew with --overwrite (or another --out)")
    return None


def _tidy(folder: Path, digests: dict[Path, tuple[str, int]]) -> None:
    """Give each intact checkpoint of ``folder`` its own checksum file and remove the temporary files of an
    interrupted save, so that the next save starts from a consistent pair of files. ``digests``: the
    :func:`_digest` of the checkpoints already read (the one just loaded at least), which are not read again."""
    known = _known_digests(folder)
    for path in checkpoint_files(folder):
        digest = digests[path] if path in digests else _digest(path.read_bytes())
        line = _digest_line(digest)
        if digest in known and (not _sidecar(path).exists() or _sidecar(path).read_bytes() != line):
            _write_atomic(Path(str(_sidecar(path)) + ".fix"), line, _sidecar(path))
    for name in (CHECKPOINT + ".tmp", CHECKPOINT + SUFFIX + ".tmp", PREVIOUS + SUFFIX + ".tmp"):
        (folder / name).unlink(missing_ok=True)
    _sync_folder(folder)


def restore_checkpoint(state: dict, *, model, optimizer, generator, problem_rng, sampler=None) -> dict:
    """Put the states of ``state`` (from :func:`read_checkpoint`) back in place; return the counters."""
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    restore_random_state(state, generator, problem_rng, sampler)
    return dict(state["counters"])
