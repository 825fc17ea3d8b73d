"""Start-up pieces of a training run: seeds and the run folder, and what should cost nothing there (the
determinism switch, the optimizer).

``torch.use_deterministic_algorithms`` imports ``torch._inductor.config`` (and with it the compiler stack,
``torch._dynamo``) only to copy the flag into the compiler's settings; measured here, that import costs
1.5–7 s per process (on a loaded 2-core machine). When the compiler has not been imported,
:func:`deterministic_algorithms` sets the flag in the ATen context directly and leaves the compiler's
setting to its environment variable ``TORCHINDUCTOR_DETERMINISTIC``, which the compiler reads if it is
imported later in the process, so both paths end in the same state.
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager


def deterministic_algorithms(mode: bool = True, *, warn_only: bool = True) -> None:
    """``torch.use_deterministic_algorithms(mode, warn_only=warn_only)`` without importing the compiler."""
    import torch

    setter = getattr(torch._C, "_set_deterministic_algorithms", None)
    if "torch._inductor.config" in sys.modules or setter is None:
        torch.use_deterministic_algorithms(mode, warn_only=warn_only)
        return
    os.environ["TORCHINDUCTOR_DETERMINISTIC"] = "1" if mode else "0"
    setter(mode, warn_only=warn_only)


def adamw(params, *, lr: float, weight_decay: float = 0.0):
    """``torch.optim.AdamW`` with the fused kernel where this build and these parameters have one (CPU
    float32 in torch ≥ 2.4: about 6× faster per step than the default ``foreach`` kernel, measured on 4M
    parameters), else the default implementation. Same update rule either way (Loshchilov & Hutter,
    arXiv:1711.05101); results differ from the unfused kernel only by float rounding."""
    import torch

    params = list(params)
    try:
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, fused=True)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)


def start_run(config, *, resume: bool, overwrite: bool, log=print):
    """Seed ``random``, NumPy and torch with ``config.seed``, set ``config.threads``, switch deterministic
    algorithms on, and prepare ``config.out``: its earlier run set aside under ``overwrite``
    (:func:`~treecredit.training.out_folder.set_aside`: the caller runs inside
    :func:`~treecredit.training.out_folder.replacing` and calls ``drop_aside`` after its first training step; call
    this before the run's log opens, which would replace the earlier ``log.txt``), created, its newest valid
    checkpoint loaded under ``resume``, ``config.json`` written (the settings a resume is checked against). A
    run that executes the model's programs (a ``code`` reward, the ``humaneval`` task's own verifier) logs the
    sandbox's isolation layers on this machine first (:func:`sandbox_layers_line`).

    Returns ``(out, saved)``: the run folder and the loaded checkpoint (None when not resuming). The folder
    checks (:func:`treecredit.training.preflight.check_out`) come before this, with the other checks.
    Shared by task runs (:func:`treecredit.training.loop.train`) and agent runs
    (:func:`treecredit.training.agent_loop.train_agent`).
    """
    import json
    import random
    from pathlib import Path

    import numpy as np
    import torch

    from treecredit.training.checkpoint import load_latest_checkpoint
    from treecredit.training.out_folder import set_aside

    torch.set_num_threads(config.threads)
    random.seed(config.seed)
    np.random.seed(config.seed)
    torch.manual_seed(config.seed)
    deterministic_algorithms(True, warn_only=True)
    layers = sandbox_layers_line(config)
    if layers:  # the run executes the model's programs: which isolation layers this machine gives them
        log(layers)
    out = Path(config.out)
    if overwrite:  # kept aside until the first training step: a start that fails puts it back
        set_aside(out)
    out.mkdir(parents=True, exist_ok=True)
    saved = load_latest_checkpoint(out, log) if resume else None
    if not _past_its_end(config, saved):  # a finished run resumed with a smaller --steps keeps its settings
        (out / "config.json").write_text(json.dumps(config.saved_dict(), indent=1))
    return out, saved


def sandbox_layers_line(config) -> str:
    """:func:`treecredit.sandbox.describe_layers`' line (``sandbox layers: OS limits (...); seccomp (...);
    namespaces (...); audit hook (...)``, or ``NO ...`` for a layer this machine lacks) when ``config``'s run
    executes the model's programs in the sandbox: a ``--reward code`` (with any options or weight), or the
    ``humaneval`` task scored by its own verifier (no ``--reward``, or ``--reward task``); '' otherwise (agent
    runs, other rewards and tasks). A ``module:function`` reward of the user's that calls the sandbox itself is
    not seen."""
    from treecredit.rewards.load import parse_spec

    if getattr(config, "env", ""):
        return ""
    targets = [parse_spec(spec)[0] for spec in getattr(config, "reward", []) or [] if isinstance(spec, str)]
    humaneval = not getattr(config, "dataset", "") and getattr(config, "task", "") == "humaneval" \
        and (not targets or "task" in targets)
    if "code" not in targets and not humaneval:
        return ""
    from treecredit.sandbox import describe_layers

    return describe_layers()


def _past_its_end(config, saved) -> bool:
    """Whether the checkpoint ``saved`` (None: none) is past where ``config`` ends the run (more steps than
    ``steps``, more generated tokens than ``token_budget``): a resume that trains nothing, whose smaller stopping
    point must not replace the ``config.json`` that describes the run as it was trained."""
    counters = (saved or {}).get("counters") or {}
    steps, budget = getattr(config, "steps", 0), getattr(config, "token_budget", 0)
    return bool(counters) and ((steps > 0 and counters.get("step", 0) > steps) or
                               (budget > 0 and counters.get("generated_tokens", 0) > budget))


@contextmanager
def torch_threads(threads: int):
    """torch's CPU thread count set to ``threads`` inside the block, put back after it (a warm start built by
    ``compare``'s own process trains as the run would: its weights depend on the thread count)."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)
