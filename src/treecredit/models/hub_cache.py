"""``--model ORG/NAME`` (or ``ORG/NAME@REVISION``) from the local Hugging Face cache, never downloaded.

A hub id that is not a local folder is looked up with ``huggingface_hub.try_to_load_from_cache`` in the hub
cache folder (``$HF_HUB_CACHE``, else ``$HUGGINGFACE_HUB_CACHE``, else ``$HF_HOME/hub``, else
``$XDG_CACHE_HOME/huggingface/hub``, else ``~/.cache/huggingface/hub``: the order ``huggingface_hub`` uses, read
when the id is resolved, not when ``huggingface_hub`` was imported). The id becomes the folder of its cached
snapshot (``models--ORG--NAME/snapshots/<commit>``, the commit ``refs/<revision>`` names, ``main`` by
default), and from there on it is a local folder like any other: loaded with ``local_files_only``, and
identified for cache keys by that folder's files (:func:`treecredit.models.hf_load.model_identity`). Nothing
here opens a network connection; an id missing from the cache, or cached without its config or weights, is
refused with the folder looked in and how to fill it.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from treecredit._validation import fail

_NAME = r"[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9_])?"
_HUB_ID = re.compile(rf"({_NAME}(?:/{_NAME})?)(?:@([A-Za-z0-9._/-]+))?")
WEIGHTS = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin", "pytorch_model.bin.index.json")
"""The weight files ``from_pretrained`` reads (one of them, with the shards an index names)."""


def hub_cache_dir() -> Path:
    """The Hugging Face hub cache folder the environment names now (see the module's docstring)."""
    cache = os.environ.get("HF_HUB_CACHE") or os.environ.get("HUGGINGFACE_HUB_CACHE")
    if not cache:
        home = os.environ.get("HF_HOME") or os.path.join(
            os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache"), "huggingface")
        cache = os.path.join(os.path.expanduser(home), "hub")
    return Path(os.path.expandvars(os.path.expanduser(cache)))


def split_hub_id(model: str) -> tuple[str, str | None] | None:
    """``(repo id, revision or None)`` when ``model`` is shaped as a hub id (``NAME``, ``ORG/NAME``, either with
    ``@REVISION``), else None (a path: absolute, ``./``, ``~``, more than one ``/``, a ``.gguf`` file)."""
    match = _HUB_ID.fullmatch(model)
    if match is None or model.endswith(".gguf") or "--" in match.group(1) or ".." in match.group(1):
        return None
    return match.group(1), match.group(2)


def _repo_folder(repo_id: str) -> str:
    return "models--" + repo_id.replace("/", "--")


def _cached_revisions(repo: Path) -> list[str]:
    refs = sorted(p.relative_to(repo / "refs").as_posix() for p in (repo / "refs").rglob("*") if p.is_file()) \
        if (repo / "refs").is_dir() else []
    shas = sorted(p.name for p in (repo / "snapshots").iterdir()) if (repo / "snapshots").is_dir() else []
    return refs + shas


def cached_snapshot(model: str, gguf_file: str = "") -> str:
    """The folder of hub id ``model``'s cached snapshot, holding its config (or ``gguf_file``) and weights.

    Raises:
        ValueError: (``model``) it is not cached, only partly, or ``huggingface_hub`` is not installed.
    """
    split = split_hub_id(model)
    if split is None:
        raise ValueError(f"{model!r} is not shaped as a Hugging Face hub id")
    repo_id, revision = split
    cache = hub_cache_dir()
    download = _download_fix(repo_id, revision)
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        fail("model", f"{model!r} is not a local folder, and a Hugging Face hub id needs the huggingface_hub "
             "package (with transformers), which is not installed", "pip install 'treecredit[hf]'")
    repo = cache / _repo_folder(repo_id)
    if not repo.is_dir():
        fail("model", f"{model!r} is neither a local folder nor a Hugging Face hub id in the local cache: "
             f"there is no {repo.name} in {cache} (nothing is downloaded)", download)
    wanted = gguf_file or "config.json"
    found = try_to_load_from_cache(repo_id, wanted, cache_dir=str(cache), revision=revision or "main")
    if not isinstance(found, str):
        folder = _snapshot_of(repo, revision or "main")
        if folder is None:
            held = ", ".join(_cached_revisions(repo)) or "none"
            fail("model", f"{model!r}: revision {revision or 'main'!r} of {repo_id} is not in the local "
                 f"cache {repo} (cached revisions: {held})", download + ", or name a cached revision (--model "
                 f"{repo_id}@REVISION)")
        fail("model", f"{model!r}: the cached snapshot {folder} holds no {wanted} (only part of "
             f"{repo_id} was downloaded)", download)
    folder = Path(found).parent
    if not gguf_file:
        missing = missing_weights(folder) or ("" if has_tokenizer(folder) else missing_tokenizer())
        if missing:
            fail("model", f"{model!r}: the cached snapshot {folder} lacks {missing} (only part of {repo_id} "
                 "was downloaded)", download)
    return str(folder)


def _download_fix(repo_id: str, revision: str | None) -> str:
    return (f"download it where the hub can be reached (`hf download {repo_id}"
            + (f" --revision {revision}" if revision else "") + "`; `huggingface-cli download` with "
            "huggingface_hub before 0.34) into a cache folder copied here (or point "
            "HF_HUB_CACHE / HF_HOME at one), or pass --model a local model folder or .gguf file (or gpt, smollm2)")


TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "spiece.model", "sentencepiece.bpe.model", "vocab.json",
                   "vocab.txt", "*.tiktoken")
"""Files holding a tokenizer's vocabulary, of which a folder ``AutoTokenizer.from_pretrained`` can load holds at
least one (``tokenizer_config.json`` alone names a class, not a vocabulary)."""


def has_tokenizer(folder: Path) -> bool:
    """Whether ``folder`` holds one of :data:`TOKENIZER_FILES` (a link whose blob is gone does not count)."""
    return any(any(p.is_file() for p in folder.glob(name)) for name in TOKENIZER_FILES)


def missing_tokenizer() -> str:
    """What a folder without a tokenizer lacks, for messages."""
    return "a tokenizer (" + " / ".join(TOKENIZER_FILES) + ")"


def _snapshot_of(repo: Path, revision: str) -> Path | None:
    ref = repo / "refs" / revision
    commit = ref.read_text().strip() if ref.is_file() else revision
    folder = repo / "snapshots" / commit
    return folder if folder.is_dir() else None


def index_shards(index: Path) -> list[str]:
    """The weight files a sharded checkpoint's index (``model.safetensors.index.json``) names in its
    ``weight_map``, sorted, each once. Raises OSError, ValueError, KeyError or AttributeError on an unreadable
    index."""
    return sorted(set(json.loads(index.read_text())["weight_map"].values()))


def missing_weights(folder: Path) -> str:
    """'' when ``folder`` holds weights ``from_pretrained`` can read (every shard its index names), else what
    is missing. A link whose blob is gone counts as missing."""
    present = [name for name in WEIGHTS if (folder / name).is_file()]
    if not present:
        return "weights (" + " / ".join(WEIGHTS) + ")"
    if present[0].endswith(".index.json"):
        try:
            shards = index_shards(folder / present[0])
        except (OSError, ValueError, KeyError, AttributeError):
            return f"a readable {present[0]}"
        absent = [shard for shard in shards if not (folder / shard).is_file()]
        if absent:
            return f"{len(absent)} of the {len(shards)} weight shards {present[0]} names ({', '.join(absent[:3])})"
    return ""


def pinned_hub_id(model: str, gguf_file: str = "") -> str:
    """``model`` as ``ORG/NAME@COMMIT`` when it is a hub id whose cached snapshot is found (``ORG/NAME`` or a branch
    ``ORG/NAME@dev`` pinned to the commit its ref names now), else ``model`` unchanged (a path, a name such as
    ``gpt``, or an id not cached, which the model check refuses). A run records the pinned id, so that a resumed
    or exported run loads the base it trained from even after the cache's ``refs/main`` moved on."""
    split = split_hub_id(model)
    if split is None:
        return model
    try:
        folder = cached_snapshot(model, gguf_file)
    except ValueError:
        return model
    return f"{split[0]}@{Path(folder).name}"
