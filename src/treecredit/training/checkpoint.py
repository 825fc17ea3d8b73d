"""Resumable checkpoints: model, optimizer, every RNG stream, the sampler's state and the counters.

``<out>/checkpoint.pt`` is an ordinary ``torch.save`` file (``torch.load`` reads it); beside it,
``checkpoint.pt.sha256`` holds ``<sha256 hex> <bytes>`` of that file. :func:`save_checkpoint` writes the
checkpoint to a temporary file, syncs it and renames it into place, then writes the checksum the same
way; the checkpoint it replaces is kept (with its checksum) as ``checkpoint.prev.pt``.
:func:`read_checkpoint` refuses a truncated or corrupted file (length or sha256 mismatch, or no checksum
file because the save was interrupted) with an error naming it; :func:`load_latest_checkpoint` then
falls back to the previous checkpoint with a logged warning.
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
    """
    import torch

    state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
             **random_state(generator, problem_rng, sampler), "counters": dict(counters),
             "elapsed_s": float(elapsed_s), "pending_step_tokens": int(pending_step_tokens)}
    buffer = io.BytesIO()
    torch.save(state, buffer)
    payload = buffer.getvalue()
    folder = Path(folder)
    path = folder / CHECKPOINT
    _write_atomic(folder / (CHECKPOINT + ".tmp"), payload, None)
    if path.exists():
        os.replace(path, folder / PREVIOUS)
        if _sidecar(path).exists():
            os.replace(_sidecar(path), _sidecar(folder / PREVIOUS))
    os.replace(folder / (CHECKPOINT + ".tmp"), path)
    digest = f"{hashlib.sha256(payload).hexdigest()} {len(payload)}\n".encode()
    _write_atomic(Path(str(_sidecar(path)) + ".tmp"), digest, _sidecar(path))
    return path


def _sidecar(path: Path) -> Path:
    return Path(str(path) + SUFFIX)


def _write_atomic(tmp: Path, data: bytes, target: Path | None) -> None:
    with open(tmp, "wb") as handle:
        handle.write(data)
        handle.flush()
        os.fsync(handle.fileno())
    if target is not None:
        os.replace(tmp, target)


def read_checkpoint(path: Path) -> dict:
    """The state dict stored in ``path``, after checking its length and sha256 against ``<path>.sha256``.

    Raises :class:`CheckpointError` (a ``ValueError``) naming the file when it is truncated, its bytes do
    not match the stored checksum, or the checksum file is missing or damaged.
    """
    import torch

    path = Path(path)
    fix = "Fix: resume from the previous checkpoint, or start anew with --overwrite."
    try:
        digest, size = _sidecar(path).read_text().split()
        size = int(size)
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint: {path} has no checksum file {_sidecar(path).name} (its save was "
                              f"interrupted, or it was copied without it). {fix}") from None
    except ValueError:
        raise CheckpointError(f"checkpoint: {path} has a damaged checksum file {_sidecar(path).name}. {fix}") from None
    data = path.read_bytes()
    if len(data) != size:
        raise CheckpointError(f"checkpoint: {path} is truncated or altered ({len(data)} of {size} bytes). {fix}")
    if hashlib.sha256(data).hexdigest() != digest:
        raise CheckpointError(f"checkpoint: {path} is corrupted (its sha256 does not match {_sidecar(path).name}). "
                              f"{fix}")
    return torch.load(io.BytesIO(data), map_location="cpu", weights_only=False)


def checkpoint_files(folder: Path) -> list[Path]:
    """The checkpoints of a run folder that exist, newest first."""
    return [p for p in (Path(folder) / CHECKPOINT, Path(folder) / PREVIOUS) if p.exists()]


def load_latest_checkpoint(folder: Path, log=print, *, read_only: bool = False) -> dict | None:
    """The newest valid checkpoint's state in ``folder`` (None when there is none).

    A damaged newest checkpoint is skipped with a logged warning in favour of the previous one (and renamed
    ``checkpoint.pt.damaged``, unless ``read_only``: a reader such as export leaves the folder as it is);
    when every checkpoint is damaged, the error names each file.
    """
    errors = []
    for path in checkpoint_files(folder):
        try:
            state = read_checkpoint(path)
        except CheckpointError as exc:
            errors.append(split_fix(str(exc))[0].removeprefix("checkpoint: "))
            continue
        if errors and read_only:
            log(f"warning: checkpoint {errors[-1]}; reading {path} (step {state['counters']['step']}) instead")
        elif errors:
            damaged = Path(folder) / (CHECKPOINT + ".damaged")
            os.replace(Path(folder) / CHECKPOINT, damaged)  # kept for inspection, out of the rotation
            if _sidecar(Path(folder) / CHECKPOINT).exists():
                os.replace(_sidecar(Path(folder) / CHECKPOINT), _sidecar(damaged))
            log(f"warning: checkpoint {errors[-1]}; falling back to {path} (step {state['counters']['step']}); "
                f"the damaged file is kept as {damaged}.")
        return state
    if errors:
        fail("resume", f"no valid checkpoint in {folder}: " + "; ".join(errors),
             "start anew with --overwrite (or another --out)")
    return None


def restore_checkpoint(state: dict, *, model, optimizer, generator, problem_rng, sampler=None) -> dict:
    """Put the states of ``state`` (from :func:`read_checkpoint`) back in place; return the counters."""
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    restore_random_state(state, generator, problem_rng, sampler)
    return dict(state["counters"])
