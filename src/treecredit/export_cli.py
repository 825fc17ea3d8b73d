"""``treecredit export RUN --out FOLDER``: a trained Hugging Face policy as a ``save_pretrained`` folder.

Rebuilds the run's policy from ``RUN/config.json``, loads the weights of ``RUN/checkpoint.pt`` and writes
model and tokenizer with ``save_pretrained`` (LoRA adapters merged unless ``--keep-adapters``), so the
folder loads with ``AutoModelForCausalLM.from_pretrained`` or serves in vLLM.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from treecredit._validation import fail


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("run", help="a run folder of `treecredit train` (holding config.json and checkpoint.pt)")
    parser.add_argument("--out", required=True, help="folder to write the save_pretrained files into")
    parser.add_argument("--overwrite", action="store_true", help="replace what --out already holds")
    parser.add_argument("--keep-adapters", action="store_true",
                        help="LoRA runs: write the peft adapters instead of merged weights")


def export_run(run: str | Path, out: str | Path, *, merge_lora: bool = True, overwrite: bool = False,
               log=print) -> Path:
    """Write the policy of run folder ``run`` into ``out``; returns ``out``.

    The newest valid checkpoint is exported (checked against its ``.sha256``; a damaged newest one falls
    back to ``checkpoint.prev.pt`` with a warning). A non-empty ``out`` needs ``overwrite=True``.
    """
    from treecredit.models.hf_load import export_pretrained
    from treecredit.tasks import task_from_config
    from treecredit.training.checkpoint import load_latest_checkpoint
    from treecredit.training.config import TrainConfig
    from treecredit.training.loop import build_policy

    run = Path(run)
    if not (run / "config.json").is_file() or not (run / "checkpoint.pt").is_file():
        fail("run", f"{str(run)!r} holds no config.json and checkpoint.pt", "pass the --out folder of a finished run")
    if Path(out).exists() and (not Path(out).is_dir() or any(Path(out).iterdir())) and not overwrite:
        fail("out", f"{str(out)!r} already exists and is not an empty folder",
             "pass --overwrite to write into it, or another --out")
    state = load_latest_checkpoint(run, log)  # checksum-checked before the model is built
    config = TrainConfig(**json.loads((run / "config.json").read_text()))
    if config.model == "gpt":
        fail("run", "the run trained the small GPT, which has no Hugging Face format",
             "export runs of --model <Hugging Face folder, .gguf file or smollm2>; the small GPT's weights are "
             "in checkpoint.pt")
    policy = build_policy(config, task_from_config(config), log, for_checkpoint=True)  # no warm start to run
    policy.module.load_state_dict(state["model"])
    folder = export_pretrained(policy, out, merge_lora=merge_lora)
    log(f"exported step {state['counters']['step']} of {run} to {folder}")
    return folder


def run(args: argparse.Namespace) -> int:
    export_run(args.run, args.out, merge_lora=not args.keep_adapters, overwrite=args.overwrite)
    return 0
