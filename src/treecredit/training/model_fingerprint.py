"""A cheap fingerprint of a local ``--model`` folder (or ``.gguf`` file), recorded in a run's ``config.json`` so
that ``--resume`` refuses a model that changed since the run started (an export written into the model's folder,
weights edited or replaced): the resumed run would take its KL reference and base weights from other weights.

What is read, so that multi-GB files cost a few MiB: every file's relative name and size; the whole content of
every file of at most 2 MiB (``config.json``, ``generation_config.json``, the chat template, most tokenizer
files), and of any larger file, whatever its kind (``.safetensors``, ``.bin``, ``.gguf``, ``.onnx_data``,
``.npz``, a large ``tokenizer.json``), its first and last MiB only (a safetensors file's header, which names every
tensor, and its last tensor's bytes). An edit inside a large file that leaves its size, first and last MiB as
they were is missed; replacing, retraining, exporting or converting weights changes those. Folders whose name
starts with a dot (``.cache``, ``.git``) are skipped: tools keep their own bookkeeping there. A hub id pinned to a
commit (``ORG/NAME@COMMIT``) is not fingerprinted: the commit fixes its files.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

END_BYTES = 1 << 20
"""How much of each end of a file larger than ``2 * END_BYTES`` the fingerprint reads (smaller ones: all)."""

_CACHE: dict[tuple, dict] = {}


def model_files(path: Path, skip: Path | None = None) -> list[Path]:
    """The files of a model folder that the fingerprint covers (sorted; none under a dot-folder or under ``skip``,
    the run's own folder when it lies inside the model's), or ``[path]`` for a file."""
    if not path.is_dir():
        return [path]
    skip = skip.resolve() if skip is not None else None
    return sorted(p for p in path.rglob("*") if p.is_file()
                  and not any(part.startswith(".") for part in p.relative_to(path).parts[:-1])
                  and not (skip is not None and p.resolve().is_relative_to(skip)))


def model_fingerprint(model: str, skip: str = "") -> dict:
    """``{"model_files": N, "bytes": TOTAL, "sha256": HEX}`` of the local model folder or file ``model`` (see the
    module docstring for what is read), leaving out the folder ``skip`` (the run's ``out``, whose checkpoints
    change). Remembered per (path, sizes, modification times) within a process."""
    source = Path(model).expanduser()
    files = model_files(source, Path(skip).expanduser() if skip else None)
    stats = tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in files)
    if stats not in _CACHE:
        digest = hashlib.sha256()
        for p, size, _ in stats:
            name = Path(p).relative_to(source) if source.is_dir() else Path(p).name
            digest.update(f"{name}\0{size}\0".encode())
            with open(p, "rb") as handle:
                if size > 2 * END_BYTES:  # any kind of file: weights, onnx/*.onnx_data, .npz, .npy
                    digest.update(handle.read(END_BYTES))
                    handle.seek(size - END_BYTES)
                    digest.update(handle.read(END_BYTES))
                else:
                    for block in iter(lambda: handle.read(1 << 20), b""):
                        digest.update(block)
        _CACHE[stats] = {"model_files": len(files), "bytes": sum(s[1] for s in stats), "sha256": digest.hexdigest()}
    return dict(_CACHE[stats])


def is_model_fingerprint(value) -> bool:
    """Whether a recorded fingerprint is a model's (:func:`model_fingerprint`), not a data file's."""
    return isinstance(value, dict) and "model_files" in value
