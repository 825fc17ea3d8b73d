"""``treecredit export RUN --out FOLDER``: a trained Hugging Face policy as a ``save_pretrained`` folder.

Rebuilds the run's policy from ``RUN/config.json``, loads the weights of ``RUN/checkpoint.pt`` and writes
model and tokenizer with ``save_pretrained`` (LoRA adapters merged unless ``--keep-adapters``), so the
folder loads with ``AutoModelForCausalLM.from_pretrained`` or serves in vLLM.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from treecredit._validation import fail, split_fix


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", help="a run folder of `treecredit train` (holding config.json and checkpoint.pt)")
    parser.add_argument("--out", required=True, help="folder to write the save_pretrained files into")
    parser.add_argument("--overwrite", action="store_true", help="replace what --out already holds")
    parser.add_argument("--keep-adapters", action="store_true",
                        help="LoRA runs: write the peft adapters instead of merged weights")


def _check_out(out: Path, overwrite: bool) -> None:
    from treecredit.training.out_folder import check_out_folder

    check_out_folder(out, "pass a folder path: a new one, an empty one, or one to write into with --overwrite")
    from treecredit.training.preflight import run_files_in

    # the files of a run that an export never writes (an earlier export's config.json may be overwritten)
    held = run_files_in(out, skip=("config.json",))
    if out.is_dir() and held:  # another run's folder: its config.json would be replaced, even with --overwrite
        fail("out", f"{str(out)!r} holds a run ({', '.join(held)}): the export's config.json would replace the "
             "run's own, which could then neither resume nor export, even with --overwrite",
             "pass an --out that holds no run: a new folder, an empty one, or an earlier export")
    if out.is_dir() and any(out.iterdir()) and not overwrite:
        fail("out", f"{str(out)!r} is a folder that already holds files",
             "pass --overwrite to write into it, or another --out")


def _check_out_apart_from_run(out: Path, run: Path) -> None:
    """Refuse an ``out`` that is the run folder, lies inside it or holds it (resolved paths, so ``./runs/x``, a
    symbolic link and ``runs/x/..`` count): export's config.json would replace the run's own, and the run could then
    neither resume nor export again. Refused even with ``--overwrite``."""
    out_path, run_path = out.resolve(), run.resolve()
    where = _placement(out_path, run_path, "is the run folder", f"lies inside the run folder {str(run)!r}",
                       f"holds the run folder {str(run)!r}")
    if where is None:
        return
    fail("out", f"{str(out)!r} {where}: the export's config.json and model files would replace or mix with the "
         "run's own (its config.json and checkpoint), even with --overwrite",
         f"pass an --out outside the run folder, e.g. --out {run_path.parent / (run_path.name + '-hf')}")


def _placement(out_path: Path, other: Path, same: str, inside: str, holds: str) -> str | None:
    """``same``, ``inside`` or ``holds`` as the resolved ``out_path`` is ``other``, lies inside it or holds it;
    None when they are apart."""
    if out_path == other:
        return same
    if other in out_path.parents:
        return inside
    if out_path in other.parents:
        return holds
    return None


def _check_out_apart_from_model(out: Path, run: Path) -> None:
    """Refuse an ``out`` that is the run's local base model folder (or file: a ``.gguf``), lies inside it or holds it
    (config.json's ``model``, read as it is, before the run's settings are checked): the export would write over
    the model that a resume and every export rebuild the policy from. Refused even with ``--overwrite``; a hub id
    is not a local path and is not checked."""
    import json

    try:
        settings = json.loads((run / "config.json").read_text())
    except (OSError, ValueError):
        return  # named with its fix when the run's settings are read
    model = settings.get("model") if isinstance(settings, dict) else None
    if not isinstance(model, str) or not model or not Path(model).exists():
        return
    out_path, model_path = out.resolve(), Path(model).resolve()
    kind = "folder" if model_path.is_dir() else "file"
    where = _placement(out_path, model_path, f"is the run's base model {kind}",
                       f"lies inside the run's base model folder {model!r}",
                       f"holds the run's base model {kind} {model!r}")
    if where is None:
        return
    run_path = run.resolve()
    fail("out", f"{str(out)!r} {where} (config.json's 'model'): the export would write over the model that resuming "
         "the run and exporting it rebuild the policy from, even with --overwrite",
         f"pass an --out apart from the base model, e.g. --out {run_path.parent / (run_path.name + '-hf')}")


def _check_run(run: Path) -> None:
    if not run.is_dir():
        fail("run", f"{str(run)!r} is not a folder", "pass the --out folder of a `treecredit train` run")
    if not (run / "config.json").is_file():
        fail("run", f"{str(run)!r} holds no config.json, so it is not a run folder",
             "pass the --out folder of a `treecredit train` run")
    from treecredit.training.checkpoint import checkpoint_files

    if not checkpoint_files(run):
        fail("run", f"{str(run)!r} holds no checkpoint.pt: the run stopped before its first checkpoint",
             f"resume it with `treecredit train --config {run / 'config.json'} --resume` until it saves one, "
             "or export another run")


def _read_config(run: Path):
    from treecredit.training.config import TrainConfig
    from treecredit.training.config_file import load_config_file

    settings = load_config_file(run / "config.json", argument="run", label=" (the run's settings)",
                                written=" (`treecredit train` wrote it as one JSON object of the run's settings), or "
                                "export another run")
    try:
        return TrainConfig(**settings)
    except ValueError as exc:
        model = settings.get("model", "")
        if str(exc).startswith(("model: ", "gguf_file: ")) and model != "smollm2":
            from treecredit.models.hub_cache import split_hub_id

            where = model + (f" (file {settings['gguf_file']})" if settings.get("gguf_file") else "")
            hub = split_hub_id(model) if not settings.get("gguf_file") else None
            rebuilds = "export rebuilds the policy from it and then loads the checkpoint's weights"
            if hub is None:
                fail("run", f"the run's recorded base model {where!r} (config.json's 'model') is missing",
                     f"put the base model back at that path: {rebuilds}")
            revision = f" --revision {hub[1]}" if hub[1] else ""
            fail("run", f"the run's recorded base model {where!r} (config.json's 'model') is neither a local folder "
                 "nor a Hugging Face hub id in the local cache (nothing is downloaded)", "download it into the local "
                 f"Hugging Face cache where the hub can be reached (`hf download {hub[0]}{revision}`; `huggingface-cli "
                 "download` with huggingface_hub before 0.34) and "
                 "copy that cache here (or point HF_HUB_CACHE / HF_HOME at one), or, if it was a local folder, put it "
                 f"back at that path: {rebuilds}")
        raise


def _check_same_base_model(run: Path, config) -> None:
    """Refuse a run whose local base model folder (or file) changed since the run started (its fingerprint in
    ``config.json``'s ``data_fingerprints`` against the one computed now, :func:`~treecredit.training.
    model_fingerprint.model_change`): the export takes the model's settings (its ``config.json``), tokenizer and,
    for a LoRA run, base weights from that folder, so it would not be the policy the run trained. A run saved before
    models were fingerprinted, or a hub id pinned to a commit, is not checked (as the resume's check)."""
    import json

    from treecredit.training.model_fingerprint import model_change

    saved = json.loads((run / "config.json").read_text()).get("data_fingerprints") or {}
    changed = model_change(saved if isinstance(saved, dict) else {}, config.data_fingerprints, run)
    if changed:
        fail("run", f"the run's base model changed: {changed}: the export would take the model's settings "
             "(config.json), tokenizer and base weights from other files than the run trained with",
             "restore the model folder the run started with and export again, or train a new run from the model "
             "as it is now and export that")


def _load_checkpoint(run: Path, log):
    from treecredit.training.checkpoint import load_latest_checkpoint

    try:
        return load_latest_checkpoint(run, log, read_only=True)  # checksum-checked before the model is built
    except ValueError as exc:
        if not str(exc).startswith("resume: "):
            raise
        problem = split_fix(str(exc))[0].removeprefix("resume: ")
        fail("run", f"cannot export: {problem}",
             f"export another run, or train this one anew (`treecredit train --config {run / 'config.json'} "
             "--overwrite`)")


def export_run(run: str | Path, out: str | Path, *, merge_lora: bool = True, overwrite: bool = False,
               log=print) -> Path:
    """Write the policy of run folder ``run`` into ``out``; returns ``out``.

    The newest valid checkpoint is exported (checked against its ``.sha256``; a damaged newest one falls
    back to ``checkpoint.prev.pt`` with a warning). A non-empty ``out`` needs ``overwrite=True``; ``out``
    that is a file, or below one, is refused, and so is one that is the run folder or its local base model, inside
    either or holding it.
    ``merge_lora=False`` (``--keep-adapters``) is for runs with LoRA adapters.
    """
    from treecredit.models.hf_load import export_pretrained
    from treecredit.tasks import task_from_config
    from treecredit.training.loop import build_policy

    run, out = Path(run), Path(out)
    _check_run(run)  # first: a run that is a file (run/checkpoint.pt) is named as such
    _check_out_apart_from_run(out, run)  # before --overwrite can let it write into the run folder
    _check_out_apart_from_model(out, run)  # or into the base model it was trained from
    _check_out(out, overwrite)
    config = _read_config(run)
    _check_same_base_model(run, config)
    if config.model == "gpt":  # from config.json, before the checkpoint is read
        fail("run", "the run trained the small GPT, which has no Hugging Face format",
             "export runs of --model <Hugging Face folder, .gguf file or smollm2>; the small GPT's weights are "
             "in checkpoint.pt")
    if not merge_lora and not config.lora_rank:
        fail("keep_adapters", "the run trained all weights (lora_rank 0), so it has no LoRA adapters to keep",
             "drop --keep-adapters; the export holds the full trained model")
    state = _load_checkpoint(run, log)
    policy = build_policy(config, task_from_config(config), log, for_checkpoint=True)  # no warm start
    policy.module.load_state_dict(state["model"])
    folder = export_pretrained(policy, out, merge_lora=merge_lora)
    log(f"exported step {state['counters']['step']} of {run} to {folder}")
    return folder


def run(args: argparse.Namespace) -> int:
    export_run(args.run, args.out, merge_lora=not args.keep_adapters, overwrite=args.overwrite)
    return 0
