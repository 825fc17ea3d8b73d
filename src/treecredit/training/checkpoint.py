"""Resumable checkpoints: model, optimizer, every RNG stream, the sampler's state and the counters.

File format (one self-checking file, so that a single rename publishes it):

    treecredit-checkpoint 1\\n
    sha256=<64 hex digits> bytes=<payload length>\\n
    <payload: torch.save of the state dict>

:func:`save_checkpoint` writes ``<out>/checkpoint.pt`` atomically (temporary file, fsync, rename) and keeps
the one it replaces as ``checkpoint.prev.pt``. :func:`read_checkpoint` refuses a truncated or corrupted
file (length or sha256 mismatch) with an error naming it; :func:`load_latest_checkpoint` then falls back to
the previous checkpoint with a logged warning.
"""

from __future__ import annotations

import hashlib
import io
import os
import random
from pathlib import Path

from treecredit._validation import fail

MAGIC = b"treecredit-checkpoint 1\n"
CHECKPOINT = "checkpoint.pt"
PREVIOUS = "checkpoint.prev.pt"


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used (truncated, corrupted, not a checkpoint); names the file."""


def save_checkpoint(folder: Path, *, model, optimizer, generator, problem_rng, counters: dict,
                    sampler=None, elapsed_s: float = 0.0) -> Path:
    """Write everything a killed run needs to continue exactly where it stopped; return the file.

    ``sampler``: its ``state_dict()`` is saved when it has one (the tree sampler's replay store).
    ``elapsed_s``: training wall time so far, continued after a resume.
    """
    import numpy as np
    import torch

    state = {"model": model.state_dict(), "optimizer": optimizer.state_dict(),
             "generator": generator.get_state(), "problem_rng": problem_rng.bit_generator.state,
             "python_rng": random.getstate(), "numpy_rng": np.random.get_state(),
             "torch_rng": torch.get_rng_state(), "counters": dict(counters), "elapsed_s": float(elapsed_s)}
    if getattr(sampler, "state_dict", None) is not None:
        state["sampler"] = sampler.state_dict()
    buffer = io.BytesIO()
    torch.save(state, buffer)
    payload = buffer.getvalue()
    header = MAGIC + f"sha256={hashlib.sha256(payload).hexdigest()} bytes={len(payload)}\n".encode()
    folder = Path(folder)
    path, tmp = folder / CHECKPOINT, folder / (CHECKPOINT + ".tmp")
    with open(tmp, "wb") as handle:
        handle.write(header)
        handle.write(payload)
        handle.flush()
        os.fsync(handle.fileno())
    if path.exists():
        os.replace(path, folder / PREVIOUS)
    os.replace(tmp, path)
    return path


def read_checkpoint(path: Path) -> dict:
    """The state dict stored in ``path``, after checking its length and sha256.

    Raises :class:`CheckpointError` (a ``ValueError``) naming the file when it is not a treecredit
    checkpoint, is truncated, or its bytes do not match the stored checksum.
    """
    import torch

    path = Path(path)
    data = path.read_bytes()
    if not data.startswith(MAGIC):
        raise CheckpointError(f"checkpoint: {path} is not a treecredit checkpoint (or its header is damaged). "
                              "Fix: resume from another run folder, or start anew with --overwrite.")
    line, sep, payload = data[len(MAGIC):].partition(b"\n")
    try:
        fields = dict(item.split("=", 1) for item in line.decode().split())
        digest, size = fields["sha256"], int(fields["bytes"])
    except (UnicodeDecodeError, ValueError, KeyError):
        raise CheckpointError(f"checkpoint: {path} has a damaged header. "
                              "Fix: resume from the previous checkpoint, or start anew with --overwrite.") from None
    if not sep or len(payload) != size:
        raise CheckpointError(f"checkpoint: {path} is truncated ({len(payload)} of {size} payload bytes). "
                              "Fix: resume from the previous checkpoint, or start anew with --overwrite.")
    if hashlib.sha256(payload).hexdigest() != digest:
        raise CheckpointError(f"checkpoint: {path} is corrupted (its sha256 does not match the stored one). "
                              "Fix: resume from the previous checkpoint, or start anew with --overwrite.")
    return torch.load(io.BytesIO(payload), map_location="cpu", weights_only=False)


def checkpoint_files(folder: Path) -> list[Path]:
    """The checkpoints of a run folder that exist, newest first."""
    return [p for p in (Path(folder) / CHECKPOINT, Path(folder) / PREVIOUS) if p.exists()]


def load_latest_checkpoint(folder: Path, log=print) -> dict | None:
    """The newest valid checkpoint's state in ``folder`` (None when there is none).

    A damaged newest checkpoint is skipped with a logged warning in favour of the previous one (and renamed
    ``checkpoint.pt.damaged``); when every checkpoint is damaged, the error names each file.
    """
    errors = []
    for path in checkpoint_files(folder):
        try:
            state = read_checkpoint(path)
        except CheckpointError as exc:
            errors.append(str(exc).split(". Fix:")[0].removeprefix("checkpoint: "))
            continue
        if errors:
            damaged = Path(folder) / (CHECKPOINT + ".damaged")
            os.replace(Path(folder) / CHECKPOINT, damaged)  # kept for inspection, out of the rotation
            log(f"warning: checkpoint {errors[-1]}; falling back to {path} (step {state['counters']['step']}); "
                f"the damaged file is kept as {damaged}.")
        return state
    if errors:
        fail("resume", f"no valid checkpoint in {folder}: " + "; ".join(errors),
             "start anew with --overwrite (or another --out)")
    return None


def restore_checkpoint(state: dict, *, model, optimizer, generator, problem_rng, sampler=None) -> dict:
    """Put the states of ``state`` (from :func:`read_checkpoint`) back in place; return the counters."""
    import numpy as np
    import torch

    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    generator.set_state(state["generator"])
    problem_rng.bit_generator.state = state["problem_rng"]
    random.setstate(state["python_rng"])
    np.random.set_state(state["numpy_rng"])
    torch.set_rng_state(state["torch_rng"])
    if "sampler" in state:
        sampler.load_state_dict(state["sampler"])
    return dict(state["counters"])
