"""Free space for a run's files, checked before any work (:func:`check_free_space`).

A run writes resumable checkpoints (:mod:`~treecredit.training.checkpoint`): ``checkpoint.pt`` and
``checkpoint.prev.pt`` are kept, and a new one is written beside them as ``checkpoint.pt.tmp`` before the renames,
so three checkpoints lie on the disk at the peak. A checkpoint holds the model's float32 weights and AdamW's two
float32 moments of every trained weight (none counted for LoRA adapters, which the margin covers). Without this
check a nearly full disk is found only when the first checkpoint is written, after the warm start and the first
steps (:func:`~treecredit.training.out_folder.write_errors` then says so).

A warm start still to be saved in a cache on the run's disk adds its weights (:func:`warm_start_cache`). The
estimate is cheap: the small GPT's parameters by formula, a Hugging Face model's from its files' headers
(``*.safetensors``, a ``.gguf`` file's tensor table), never by loading it; where they cannot be counted (a
``pytorch_model.bin`` folder: its file size stands for the weights), nothing is refused for lack of a count.
"""

from __future__ import annotations

import json
import os
import shutil
import struct
from pathlib import Path

from treecredit._validation import fail

CHECKPOINTS_ON_DISK = 3
"""Checkpoints a run holds on its disk at the peak: ``checkpoint.pt``, ``checkpoint.prev.pt`` and the new one being
written (``checkpoint.pt.tmp``). No flag keeps fewer."""
MARGIN_BYTES = 16 * 2**20
"""Room kept free on a disk beside the checkpoints, once per disk (not per run of a comparison): for what else
the runs write (metrics.jsonl, samples.jsonl, log.txt, TensorBoard events: a few KiB to a few MiB a run), and
slack. Until 2026-12-03 it was 64 MiB for each run, which refused a 2-step run of 150 KiB checkpoints on a
30 MiB disk, and a comparison of 4 such runs (570 KiB written in all) on 200 MiB."""
RUN_LOG_BYTES = 2**20
"""Further room for each run's own metrics, samples and logs (a comparison's runs each write theirs)."""
MARGIN_SHARE = 0.1
"""A further share of the checkpoints' bytes kept free (LoRA adapters' optimizer state, pickling overhead)."""
KEPT_CHECKPOINTS = 2
"""Checkpoints a run leaves on its disk when it ends (``checkpoint.pt`` and ``checkpoint.prev.pt``): the finished
runs of a comparison keep theirs while the others run (:func:`check_runs_free_space`)."""
CACHE_MARGIN_BYTES = 2**20
"""Room beside a warm start's weights in its cache: the JSON side-car and the pickling's overhead."""
BYTES_PER_WEIGHT = 4
"""float32: the small GPT and a Hugging Face model are trained in float32 (AdamW's moments too)."""
GPT_VOCAB_BOUND = 256
"""More than the small GPT's character vocabulary ever holds (its size barely moves the estimate)."""


def gpt_parameters(n_layer: int, n_embd: int, max_len: int, vocab: int = GPT_VOCAB_BOUND) -> int:
    """About the small GPT's parameter count (:class:`~treecredit.models.gpt.GPT`: per block 12·E² weights and
    13·E biases and norms; embeddings, positions and head), within a few thousand of the built model's."""
    return 12 * n_layer * n_embd**2 + (2 * vocab + max_len + 13 * n_layer + 2) * n_embd


def safetensors_parameters(path: Path) -> int:
    """The number of values in a ``.safetensors`` file, from its JSON header (the file's data is not read). Raises
    ``ValueError`` for a file whose header is no safetensors header (a length past the file or the format's 100 MB)."""
    with open(path, "rb") as handle:
        (length,) = struct.unpack("<Q", handle.read(8))
        if length > min(Path(path).stat().st_size - 8, 100 * 2**20):
            raise ValueError(f"{path} holds no safetensors header")
        header = json.loads(handle.read(length))
    total = 0
    for name, info in header.items():
        if name != "__metadata__":
            count = 1
            for size in info["shape"]:
                count *= int(size)
            total += count
    return total


def gguf_parameters(path: Path) -> int | None:
    """The number of values in a ``.gguf`` file's tensors (its tensor table, read by the ``gguf`` package that
    transformers loads GGUF files with); None when that package is missing or the file cannot be read."""
    try:
        from gguf import GGUFReader
    except ImportError:
        return None
    try:
        return sum(int(tensor.n_elements) for tensor in GGUFReader(str(path)).tensors)
    except (OSError, ValueError):
        return None


def weight_files(folder: Path) -> list[Path]:
    """The safetensors files ``transformers`` loads from ``folder``, in its order of preference
    (:data:`~treecredit.models.hub_cache.WEIGHTS`): ``model.safetensors``, else the files
    ``model.safetensors.index.json`` names, else every ``*.safetensors`` but Mistral's ``consolidated*`` copy
    (kept beside the sharded files, so counting it too would count the weights twice). Raises OSError,
    ValueError, KeyError or AttributeError on an unreadable index."""
    from treecredit.models.hub_cache import index_shards

    if (folder / "model.safetensors").is_file():
        return [folder / "model.safetensors"]
    index = folder / "model.safetensors.index.json"
    if index.is_file():
        return [folder / name for name in index_shards(index)]
    files = sorted(folder.glob("*.safetensors"))
    return [f for f in files if not f.name.startswith("consolidated")] or files


def model_weight_bytes(config) -> int | None:
    """The bytes of ``config``'s model weights in float32 (:data:`BYTES_PER_WEIGHT`), counted without loading it;
    None when they cannot be counted."""
    if config.model == "gpt":
        return BYTES_PER_WEIGHT * gpt_parameters(config.n_layer, config.n_embd, config.max_len)
    from treecredit.models.hf_load import resolve_model

    try:
        folder, gguf = resolve_model(config.model, config.gguf_file)
    except ValueError:  # a model that cannot be found: refused by the model's own checks, not here
        return None
    if gguf:
        count = gguf_parameters(Path(folder) / gguf)
        return None if count is None else BYTES_PER_WEIGHT * count
    try:
        files = weight_files(Path(folder))
        if files:
            return BYTES_PER_WEIGHT * sum(safetensors_parameters(f) for f in files)
        bins = sorted(Path(folder).glob("pytorch_model*.bin"))
        return sum(f.stat().st_size for f in bins) or None
    except (OSError, ValueError, KeyError, TypeError, AttributeError, struct.error):  # not what it is named
        return None


def checkpoint_bytes(config) -> int | None:
    """About the bytes of one checkpoint of ``config``'s run: the weights, and AdamW's two moments of each trained
    weight (all of them, or none under ``lora_rank``: the adapters' are within :data:`MARGIN_SHARE`)."""
    weights = model_weight_bytes(config)
    if weights is None:
        return None
    return weights * (1 if config.lora_rank else 3)


def existing_checkpoint_bytes(out: Path, overwrite: bool = False) -> int:
    """The bytes of the checkpoints already in ``out`` (and set aside by ``--overwrite`` in ``out/.replaced-run``)
    that count as room for the run's own: a resume writes its next one beside them, and a run started with
    ``--overwrite`` removes them after its first step, before its first checkpoint. A ``checkpoint.pt.damaged``
    (a damaged newest checkpoint that a resume set aside for inspection,
    :func:`~treecredit.training.checkpoint.load_latest_checkpoint`) is out of the rotation: a resume keeps it beside
    its three, so it counts only under ``overwrite``, which removes it with the rest."""
    from treecredit.training.out_folder import ASIDE

    return sum(p.stat().st_size for where in (out, out / ASIDE) if where.is_dir() for p in where.glob("checkpoint*.pt*")
               if p.is_file() and (overwrite or ".damaged" not in p.name))


def nearest_folder(out: Path) -> Path:
    """``out``, or its nearest existing parent folder (the file system the run will write to)."""
    found = Path(out).expanduser().absolute()
    while not found.is_dir() and found != found.parent:
        found = found.parent
    return found


def margin_bytes(checkpoints: int, runs: int = 1) -> int:
    """The room kept free beside ``checkpoints`` bytes of checkpoints of ``runs`` runs on one disk:
    :data:`MARGIN_BYTES` once, :data:`RUN_LOG_BYTES` per run and :data:`MARGIN_SHARE` of the checkpoints."""
    return MARGIN_BYTES + runs * RUN_LOG_BYTES + int(MARGIN_SHARE * checkpoints)


def warm_start_cache(config) -> tuple[Path, tuple, int] | None:
    """``(cache folder, identity, bytes)`` of the warm start ``config``'s run will train and save in its cache
    (``--cache-dir``, ``$TREECREDIT_CACHE``, the default: :func:`~treecredit.training.warmstart.default_cache_dir`),
    None when it runs none or its cache already holds one of these settings. Its exact key (the task's
    identity, the held-out prompts) is not known before the task is built, so a side-car JSON in the cache with
    the same kind, model and warm-start settings (:func:`_cached_settings`) counts as the run's; ``identity``
    names the warm start, so that a comparison's runs that share it count it once. The bytes are the float32
    weights (:func:`model_weight_bytes`), none for a LoRA warm start (its adapters are within the margin), plus
    :data:`CACHE_MARGIN_BYTES`; None when they cannot be counted."""
    from treecredit.training.warmstart import default_cache_dir

    prefix, settings = _cached_settings(config)
    if not prefix:
        return None
    folder = Path(config.cache_dir) if config.cache_dir else default_cache_dir()
    identity = (str(folder.expanduser().absolute()), prefix, json.dumps(settings, sort_keys=True, default=str))
    if _holds(folder, prefix, settings):
        return None
    weights = 0 if config.model != "gpt" and config.lora_rank else model_weight_bytes(config)
    return None if weights is None else (folder, identity, weights + CACHE_MARGIN_BYTES)


def _cached_settings(config) -> tuple[str, dict]:
    """The cache file name's prefix and the settings of its side-car JSON that ``config`` fixes before any work
    (:mod:`~treecredit.training.warmstart`, :func:`~treecredit.training.agent_loop.warm_start` write them): the
    kind, the model (a Hugging Face model's :func:`~treecredit.models.hf_load.model_identity`: its folder and
    its files' names, sizes and times; the small GPT's shape) and the warm start's steps, batch, learning rate
    and seed; ``('', {})`` when the run has no warm start (or its Hugging Face model cannot be found). Until
    2026-12-03 the Hugging Face and agent warm starts' models were not compared, so another model's cached warm
    start counted as the run's. The task is not compared: its identity is known only once it is built."""
    seed = {"seed": config.warm_start_seed}
    if config.model != "gpt":
        if not config.hf_warm_start_steps:
            return "", {}
        from treecredit.models.hf_load import model_identity

        try:  # as the side-car holds it (JSON: the files' tuples are lists)
            identity = json.loads(json.dumps(model_identity(config.model, getattr(config, "gguf_file", ""))))
        except (ValueError, OSError):  # a model that cannot be found: nor can its weights be counted
            return "", {}
        return "hf-warmstart", {"kind": "hf", "model": identity, "steps": config.hf_warm_start_steps,
                                "batch_size": config.hf_warm_start_batch, "lr": config.hf_warm_start_lr, **seed}
    if not config.warm_start_steps:
        return "", {}
    model = {"n_layer": config.n_layer, "n_head": config.n_head, "n_embd": config.n_embd}
    if config.env:  # the agent's warm start (its model's max_len follows the env's episodes)
        return "agent-warmstart", {"kind": "agent", "env": config.env, "model": model, "steps": config.warm_start_steps,
                                   "batch": config.warm_start_batch, "lr": config.warm_start_lr, **seed}
    if config.max_len != 96:  # as loop.build_policy keys it
        model["max_len"] = config.max_len
    return "warmstart", {"model": model, "steps": config.warm_start_steps, "batch_size": config.warm_start_batch,
                         "lr": config.warm_start_lr, **seed}


def _holds(folder: Path, prefix: str, settings: dict) -> bool:
    """Whether a side-car ``folder/<prefix>-*.json`` holds ``settings`` (and a ``.pt`` beside it)."""
    try:
        sidecars = list(folder.expanduser().glob(f"{prefix}-*.json"))
    except OSError:
        return False
    for sidecar in sidecars:
        try:
            saved = json.loads(sidecar.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        model = saved.get("model") if isinstance(saved, dict) else None
        if isinstance(model, dict) and "model" in settings:  # the agent's holds max_len; the GPT's only off 96
            saved = {**saved, "model": {k: v for k, v in model.items() if k in settings["model"]}}
        if isinstance(saved, dict) and all(saved.get(k) == v for k, v in settings.items()) \
                and sidecar.with_suffix(".pt").is_file():
            return True
    return False


def cache_bytes_on_disk(config, disk) -> tuple[tuple, int] | None:
    """``(identity, bytes)`` of the warm start ``config``'s run writes into its cache
    (:func:`warm_start_cache`) when that cache lies on the disk ``disk`` (:func:`disk_of`); None otherwise."""
    cache = warm_start_cache(config)
    if cache is None or disk is None or disk_of(cache[0]) != disk:
        return None
    return cache[1], cache[2]


def space_needed(config) -> tuple[int, int] | None:
    """``(bytes needed, bytes of one checkpoint)`` for ``config``'s run in a folder without earlier checkpoints:
    :data:`CHECKPOINTS_ON_DISK` checkpoints, the margin (:func:`margin_bytes`), and the warm start's weights when
    its cache is on the run's disk and does not hold them yet (:func:`cache_bytes_on_disk`); None when the
    model's weights cannot be counted."""
    one = checkpoint_bytes(config)
    if one is None:
        return None
    checkpoints = CHECKPOINTS_ON_DISK * one
    cache = cache_bytes_on_disk(config, disk_of(Path(config.out)))
    return checkpoints + margin_bytes(checkpoints) + (cache[1] if cache else 0), one


def check_free_space(config, overwrite: bool = False) -> None:
    """Refuse (``out``) a run whose file system lacks room for what it will write (:func:`space_needed`, less the
    checkpoints already in its folder, which a resume keeps beside its next one and ``overwrite`` frees:
    :func:`existing_checkpoint_bytes`), before any work: the error names the folder, the free and the needed bytes,
    and the fix. (Until 2026-12-03 it summed the same parts in a copy of :func:`space_needed`'s code, so the tests
    of that function did not test what was refused.)"""
    out = Path(config.out)
    free = free_bytes(out)
    found = space_needed(config) if free is not None else None
    if found is None:  # weights that cannot be counted; a file system that does not say
        return
    need, one = found
    needed = need - existing_checkpoint_bytes(out, overwrite)  # a resume's two stay; --overwrite's go
    if free >= needed:
        return
    margin = margin_bytes(CHECKPOINTS_ON_DISK * one)  # (the parts of space_needed's sum, for the message)
    cache = cache_bytes_on_disk(config, disk_of(out))
    cached = (f"; and {_size(cache[1])} for the warm start's weights in its cache (on the same disk: "
              f"{cache[0][0]})") if cache else ""
    fail("out", f"the disk of {out} has {free:,} bytes free ({_size(free)}), and this run needs about {needed:,} "
         f"({_size(needed)}): {CHECKPOINTS_ON_DISK} checkpoints of {_size(one)} each (checkpoint.pt, "
         "checkpoint.prev.pt and the one being written: the model's weights and its optimizer state), less those "
         f"already in the folder, and {_size(margin)} for its metrics, samples and logs{cached}",
         f"free {_size(needed - free)} or more on that disk, or pass --out with a folder on a disk with more room "
         "(no setting keeps fewer checkpoints)")


def check_runs_free_space(configs: list, jobs: int, overwrite: bool = False) -> None:
    """Refuse (``out``) the runs ``configs`` of one comparison (``treecredit compare``) when the disk their folders
    share lacks room for all of them, before any work. Each run checked alone (:func:`check_free_space`) fits, but
    a finished run keeps its last :data:`KEPT_CHECKPOINTS` checkpoints, so the runs' checkpoints add up; at most
    ``jobs`` of them (``--jobs``, the largest counted) write a third at once. The disk keeps one margin for all its
    runs (:func:`margin_bytes`), counts the checkpoints already in the runs' folders as room
    (:func:`existing_checkpoint_bytes`), and each distinct warm start whose cache is on it and does not hold it yet
    once (:func:`cache_bytes_on_disk`). Runs on different disks are summed per disk; a run whose model cannot be
    counted is left out."""
    disks: dict = {}
    for config in configs:
        one = checkpoint_bytes(config)
        disk = disk_of(Path(config.out))
        if one is not None and disk is not None:
            kept = max(0, KEPT_CHECKPOINTS * one - existing_checkpoint_bytes(Path(config.out), overwrite))
            disks.setdefault(disk, []).append((Path(config.out), kept, one, cache_bytes_on_disk(config, disk)))
    for runs in disks.values():
        writing = sorted((one for _, _, one, _ in runs), reverse=True)[:max(1, jobs)]
        checkpoints = sum(kept for _, kept, _, _ in runs) + sum(writing)
        margin = margin_bytes(sum(KEPT_CHECKPOINTS * one for _, _, one, _ in runs) + sum(writing), len(runs))
        caches = dict(cache for _, _, _, cache in runs if cache is not None)  # each warm start once
        total = checkpoints + margin + sum(caches.values())
        free = free_bytes(runs[0][0])
        if free is None or free >= total:
            continue
        root = Path(os.path.commonpath([str(out.absolute()) for out, _, _, _ in runs]))
        starts = f"{len(caches)} warm start{'s' * (len(caches) > 1)}"
        cached = f"; and {_size(sum(caches.values()))} for the weights of {starts} in the cache on the same disk" \
            if caches else ""
        fail("out", f"the disk of {root} has {free:,} bytes free ({_size(free)}), and the {len(runs)} runs of this "
             f"comparison there need about {total:,} ({_size(total)}) together: each keeps {KEPT_CHECKPOINTS} "
             f"checkpoints of up to {_size(writing[0])} when it ends, {len(writing)} at a time (--jobs) write a third, "
             f"less the checkpoints already in their folders, and {_size(margin)} for their metrics, samples and "
             f"logs{cached}", f"free {_size(total - free)} or more on that disk, pass --out with a folder on a disk "
             "with more room, or compare fewer runs (fewer --seeds or --estimators)")


def check_cache_room(folder: Path, nbytes: int) -> None:
    """Refuse (``cache_dir``) a warm start whose cache folder's disk lacks room for the weights it will save there
    (``nbytes``, plus :data:`CACHE_MARGIN_BYTES`), before it trains: called by
    :func:`~treecredit.training.warmstart.cached_policy` when the cache does not hold the warm start yet. Not
    checked on a file system that does not say."""
    free = free_bytes(folder)
    need = nbytes + CACHE_MARGIN_BYTES
    if free is None or free >= need:
        return
    fail("cache_dir", f"the disk of the warm-start cache {folder} has {free:,} bytes free ({_size(free)}), and the "
         f"warm start's weights need about {need:,} ({_size(need)}) there", f"free {_size(need - free)} or more on "
         "that disk, or pass --cache-dir (or set $TREECREDIT_CACHE) with a folder on a disk with more room")


def free_bytes(folder: Path) -> int | None:
    """The free bytes of the file system ``folder`` (or its nearest existing parent) is on; None when it does not
    say."""
    try:
        return shutil.disk_usage(nearest_folder(folder)).free
    except OSError:
        return None


def disk_of(folder: Path) -> int | None:
    """The device id of the file system ``folder`` (or its nearest existing parent) is on; None when unknown."""
    try:
        return os.stat(nearest_folder(folder)).st_dev
    except OSError:
        return None


def _size(n: int) -> str:
    for unit, scale in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n} bytes"
