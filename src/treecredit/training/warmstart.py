"""Supervised warm start: teach a policy the task's format on worked solutions, cached on disk.

The small GPT always starts this way (:func:`warm_started_policy`); a Hugging Face model does when asked
(:func:`hf_warm_started`, ``--hf-warm-start-steps``), fully or through its LoRA adapters. The worked
solutions are the task's ``Problem.solution``: a dataset's ``solution_column``, a reasoning-gym
generator's worked steps (:mod:`treecredit.tasks.rg_steps`), HumanEval's canonical solutions, else the
answer.

RL from a random policy never sees a reward on these tasks, so the trainer starts from a policy trained
by maximum likelihood on correct worked solutions for a fixed number of steps, stopped early enough to
leave room for RL (a middling accuracy). The result depends only on the warm-start settings and the
seed, so it is cached under ``cache_dir`` by a hash of those settings and reused by the next run.

Loss: L = −(1/N) Σ_rows Σ_t log π(y_t | prompt, y_<t), N = number of solution tokens in the batch.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path


def default_cache_dir() -> Path:
    """``$TREECREDIT_CACHE`` if set, else ``~/.cache/treecredit``."""
    return Path(os.environ.get("TREECREDIT_CACHE", Path.home() / ".cache" / "treecredit"))


def warm_start_key(settings: dict) -> str:
    """A short hash of the JSON-serialised ``settings`` (sorted keys)."""
    blob = json.dumps(settings, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def supervised_batch(policy, task, problems):
    """``(prompts, response_ids (B, T), mask (B, T))`` of the worked solutions of ``problems``."""
    import torch

    prompts = [policy.encode_prompt(task.format_prompt(p)) for p in problems]
    # a task without an end marker ends on the model's eos, which the solution text cannot hold
    targets = [policy.encode(p.solution) + ([] if task.end else [policy.eos_id]) for p in problems]
    width = max(len(t) for t in targets)
    ids = torch.full((len(targets), width), policy.pad_id, dtype=torch.long)
    mask = torch.zeros((len(targets), width), dtype=torch.bool)
    for row, target in enumerate(targets):
        ids[row, : len(target)] = torch.as_tensor(target)
        mask[row, : len(target)] = True
    return prompts, ids, mask


def train_supervised(policy, task, *, steps: int, batch_size: int, lr: float, seed: int,
                     on_step=None, held_out: frozenset | set = frozenset()) -> list[float]:
    """``steps`` AdamW steps of maximum likelihood on fresh problems from ``seed``; returns the losses.
    ``on_step(loss)`` is called after each step (a :class:`~treecredit.training.progress.StepProgress`).
    A problem whose prompt is in ``held_out`` (the run's held-out prompts) is skipped, as the RL draws skip
    it: the held-out pass@1 is measured on problems the model never saw solved."""
    import numpy as np

    from treecredit.training.draws import draw_problems

    rng = np.random.default_rng([seed, 1])  # a stream of its own, apart from the RL draws
    step = supervised_stepper(policy, lr)
    losses = []
    for _ in range(steps):
        problems = draw_problems(task, rng, batch_size, held_out) if held_out else task.generate(rng, batch_size)
        losses.append(step(*supervised_batch(policy, task, problems)))
        if on_step is not None:
            on_step(losses[-1])
    return losses


def held_out_key(held_out: frozenset | set) -> dict:
    """The part of a warm-start cache key that names the held-out prompts it skipped: a digest of them, or
    nothing when there are none (so that such a cache keeps its key)."""
    if not held_out:
        return {}
    digest = hashlib.sha256("\0".join(sorted(held_out)).encode()).hexdigest()[:16]
    return {"held_out": {"prompts": len(held_out), "sha256": digest}}


def supervised_stepper(policy, lr: float):
    """A function ``step(prompts, ids (B, T), mask (B, T)) -> loss`` that takes one AdamW step of maximum
    likelihood on the masked response tokens (warm-up of the learning rate over 20 steps, gradient norm
    clipped to 1). The one supervised step of the task and the agent warm starts."""
    import torch

    trainable = [p for p in policy.module.parameters() if p.requires_grad]  # LoRA: the adapters only
    optimizer = torch.optim.AdamW(trainable, lr=lr, weight_decay=0.0)
    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: min(1.0, (s + 1) / 20))
    policy.module.train()

    def step(prompts, ids, mask) -> float:
        logp, _ = policy.token_logprobs(prompts, ids, with_entropy=False)
        loss = -(logp * mask).sum() / mask.sum().clamp(min=1)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        optimizer.step()
        schedule.step()
        return float(loss.detach())

    return step


def char_tokenizer_for(task):
    """The small GPT's tokenizer for ``task``: the default alphabet, extended by the task's other
    characters (datasets, reasoning-gym), so the built-in tasks keep their ids and cached weights."""
    from treecredit.models.tokenizer import DEFAULT_ALPHABET, CharTokenizer

    extra = "".join(sorted(set(getattr(task, "alphabet", "")) - set(DEFAULT_ALPHABET)))
    return CharTokenizer(DEFAULT_ALPHABET + extra)


def warm_started_policy(task, *, model_config: dict, steps: int, batch_size: int, lr: float, seed: int,
                        cache_dir: str | Path | None = None, log=print, progress: bool = False,
                        held_out: frozenset | set = frozenset()):
    """The small GPT after the supervised warm start, loaded from the cache when it is there; problems whose
    prompt is in ``held_out`` are never trained on (:func:`train_supervised`).

    The cache key covers the task, the model size, the warm-start settings, the seed and the held-out
    prompts (:func:`held_out_key`); a cached
    file is a plain ``state_dict`` (``<key>.pt``) plus a JSON side-car describing it. Training shows a
    progress bar when ``progress``, else a ``log`` line every 30 s
    (:class:`~treecredit.training.progress.StepProgress`).
    """

    from treecredit.models import GPTPolicy

    identity = task.cache_identity() if hasattr(task, "cache_identity") else vars(task)
    settings = {"task": task.name, "task_options": identity, "model": model_config, "steps": steps,
                "batch_size": batch_size, "lr": lr, "seed": seed, "version": 1, **held_out_key(held_out)}
    return cached_policy(settings,
                         lambda: GPTPolicy.build(tokenizer=char_tokenizer_for(task), seed=seed, **model_config),
                         lambda policy, on_step: train_supervised(policy, task, steps=steps, batch_size=batch_size,
                                                                  lr=lr, seed=seed, on_step=on_step,
                                                                  held_out=held_out),
                         cache_dir, log, training=f"{steps} supervised steps", steps=steps, progress=progress)


def cached_policy(settings: dict, build, train, cache_dir: str | Path | None = None, log=print, *,
                  prefix: str = "warmstart", training: str = "training", trainable_only: bool = False,
                  steps: int = 0, progress: bool = False):
    """``build()`` a policy, then load its weights from ``<cache>/<prefix>-<key>.pt`` (key: a hash of
    ``settings``) when they are there, else ``train(policy, on_step)`` (→ losses) and save them atomically, with
    a JSON side-car of ``settings`` and the final loss. ``cache_dir`` None or '' = :func:`default_cache_dir`.
    ``trainable_only``: save and load only the parameters that require gradients (LoRA adapters; every
    parameter of a fully trained model). The one cache of the task and the agent warm starts.
    ``train`` calls ``on_step(loss)`` after each of its ``steps`` steps: a progress bar when ``progress``,
    else a ``log`` line every 30 s (:class:`~treecredit.training.progress.StepProgress`).
    The key also holds torch's thread count when it is not 1: float sums run in another order with more
    threads, so the weights differ (by up to ~3e-4 after 150 steps here; 1.4e-5 after 60 steps of a 2-layer GPT
    under 2 threads, 2026-12-03) and a cache filled under one count would give a run under another weights it
    would not have trained itself. A warm start trained for want of a cache under this count, where one under
    another count is there, is preceded by a note naming both counts and the fix (:func:`thread_notes`), and
    the training line names a count other than 1."""
    import torch

    threads = torch.get_num_threads()
    general, settings = settings, thread_settings(settings, threads)
    folder = Path(cache_dir) if cache_dir else default_cache_dir()
    path = folder / f"{prefix}-{warm_start_key(settings)}.pt"
    policy = build()
    state = _load_cache(path, log) if path.exists() else None
    if state is not None:
        if trainable_only:
            missing = set(state) - dict(policy.module.named_parameters()).keys()
            if missing:
                raise RuntimeError(f"warm start cache {path} holds parameters the model lacks: {sorted(missing)[:3]}")
            policy.module.load_state_dict(state, strict=False)
        else:
            policy.module.load_state_dict(state)
        log(f"warm start: loaded {path}")
        return policy
    from treecredit.training.disk_space import check_cache_room

    # the cache's disk has room for the weights before they are trained, not found full after (shapes are fixed)
    check_cache_room(folder, sum(t.numel() * t.element_size() for t in _saved_state(policy, trainable_only).values()))
    for note in thread_notes(general, folder, prefix, threads):
        log(note)
    under = f" under {threads} torch threads" if threads != 1 else ""
    log(f"warm start: {training}{under} (cached afterwards at {path})")
    from treecredit.training.progress import StepProgress

    with StepProgress(steps, "warm start", bar=progress, log=log) as on_step:
        losses = train(policy, on_step)
    folder.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")  # two runs building one warm start write apart
    torch.save(_saved_state(policy, trainable_only), tmp)
    os.replace(tmp, path)
    side = path.with_name(f"{path.with_suffix('.json').name}.{os.getpid()}.tmp")
    side.write_text(json.dumps({**settings, "final_loss": losses[-1] if losses else None}, indent=1, default=str))
    os.replace(side, path.with_suffix(".json"))
    if losses:  # the progress lines stop before the last step (with or without a bar): its loss, once
        log(f"warm start: {len(losses)} steps done, final loss {losses[-1]:.3f} (first {losses[0]:.3f})")
    return policy


def thread_settings(settings: dict, threads: int) -> dict:
    """``settings`` as the cache keys them under ``threads`` torch threads: with ``"torch_threads"`` when not 1
    (:func:`cached_policy`: the weights depend on the count)."""
    return {**settings, "torch_threads": threads} if threads != 1 else settings


def thread_notes(settings: dict, folder: Path, prefix: str, threads: int) -> list[str]:
    """Notes said before a warm start of ``settings`` is trained under ``threads`` torch threads, for want of a
    cache under that count, where ``folder`` holds one of the same settings built under another count (1 to
    max(64, twice the cores)): it names the count, the file and the fix (``torch.set_num_threads(N)`` before the
    call, ``--threads N`` for ``treecredit train``/``compare``), instead of training again for minutes in silence
    (a script that loads a cached warm start without ``torch.set_num_threads(1)``, torch's default being one thread
    a core)."""
    counts = range(1, max(64, 2 * (os.cpu_count() or 1)) + 1)
    found = [(n, folder / f"{prefix}-{warm_start_key(thread_settings(settings, n))}.pt") for n in counts
             if n != threads]
    plural = "s" * (threads != 1)
    return [f"warm start: note: this process runs {threads} torch thread{plural}, and no cache of this warm start "
            f"was built under {threads}; one built under {n} is at {cached} (the cache key holds the thread count: "
            f"float sums run in another order, so the weights differ), so it is trained again now. To load that one "
            f"instead, call torch.set_num_threads({n}) before the warm start (treecredit train and compare: "
            f"--threads {n})" for n, cached in found if cached.exists()]


def _saved_state(policy, trainable_only: bool) -> dict:
    """What :func:`cached_policy` saves of ``policy``: its trained parameters (``trainable_only``), else its
    ``state_dict``."""
    if trainable_only:
        return {n: p.detach() for n, p in policy.module.named_parameters() if p.requires_grad}
    return policy.module.state_dict()


def _load_cache(path: Path, log) -> dict | None:
    """The ``state_dict`` in the warm-start cache file ``path``; None, with a logged warning naming the file, when
    it cannot be read (truncated by a kill or a full disk, or otherwise damaged): the warm start is then trained
    again and its new file replaces that one."""
    import torch

    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # noqa: BLE001 - torch raises RuntimeError, EOFError, UnpicklingError, ...
        reason = str(exc).splitlines()[0][:200] if str(exc) else type(exc).__name__
        log(f"warning: warm start cache {path} is damaged and cannot be read ({reason}): training the warm start "
            "again, which replaces it")
        return None


def hf_warm_started(policy, task, *, model_identity: dict, steps: int, batch_size: int, lr: float, seed: int,
                    cache_dir: str | Path | None = None, log=print, progress: bool = False,
                    held_out: frozenset | set = frozenset()):
    """``policy`` (an ``HFPolicy``, LoRA or not) after ``steps`` supervised steps on the task's worked
    solutions (never those of a prompt in ``held_out``), in place; the trained parameters (the adapters only,
    under LoRA) are cached like the small GPT's warm start, keyed by ``model_identity``
    (:func:`treecredit.models.hf_load.model_identity`), the chat-template use, the task, the held-out prompts
    and these settings. Returns ``policy``."""
    identity = task.cache_identity() if hasattr(task, "cache_identity") else vars(task)
    lora = sorted(n for n, p in policy.module.named_parameters() if p.requires_grad and "lora_" in n)
    settings = {"task": task.name, "task_options": identity, "model": model_identity, "steps": steps,
                "batch_size": batch_size, "lr": lr, "seed": seed, "chat_template": policy.use_chat_template,
                "lora": len(lora), "kind": "hf", "version": 1, **held_out_key(held_out)}
    import torch

    def train(p, on_step):
        torch.manual_seed(seed)
        return train_supervised(p, task, steps=steps, batch_size=batch_size, lr=lr, seed=seed, on_step=on_step,
                                held_out=held_out)

    return cached_policy(settings, lambda: policy, train, cache_dir, log, prefix="hf-warmstart",
                         training=f"{steps} supervised steps of the Hugging Face model", trainable_only=True,
                         steps=steps, progress=progress)
