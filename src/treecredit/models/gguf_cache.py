"""A GGUF checkpoint dequantised once, then loaded as safetensors.

``transformers`` dequantises a GGUF file tensor by tensor (and rebuilds the tokenizer from its metadata) on
every ``from_pretrained(..., gguf_file=...)``. :func:`gguf_as_safetensors` does that once per file and
keeps the result — the float32 weights as ``model.safetensors``, the config (without its GGUF
quantisation entry), the generation config and the tokenizer — in a folder named by the BLAKE2b hash of
the file's bytes, under ``<cache>/gguf/`` (``$TREECREDIT_CACHE`` or ``~/.cache/treecredit``). A changed
file gets a new hash and a new folder; a folder is complete only once its ``complete`` marker exists
(written last, after an atomic rename), so a killed conversion is redone. The weights are the ones the
GGUF path gives, bit for bit (a test checks it on a tiny converted model).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from pathlib import Path

from treecredit._validation import fail


def file_hash(path: str | Path) -> str:
    """Hex BLAKE2b-128 digest of a file's bytes (read in 16 MiB chunks)."""
    digest = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 24), b""):
            digest.update(chunk)
    return digest.hexdigest()


def gguf_as_safetensors(folder: str | Path, gguf_file: str, *, cache_dir: str | Path | None = None,
                        log=None) -> str:
    """The folder of the cached safetensors copy of ``folder/gguf_file``, converting it on first use.

    Raises:
        ValueError: the GGUF file does not exist.
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    source = Path(folder) / gguf_file
    if not source.is_file():
        fail("gguf_file", f"{str(source)!r} is not a file", "pass the name of a .gguf file inside the model folder")
    root = Path(cache_dir) if cache_dir is not None else _default_cache()
    target = root / "gguf" / file_hash(source)
    if (target / "complete").exists():
        return str(target)
    if log is not None:
        log(f"GGUF: dequantising {source.name} once; cached as safetensors in {target}")
    kwargs = {"local_files_only": True, "gguf_file": gguf_file}
    model = AutoModelForCausalLM.from_pretrained(str(folder), dtype=torch.float32, **kwargs)
    tokenizer = AutoTokenizer.from_pretrained(str(folder), **kwargs)
    target.parent.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(dir=target.parent, prefix=".partial-"))
    try:
        save_plain(model, tokenizer, scratch)
        if target.exists():  # a stale, incomplete folder from a killed conversion
            shutil.rmtree(target)
        os.replace(scratch, target)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    (target / "complete").write_text(source.name + "\n")
    return str(target)


def save_plain(model, tokenizer, folder: Path) -> None:
    """Save a (dequantised) model as a plain float checkpoint: ``transformers`` refuses ``save_pretrained`` on a
    model loaded from GGUF, so the weights go through ``safetensors.torch.save_model`` (tied weights kept
    once) and the config is saved without its quantisation entry."""
    import copy

    from safetensors.torch import save_model

    config = copy.deepcopy(model.config)
    if hasattr(config, "quantization_config"):
        del config.quantization_config
    config.save_pretrained(folder)
    if getattr(model, "generation_config", None) is not None:
        model.generation_config.save_pretrained(folder)
    save_model(model, str(folder / "model.safetensors"), metadata={"format": "pt"})
    tokenizer.save_pretrained(folder)


def _default_cache() -> Path:
    return Path(os.environ.get("TREECREDIT_CACHE", Path.home() / ".cache" / "treecredit"))
