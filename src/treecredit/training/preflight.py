"""Check a whole training configuration before any work (warm start, evaluation, sampling) starts.

:func:`check_run` is the one place that checks what no single field can: the estimator's declared needs
(``EstimatorSpec.requires``) against what the chosen task, sampler and options provide, the estimator's
and the sampler's option names and value types, the tree sampler's group sizes with replay, TensorBoard,
and the output folder (an earlier run there is never overwritten without ``overwrite``; ``resume`` needs
the same settings; its disk has room for the run's checkpoints). Each failure is a ``ValueError`` naming the
setting and the fix.
"""

from __future__ import annotations

import json
from pathlib import Path

from treecredit._validation import fail
from treecredit.training.context import check_context
from treecredit.training.model_fingerprint import is_model_fingerprint, model_change
from treecredit.training.option_checks import check_option_values, sampler_flags  # check_option_values: its home before
from treecredit.training.out_folder import check_out_folder, refuse_if_held
from treecredit.training.reward_fingerprint import is_module_fingerprint, warn_changed_modules
from treecredit.training.reward_probe import PROBE_PROBLEMS, check_rewards  # noqa: F401 — their home before

RUN_FILES = ("config.json", "metrics.jsonl", "samples.jsonl", "checkpoint.pt", "checkpoint.prev.pt")
"""Files whose presence means that a folder holds a run."""
RESUME_MAY_CHANGE_FLAGS = ("steps", "token_budget", "progress", "tensorboard", "sample_every", "cache_dir")
"""The settings a user may change on ``--resume`` (docs/runs.md lists these, checked by a test): the stopping point,
the display, and ``cache_dir`` (a cache is not part of a run's result: a warm start is keyed by its settings and
thread count and trained the same way wherever it is cached). ``compile_decode`` is not among them: a compiled
decoding step reassociates float sums (logits differ by ~4e-5, docs/sampling.md), so sampling may differ."""
RESUME_MAY_CHANGE = RESUME_MAY_CHANGE_FLAGS + ("out", "module_folders", "data_fingerprints")
"""Settings a resumed run may change: :data:`RESUME_MAY_CHANGE_FLAGS`, ``out`` (the same folder however it is
spelled), ``module_folders`` (where the same ``--reward`` module was found this time) and ``data_fingerprints``
(checked by :func:`check_same_data`, with its own error)."""
RUN_CHOSEN = ("lr",)
"""Settings whose default the run chooses (``lr`` by model): unset on a resume, the saved run's value is kept
(a run started when the default was another value resumes as it started)."""
PATH_FIELDS = ("cache_dir", "model", "dataset")
"""Settings compared as resolved paths when resuming."""

_NEED_FIX = {
    "steps": "pass --estimator-option step_tokens=N or delimiter=[TOKEN_ID, ...]",
    "tree": "pass --sampler tree (the sampled tree gives the tree estimators their structure)",
    "mc_values": "pass --sampler tree --mc-rollouts K (K ≥ 1 Monte Carlo rollouts per step end)",
    "turns": "use a turn-level training setup (multi-turn episodes)",
}


def available_inputs(config, task) -> set[str]:
    """What a run with ``config`` on ``task`` gives an estimator (names from ``registry.REQUIREMENTS``)."""
    have = set()
    if task.delimiter or {"delimiter", "step_tokens", "step_ends"} & set(config.estimator_options):
        have.add("steps")
    if config.sampler == "tree":
        have.add("tree")
        if {**config.tree_sampler_options(), **config.sampler_options}.get("mc_rollouts"):
            have.add("mc_values")
    return have


def _need_fix(need: str, task) -> str:
    """The fix for a missing estimator input; for steps, the task's own delimiter option where it takes one."""
    from treecredit.tasks import takes_delimiter

    if need == "steps" and takes_delimiter(task):
        return "give the task a step delimiter, --task-option delimiter=TEXT, or " + _NEED_FIX[need]
    return _NEED_FIX[need]


def check_estimator(config, task) -> bool:
    """The estimator's needs, option names, value types and values (a dry run) against ``config``; whether the
    dry run ran (:func:`~treecredit.training.dry_run.check_estimator_options`: only with options given)."""
    import treecredit

    spec = treecredit.get_estimator(config.estimator)
    missing = spec.missing(available_inputs(config, task))
    if missing:
        need = missing[0]
        fail("estimator", f"{config.estimator!r} needs {' or '.join(need.split('|'))}, which this configuration "
             f"does not provide", _need_fix(need.split("|")[-1], task))
    check_option_values(spec.fn, config.estimator_options, "estimator_options", f"estimator {config.estimator!r}",
                        reserved=FROM_THE_BATCH)
    check_mc_values_read(config, spec)
    from treecredit.training.dry_run import check_estimator_options

    return check_estimator_options(config, task)  # option values: the estimator runs once on a tiny batch


def check_mc_values_read(config, spec) -> None:
    """``--mc-rollouts K`` spends K rollouts per step end on Monte Carlo values: refused when the estimator does
    not read ``mc_values`` (they would cost tokens and train nothing)."""
    import treecredit

    k = {**config.tree_sampler_options(), **config.sampler_options}.get("mc_rollouts")
    if not k or "mc_values" in spec.options:
        return
    readers = sorted(n for n in treecredit.estimators("token") if "mc_values" in treecredit.get_estimator(n).options)
    rollouts = "rollout" if k == 1 else "rollouts"
    fail("mc_rollouts", f"--mc-rollouts {k} spends {k} {rollouts} per step end on Monte Carlo values, but estimator "
         f"{config.estimator!r} does not read them (only {', '.join(readers)} does)",
         f"drop --mc-rollouts, or pass --estimator {readers[0] if readers else 'vine'}")


FROM_THE_BATCH = ("batch", "step_ends", "tree_nodes", "mc_values")
"""Estimator parameters the trainer fills in from each sampled batch: not options a run can set."""


def build_sampler(config):
    """The sampler of ``config``; unknown sampler options, and options that a train flag sets, are refused
    (with the accepted names, or the flag)."""
    from treecredit.sampling import make_sampler
    from treecredit.sampling.registry import _SAMPLERS, command_line_errors, samplers
    from treecredit.training.config import branching_flag_named

    samplers()  # registers the built-in samplers
    cls = _SAMPLERS.get(config.sampler)
    flags = sampler_flags()
    if cls is not None:
        check_option_values(cls, config.sampler_options, "sampler_options", f"sampler {config.sampler!r}",
                            flags=flags)
    with branching_flag_named(config), command_line_errors(config.sampler, config.sampler_options):
        return make_sampler(config.sampler, temperature=config.temperature, top_p=config.top_p,
                            max_new_tokens=config.max_new_tokens,
                            **{**config.tree_sampler_options(), **config.sampler_options})


def check_replay(sampler, group_size: int) -> None:
    """Replay (``--replay-leaves r``): the first visit of a problem grows all ``G`` leaves, later visits
    ``G − r`` and reuse ``r`` leaves of the stored first root subtree; each must fit the branching
    (:meth:`~treecredit.sampling.tree.TreeSampler.check_group_size`)."""
    if getattr(sampler, "replay", None) is not None and hasattr(sampler, "check_group_size"):
        sampler.check_group_size(group_size)


def check_tensorboard(config) -> None:
    if config.tensorboard is True:
        try:
            import tensorboard  # noqa: F401
            from torch.utils.tensorboard import SummaryWriter  # noqa: F401
        except ImportError:
            fail("tensorboard", "--tensorboard was asked for, but the tensorboard package is not installed",
                 "pip install tensorboard (or treecredit[tensorboard]), or pass --no-tensorboard")


def check_cutoff(config, task, log=print) -> None:
    """``--cutoff`` acts only in the tree sampler (refused elsewhere) and on tasks with a step checker (refused
    elsewhere); ``sound`` prunes only on tasks whose wrong steps are fatal, so elsewhere it is a no-op, said at start
    through ``log`` (a run's: console and log.txt)."""
    if config.cutoff == "off":
        return
    if config.sampler != "tree":
        fail("cutoff", f"--cutoff {config.cutoff} prunes branches of sampled trees; the {config.sampler!r} "
             "sampler ignores it", "add --sampler tree, or drop --cutoff")
    from treecredit.sampling.cutoff import check_cutoff_task

    check_cutoff_task(config.cutoff, task, log)  # refused without a step checker; sound's no-op said


def run_files_in(folder: Path, skip: tuple[str, ...] = ()) -> list[str]:
    """The files of :data:`RUN_FILES` (less ``skip``) that ``folder`` holds."""
    return [name for name in RUN_FILES if name not in skip and (Path(folder) / name).exists()]


def holds_run(folder: Path) -> bool:
    """Whether ``folder`` holds (part of) an earlier run."""
    return bool(run_files_in(folder))


def check_out(config, *, resume: bool, overwrite: bool, resume_fix: str | None = None, space: bool = True) -> None:
    """Never overwrite an earlier run by accident; resume only under the same settings (``resume_fix``: the
    fix a changed setting names, default the ``treecredit train --resume`` command); then (``space``) refuse a run
    whose disk lacks room for its checkpoints (:func:`~treecredit.training.disk_space.check_free_space`)."""
    _check_earlier_run(config, resume=resume, overwrite=overwrite, resume_fix=resume_fix)
    if space:
        from treecredit.training.disk_space import check_free_space

        check_free_space(config, overwrite=overwrite)


def _check_earlier_run(config, *, resume: bool, overwrite: bool, resume_fix: str | None) -> None:
    out = Path(config.out)
    if resume and overwrite:
        fail("resume", "--resume and --overwrite were both given", "pass --resume to continue the run in "
             f"{out}, or --overwrite to replace it")
    check_out_folder(out)  # a file, or a file among its parent folders: refused before any work
    refuse_if_held(out)  # another live process writes a run there: no --resume or --overwrite can help
    if resume and not holds_run(out):  # a typo in --out, or a run never started: not a fresh start in disguise
        fail("resume", f"{str(out)!r} holds no run to resume (no config.json, metrics or checkpoint)",
             "pass the --out of the run to continue, or drop --resume to start a new run there")
    if not holds_run(out) or overwrite:
        return
    untrained = trained_nothing(out)
    if not resume:
        if untrained:  # a start that a check refused after its folder was written, or one stopped before step 1
            fail("out", f"{str(out)!r} already holds a run that stopped before its first training step (no "
                 "checkpoint, no step in its metrics)", "pass --overwrite to start anew there (nothing trained is "
                 "lost), --resume to start it again from step 0 with its saved settings, or another --out")
        if not any(out.glob("checkpoint*.pt")):  # it stopped before its first checkpoint: nothing to resume
            fail("out", f"{str(out)!r} already holds a run that saved no checkpoint (it stopped before its first "
                 "one)", "pass --resume to start it again from step 0 in that folder (as the stop message said), "
                 "--overwrite to replace it, or another --out")
        fail("out", f"{str(out)!r} already holds a run", "pass --resume to continue it, --overwrite to replace "
             "it, or another --out")
    other_way = None  # the way out that a held_out_rule refusal names besides the run's own rule
    if untrained and resume_fix is None:
        other_way = ("pass --overwrite instead of --resume to start anew with these settings (the run there stopped "
                     "before its first training step: nothing trained is lost)")
        resume_fix = (f"pass --overwrite instead of --resume to start anew with these settings (the run there stopped "
                      f"before its first training step: nothing trained is lost), or resume with the saved settings, "
                      f"`treecredit train --config {out / 'config.json'} --resume`")
    check_same_data(out / "config.json", config)
    check_same_settings(out / "config.json", config, resume_fix, other_way=other_way)


def trained_nothing(out: Path) -> bool:
    """Whether the run in ``out`` stopped before its first training step: no checkpoint and no ``train`` record
    in its ``metrics.jsonl`` (none, or only the step-0 evaluation), so replacing it loses no training. A
    ``metrics.jsonl`` that cannot be read counts as trained (the refusal then does not call ``--overwrite``
    harmless)."""
    if any(out.glob("checkpoint*.pt")):
        return False
    metrics = out / "metrics.jsonl"
    if not metrics.exists():
        return True
    try:
        records = [json.loads(line) for line in metrics.read_text().splitlines() if line.strip()]
    except (OSError, ValueError):
        return False
    return all(isinstance(r, dict) and r.get("kind") == "eval" for r in records)


def check_same_data(path: Path, config) -> None:
    """Refuse to resume a run whose data files changed since it started: a ``--dataset`` (or
    ``held_out_path``) file whose size or sha256 differs from the one recorded in the run's ``config.json``
    (``data_fingerprints``; a run saved before they were recorded is not checked), or whose local ``--model``
    folder or file changed (its fingerprint there, :mod:`~treecredit.training.model_fingerprint`; a run saved
    before models were fingerprinted is not checked, nor a hub id pinned to a commit, which its commit fixes); an
    edited reward module is warned about (:mod:`~treecredit.training.reward_fingerprint`)."""
    if not path.exists():
        return
    saved = json.loads(path.read_text()).get("data_fingerprints") or {}
    changed = model_change(saved, config.data_fingerprints, path.parent)
    if changed:
        fail("model", f"{changed}: resuming would take the KL reference and the base weights from other weights than "
             "the run's", "restore the model folder the run started with to resume it, or start a new run from this "
             "model with another --out (or --overwrite)")
    warn_changed_modules(saved, config.data_fingerprints, path.parent)  # an edited reward: warned, not refused
    for file, now in config.data_fingerprints.items():
        before = saved.get(file)
        if before is not None and before != now and not is_model_fingerprint(now) and not is_module_fingerprint(now):
            argument = "dataset" if file == config.dataset else "held_out_path"
            fail(argument, f"{file} changed since the run in {path.parent} started ({before['bytes']} bytes, sha256 "
                 f"{before['sha256'][:12]}…; now {now['bytes']} bytes, sha256 {now['sha256'][:12]}…): resuming would "
                 "train on other rows than the checkpoint's", "put back the file the run started with to resume "
                 "it, or start a new run on the new data with --overwrite (or another --out)")


def clear_run(folder: Path) -> None:
    """Remove an earlier run's files from ``folder`` (``overwrite``); other files there are left alone."""
    import shutil

    folder = Path(folder)
    for name in RUN_FILES + ("checkpoint.pt.tmp", "checkpoint.pt.damaged"):
        for path in (folder / name, folder / (name + ".sha256"), folder / (name + ".sha256.tmp")):
            path.unlink(missing_ok=True)
    if (folder / "tensorboard").is_dir():
        shutil.rmtree(folder / "tensorboard")


def _comparable(values: dict) -> dict:
    from treecredit.training.config import resolved_path

    values = json.loads(json.dumps(values))
    if isinstance(values.get("compile_decode"), bool):  # saved by a version where it was a switch
        values["compile_decode"] = "on" if values["compile_decode"] else "off"
    for name in PATH_FIELDS:  # a model name or hub id (gpt, smollm2, ORG/NAME@COMMIT) is no path
        if values.get(name) and not (name == "model" and not Path(values[name]).expanduser().exists()):
            values[name] = resolved_path(values[name])
    held = (values.get("task_options") or {}).get("held_out_path")
    if isinstance(held, str) and held:
        values["task_options"]["held_out_path"] = resolved_path(held)
    return values


def check_same_settings(path: Path, config, resume_fix: str | None = None, *, other_way: str | None = None) -> None:
    """Refuse to resume a run under different settings (only :data:`RESUME_MAY_CHANGE` may change). The fix is
    ``resume_fix`` (default: resume with the saved settings); where only ``held_out_rule`` differs, how to give the
    saved rule (:func:`~treecredit.training.config_compat.held_out_rule_fix`) or ``other_way`` (default: a new run,
    or a new comparison where ``resume_fix`` is given).

    A setting that the saved run does not name (a field added by a later version of treecredit) counts as
    its default value, so a run started before the field existed resumes as long as the field is left at it;
    except where the runs saved before it behaved otherwise
    (:func:`~treecredit.training.config_compat.saved_run_values`: a dataset run without ``held_out_rule`` counts as
    rule 1, which ``treecredit train --resume`` adopts, and another caller's rule 2 is refused here, not silently
    given other held-out rows).
    """
    if not path.exists():
        return
    from treecredit.training.config_compat import held_out_rule_fix, saved_run_values

    saved = _comparable(saved_run_values(json.loads(path.read_text())))  # a dataset run saved before held_out_rule: 1
    for name in RUN_CHOSEN:  # unset here: the run goes on with what it chose when it started
        if name in saved and not config.was_given(name):
            setattr(config, name, saved[name])
    current = _comparable(config.to_dict())
    defaults = _comparable(type(config)().to_dict())
    changed = sorted(k for k in current if k not in RESUME_MAY_CHANGE and saved.get(k, defaults.get(k)) != current[k])
    if changed:
        values = "; ".join(f"{k}: saved {saved.get(k, defaults.get(k))!r}, now {current[k]!r}" for k in changed)
        fix = resume_fix or (f"resume with the saved settings, `treecredit train --config {path} --resume` (only "
                             f"{', '.join(RESUME_MAY_CHANGE_FLAGS)} may change), or start a new run with another --out "
                             "(or --overwrite)")
        if changed == ["held_out_rule"] and "held_out_rule" in saved:  # a task run's file has none: the plain refusal
            run = "run" if resume_fix is None else "comparison"  # (with other settings changed: the fix above)
            fix = held_out_rule_fix(saved["held_out_rule"], config,
                                    other_way or f"start a new {run} with another --out (or --overwrite)")
        fail("resume", f"the run in {path.parent} was started with other values of {changed} ({values})", fix)


def check_token_budget(config) -> None:
    """``token_budget`` (when > 0) against what one step can generate
    (:func:`~treecredit.training.budget.check_budget_fits`): refused before the warm start, not once the first
    step is sampled."""
    if config.token_budget > 0:
        from treecredit.training.budget import check_budget_fits

        check_budget_fits(config, config.token_budget, "token_budget", "--token-budget")


def check_held_out(task, eval_problems: int | None = None) -> None:
    """Refuse (``held_out``) a task without held-out problems (a dataset split with ``held_out=0``): every run
    evaluates them before its first step and after its last, and a pass@1 of nothing is no figure. Given the
    run's ``eval_problems``, also a task with a fixed list of problems (a dataset, HumanEval) whose every
    training row repeats the prompt of a held-out problem the run evaluates: training skips those, so the run
    would stop at its first step, after the warm start and the evaluation."""
    import numpy as np

    from treecredit.tasks import more_problems_fix
    from treecredit.training.agent_checks import _count
    from treecredit.training.loop import EVAL_SEED

    if not task.held_out_problems(np.random.default_rng(EVAL_SEED), 1):
        fail("held_out", "leaves no held-out problems, and every run evaluates on them before its first step and "
             "after its last", "pass --task-option held_out=0.1 (a tenth of the rows) or held_out=N (a count), or "
             "held_out_path=FILE")
    train = getattr(task, "train_problems", None)
    if eval_problems is None or train is None:
        return
    held = {p.prompt for p in task.held_out_problems(np.random.default_rng(EVAL_SEED), eval_problems)}
    if train and all(p.prompt in held for p in train):
        rows = "rows" if getattr(task, "name", "") == "dataset" else "problems"
        distinct = len(held | {p.prompt for p in train})
        fail("held_out", f"every one of the {len(train)} training {rows} repeats the prompt of a held-out problem "
             f"the run evaluates ({_count(len(held), 'distinct held-out prompt')}; {distinct} in all), and "
             "training skips held-out prompts, so none is left to train on", more_problems_fix(task))


def check_run(config, *, resume: bool = False, overwrite: bool = False, task=None, resume_fix: str | None = None,
              log=print):
    """Check everything about a run that can be checked without work; return its sampler (``resume_fix``:
    see :func:`check_out`).

    Order: output folder, TensorBoard, token budget, task, estimator needs/options, reward functions (a probe
    batch) and their range against the estimator's, sampler options, group sizes with replay, resumability
    of the sampler's state, then the prompts against the model's positions and, for a Hugging Face model,
    its tokenizer against its vocabulary and end-of-sequence token (:func:`~treecredit.training.context.check_context`).
    ``log``: where notes go (a run's log, which also writes them to log.txt).
    """
    from treecredit.tasks import task_from_config

    check_out(config, resume=resume, overwrite=overwrite, resume_fix=resume_fix)
    check_tensorboard(config)
    check_token_budget(config)
    if task is None:  # (train() attaches TRL's trainer keywords to its own task before calling this)
        from treecredit.rewards.trainer_keywords import attach

        task = task_from_config(config)
        attach(task, config.steps, config.prompts_per_step)  # probed with trainer_state etc., as the run calls them
    check_held_out(task, config.eval_problems)
    from treecredit.training.train_notes import delimiter_note

    if note := delimiter_note(config, task):  # a delimiter no worked solution holds: no step ends learned
        log(note)
    from treecredit.tasks.rg_prompts import system_prompt_note

    if note := system_prompt_note(task):  # an rg: task on a chat model: reasoning-gym's system prompt, in full
        log(note)
    tested = check_estimator(config, task)  # the tiny batch ran with its own rewards: not run again below
    from treecredit.training.reward_range import check_reward_range

    check_reward_range(config, task, check_rewards(task), inside_passed=tested)  # e.g. TreeRPO's Bernoulli scale
    check_cutoff(config, task, log)  # its note reaches the run's log.txt
    sampler = build_sampler(config)
    check_replay(sampler, config.group_size)
    from treecredit.training.checkpoint import checkpoint_files

    stateful = getattr(sampler, "replay", None) is not None and getattr(sampler, "state_dict", None) is None
    if resume and stateful and checkpoint_files(config.out):
        fail("resume", "this sampler cannot save its replay store, so a resumed --replay-leaves run would differ "
             "from an uninterrupted one", "start anew with --overwrite, or train without --replay-leaves")
    check_context(config, task)  # last: for a Hugging Face model it reads the tokenizer (and converts a GGUF file)
    return sampler
