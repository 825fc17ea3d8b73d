"""Run several arms × seeds at one generated-token budget with identical settings, in parallel processes.

Arms (``grpo``, ``treerpo@tree[scale=none]``, ...): the syntax is in :mod:`treecredit.training.arms`.

Every run gets the same ``TrainConfig`` apart from its arm's changes and ``seed``/``out``: no arm is tuned
more than another unless its label says so. Warm starts are trained once in the parent process and shared
from the cache, so all runs of an arm start from the same policy. A run that raises is recorded with its
error and the other runs go on; ``on_result`` is called as each run finishes (the report is rewritten then).
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import traceback
from pathlib import Path
from typing import NamedTuple

from treecredit._validation import first_clause
from treecredit.training.arms import (  # noqa: F401 — the arm functions, also importable from here
    AGENT_PREFERRED,
    DICT_PREFIXES,
    PER_RUN,
    PREFERRED,
    Arm,
    arm_config,
    arm_configs,
    default_estimators,
    parse_arm,
    split_arms,
)
from treecredit.training.compare_agents import (  # noqa: F401 — also importable from here
    AgentSplit,
    _agent_warm_key,
    _positions_key,
    agent_positions,
    check_agent_arm,
    check_agent_run,
    warm_start_agent,
)
from treecredit.training.compare_checks import ArmCheck, check_arm_budget, in_arm, shared_fields
from treecredit.training.config import TrainConfig
from treecredit.training.startup import torch_threads


class Job(NamedTuple):
    """One run of a comparison, as :func:`_run_one` takes it (a plain tuple of the same fields works too)."""

    label: str
    """The arm's label."""
    seed: int
    config: TrainConfig
    """The run's own config (its arm's, with its seed, budget and folder)."""
    flags: dict | None = None
    """Train keyword arguments: ``resume``, ``overwrite``, ``resume_fix``."""
    arm: int | None = None
    """The arm's number, whose reward warnings are shown once per arm (:func:`_arm_warning`); None: silenced."""
    entries: tuple | list = ()
    """What the comparison said about the run before it (its warm start's lines), for its log.txt."""

READ_BACK, RESUMED, RUN_ANEW = "read back from disk", "resumed from a checkpoint", "run anew"
"""How each run of a ``compare --resume`` was done (it says so per run and at the end)."""


WARM_START_PREFIX = "compare, before its runs: "
"""What starts the lines of a comparison's warm start in the log.txt of each run that starts from it."""


def default_jobs(n_runs: int) -> int:
    """Processes to use: one per core (``os.cpu_count()``), never more than there are runs."""
    return max(1, min(os.cpu_count() or 1, n_runs))


_SHOWN = None
"""Per arm (by its index): 1 once a reward warning of one of its runs was shown. A ``multiprocessing`` array
shared by the worker processes (:func:`_share_shown`); None outside a comparison."""


def _share_shown(shown, plain: bool = False) -> None:
    """Set :data:`_SHOWN` (a worker process's initializer, or the parent's before it runs the runs itself);
    ``plain``: show warnings as the command does (``warning: ...``)."""
    global _SHOWN
    _SHOWN = shown
    if plain:
        from treecredit.warnings_display import show_warnings_plainly

        show_warnings_plainly()


def _arm_warning(label: str, seed: int, arm: int):
    """The ``warn`` of a run of arm number ``arm``: its first reward warning (every reward of a step or of an
    evaluation failed) is printed to stderr with the arm's name, the arm's later ones (any seed) are not."""
    def warn(message: str) -> None:
        with _SHOWN.get_lock():
            first = not _SHOWN[arm]
            _SHOWN[arm] = 1
        if first:
            text = message.removeprefix("warning: ")
            print(f"warning: arm {label!r}, seed {seed}: {text} (shown once per arm: its further reward warnings "
                  "are in its runs' log.txt; reward_failed in their metrics.jsonl counts them)", file=sys.stderr,
                  flush=True)

    return warn


def _run_one(job: Job | tuple) -> tuple[str, int, list[dict] | None, str | None, tuple[str, str]]:
    """Train one run; return ``(label, seed, records, None, how)`` or ``(label, seed, None, error text, how)``;
    ``how`` = ``(what, detail)``: :data:`READ_BACK` (finished already), :data:`RESUMED` (from a checkpoint)
    or :data:`RUN_ANEW`, and the step it was at.

    ``job``: a :class:`Job` (or a tuple of its fields, the first three at least); its ``entries`` go to the run's
    log.txt (:func:`~treecredit.training.run_log.carried`), and a run without ``arm`` has its reward warnings
    silenced, as its other lines are. A run
    stopped by a signal stops the comparison (it is not a failing arm): it raises
    :class:`~treecredit.training.stopping.RunInterrupted`, as does a run whose comparison was stopped before it
    started (:func:`~treecredit.training.stopping.stop_asked`)."""
    import signal

    from treecredit.training.run_log import carried
    from treecredit.training.stopping import RunInterrupted, stop_asked

    job = Job(*job)
    label, seed, config = job.label, job.seed, job.config
    signum = stop_asked()
    if signum is not None:  # no run starts once the comparison is stopping
        raise RunInterrupted(f"arm {label!r}, seed {seed}: not started ({signal.Signals(signum).name})", signum, 0)
    flags = {key: value for key, value in (job.flags or {}).items() if value}
    if job.arm is not None and _SHOWN is not None and not config.env:  # an agent run has no reward warnings
        flags["warn"] = _arm_warning(label, seed, job.arm)
    how = [(RUN_ANEW, "")]
    if flags.get("resume"):
        def resumed(step: int, finished: bool) -> None:
            how[0] = (READ_BACK, f"finished at step {step}") if finished else (RESUMED, f"at step {step}")

        flags["on_resume"] = resumed
    try:
        with _reward_lines_named(label, seed), carried(config.out, list(job.entries)):
            records = _train_run(config, flags)
    except RunInterrupted:
        raise
    except Exception as exc:  # noqa: BLE001 — one failing arm must not lose the others
        from treecredit.training.compare_cli import in_compare_terms

        said = in_compare_terms(exc, Path(config.out).parent.parent)  # its fix in the comparison's terms
        return label, seed, None, run_failure(said, traceback.format_exc().strip().splitlines()[-1]), how[0]
    return label, seed, records, None, how[0]  # old closing evaluations: flagged by train


def _train_run(config: TrainConfig, flags: dict) -> list[dict]:
    """One run of a comparison: its lines (notes, warnings such as dropped episodes) go to its folder's
    ``log.txt`` only (:mod:`~treecredit.training.run_log`), not to the comparison's output."""
    import warnings

    from treecredit.training.loop import train

    with warnings.catch_warnings():  # its Python warnings too: the run's RunLog writes each, then shows it here
        warnings.showwarning = _quiet
        if config.env:
            from treecredit.training.agent_loop import train_agent

            return train_agent(config, log=_quiet, **flags)
        return train(config, log=_quiet, **flags)


def _quiet(*parts) -> None:
    """A run's ``log`` in a comparison: prints nothing (the run's ``log.txt`` keeps its lines)."""


def run_folder(out: Path, label: str, seed: int) -> Path:
    """The folder of the run of arm ``label`` and ``seed`` in the comparison ``out``."""
    return Path(out) / "runs" / f"{parse_arm(label).folder}-seed{seed}"


@contextlib.contextmanager
def _reward_lines_named(label: str, seed: int):
    """Within it, the lines the ``treecredit.rewards`` logger prints (a reward function that raised on a
    completion) start with the run's arm and seed, as its warnings do: runs of several arms print them to one
    stderr."""
    logger = logging.getLogger("treecredit.rewards")

    def named(record: logging.LogRecord) -> bool:
        record.msg = f"arm {label!r}, seed {seed}: {record.msg}"
        return True

    logger.addFilter(named)
    try:
        yield
    finally:
        logger.removeFilter(named)


def run_comparison(base: TrainConfig, arms: list[str], seeds: list[int], budget: int, out: Path,
                   jobs: int | None = None, log=print, on_result=None, resume: bool = False,
                   overwrite: bool = False, notes: dict[str, list[str]] | None = None) -> tuple[dict, dict]:
    """Train every (arm, seed) to ``budget`` generated tokens.

    Returns ``(runs, failures)``: ``runs[label]`` = the record lists of the finished seeds (seed order),
    ``failures[label]`` = ``{seed: error text}``. Runs go seed-major (seed 0 of every arm first) so that a
    partial report is balanced. ``on_result(runs, failures, pending)`` is called after every run.
    Raises :class:`~treecredit.training.stopping.RunInterrupted` when stopped by SIGINT/SIGTERM (the running
    runs saved their checkpoints; ``resume=True`` continues the comparison: :mod:`.compare_pool`).
    ``resume``/``overwrite`` go to every run (see :func:`~treecredit.training.loop.train`); every run's
    configuration, and ``budget`` against each arm's largest first step
    (:func:`~treecredit.training.budget.check_budget_fits`), are checked before the warm start. ``notes``: per arm,
    what the command said before any run (its escape warnings), written into each of the arm's runs' log.txt.
    """
    import multiprocessing
    import signal

    from treecredit.tasks import task_from_config
    from treecredit.training.disk_space import check_runs_free_space
    from treecredit.training.loop import build_policy
    from treecredit.training.preflight import check_run, holds_run
    from treecredit.training.run_log import log_entry, recording
    from treecredit.training.stopping import RunCounts, RunInterrupted, StopAll, StoppedAtOnce

    configs = arm_configs(base, arms)
    folders = {(label, seed): run_folder(out, label, seed) for seed in seeds for label in arms}
    has_report = (Path(out) / "report.md").exists()
    command = "the command in its report.md" if has_report else "the command it was started with"
    resume_fix = (f"resume the comparison with the arguments it was started with (`treecredit compare ... --out {out} "
                  f"--resume`, {command}; only a larger --budget may change, and more --seeds or "
                  "--estimators add runs), or start a new comparison with another --out (or --overwrite)")
    # resumed: the runs that had started continue, the others (new seeds or arms, not reached yet) start
    jobs_list = [
        Job(label, seed, configs[label].replaced(seed=seed, token_budget=budget, steps=0, progress=False,
                                                 out=str(folder)),
            {"resume": resume and holds_run(folder), "overwrite": overwrite, "resume_fix": resume_fix},
            arms.index(label))
        for (label, seed), folder in folders.items()]
    for label, config in configs.items():  # a budget the first step could pass: refused before any warm start
        in_arm(ArmCheck(label, config.estimator), check_arm_budget, label, config, budget)
    shared = shared_fields(configs)  # an error about one of these is no fault of the arm it was checked in
    jobs = default_jobs(len(jobs_list)) if jobs is None else max(1, min(jobs, len(jobs_list)))
    check_runs_free_space([job.config for job in jobs_list], jobs, overwrite)  # finished runs keep checkpoints
    said: dict = {}  # per warm start (its key): its lines, for the log.txt of every run that starts from it
    arm_said: dict[str, list[str]] = {}  # per arm: the lines of its warm start
    if base.env:
        for job in jobs_list:  # each run's folder; the env and agent settings were checked with its config
            in_arm(_where(job), check_agent_run, job.config, **job.flags, shared=shared)
        for label, config in configs.items():  # the rest once per arm: its runs differ in seed and folder only
            in_arm(ArmCheck(label, config.estimator), check_agent_arm, config, shared=shared)
        # the GPT's positions and the held-out instances (the env's checks), once per env setting, for every arm
        found: dict[str, AgentSplit] = {}
        for label, config in configs.items():
            if _positions_key(config) not in found:
                found[_positions_key(config)] = split = in_arm(ArmCheck(label, config.estimator), agent_positions,
                                                               config, shared=shared)
                if split.held is not None and split.held.note:  # said once here; each run's log.txt has it too
                    log(f"compare: {split.held.note}")
        for label, config in configs.items():  # once per distinct warm start (a second call would only load it)
            split = found[_positions_key(config)]
            key = _agent_warm_key(config, split.max_len)
            if key not in said:
                said[key] = []
                with torch_threads(config.threads):  # as the run itself would train it (its cache key)
                    warm_start_agent(config, recording(log, said[key], WARM_START_PREFIX), split)
            arm_said[label] = said[key]
        configs = {}
    for job in jobs_list if not base.env else []:  # every run before any work
        in_arm(_where(job), check_run, job.config, **job.flags, shared=shared)
    for label, config in configs.items():  # warm start once per distinct policy, into the cache
        key = (config.task, config.dataset, repr(sorted(config.task_options.items())), config.model,
               config.n_layer, config.n_head, config.n_embd, config.warm_start_steps, config.warm_start_batch,
               config.warm_start_lr, config.warm_start_seed, config.max_new_tokens)
        if key not in said:
            said[key] = []
            with torch_threads(config.threads):  # as the run itself would train it (its cache key)
                # the run's own task, --dataset included
                build_policy(config, task_from_config(config), recording(log, said[key], WARM_START_PREFIX))
        arm_said[label] = said[key]
    said_first = {label: [log_entry(note) for note in (notes or {}).get(label, [])] for label in arms}
    jobs_list = [job._replace(entries=said_first[job.label] + arm_said.get(job.label, [])) for job in jobs_list]
    log(f"compare: {len(jobs_list)} run{'s' * (len(jobs_list) != 1)} ({len(arms)} arm{'s' * (len(arms) != 1)} × "
        f"{len(seeds)} seed{'s' * (len(seeds) != 1)}), {jobs} at a time")
    done: dict[str, dict[int, list[dict]]] = {label: {} for label in arms}
    failures: dict[str, dict[int, str]] = {label: {} for label in arms}
    hows: dict[str, list[str]] = {}
    if resume:
        kept = sum(bool(job.flags["resume"]) for job in jobs_list)
        log(f"compare --resume: {kept} run{'s' * (kept != 1)} with a folder in {out / 'runs'} (read back when "
            f"finished, else resumed), {len(jobs_list) - kept} to run anew")

    counts = RunCounts(len(jobs_list))  # what a stop signal says is left (StopAll)

    def collect(result) -> None:
        counts.finished += 1
        label, seed, records, error, how = result
        if error is None:
            done[label][seed] = records
        else:
            failures[label][seed] = error
            log(f"compare: {label} seed {seed} FAILED: {error}")
        hows.setdefault(how[0], []).append(f"{label} seed {seed}")
        finished = sum(map(len, done.values())) + sum(map(len, failures.values()))
        said = f": {how[0]}" + (f", {how[1]}" if how[1] else "") if resume else ""  # a new comparison: all anew
        log(f"compare: {finished}/{len(jobs_list)} runs done ({label} seed {seed}{said})")
        if on_result is not None:
            on_result(_ordered(done), failures, len(jobs_list) - finished)

    context = multiprocessing.get_context("spawn")
    shown = context.Array("b", len(arms))  # per arm: a reward warning shown (by whichever process ran its run)
    stop = context.Value("i", 0, lock=False)  # a signal's number once a stop is asked for (StopAll)
    try:
        with StopAll(stop, counts) as stopper:  # SIGINT/SIGTERM: the running runs stop after their step and save
            if jobs > 1:
                from treecredit.training.compare_pool import run_in_workers
                from treecredit.warnings_display import shown_plainly

                # the workers show warnings as the command does (`warning: ...`) when it runs them
                run_in_workers(jobs_list, jobs, collect, stop, shown, shown_plainly(), counts)
            else:
                _share_shown(shown)
                try:
                    for job in jobs_list:
                        counts.started += 1
                        collect(_run_one(job))
                finally:
                    _share_shown(None)
    except RunInterrupted as exc:  # one line for the comparison: a run's own says `treecredit train --resume`
        finished = sum(map(len, done.values())) + sum(map(len, failures.values()))
        stopped = type(exc)(f"{signal.Signals(exc.signum).name}{', at once' * isinstance(exc, StoppedAtOnce)}; "
                            f"{finished} of {len(jobs_list)} runs finished", exc.signum, 0)
        stopped.finished = [folders[label, seed] for ended in (done, failures)  # type: ignore[attr-defined]
                            for label, by_seed in ended.items() for seed in by_seed]  # for the stop's note
        raise stopped from None
    if stopper.signum is not None and not stopper.all_finished:  # it came as the last run finished
        log(f"compare: the {signal.Signals(stopper.signum).name} came as the last run finished, so nothing was left "
            "to stop; the report is written in full")
    if resume:
        log("compare --resume: " + "; ".join(f"{how}: {', '.join(hows[how])}" for how in (READ_BACK, RESUMED, RUN_ANEW)
                                              if how in hows))
    return _ordered(done), failures


class RunFailure(str):
    """A failed run's error as a comparison records it (``Kind: message``, as the report's table shows it), with
    :attr:`cause`, what :func:`failed_runs` says of it (:func:`run_failure`)."""

    cause: str

    def __new__(cls, text: str, cause: str) -> RunFailure:
        failure = super().__new__(cls, text)
        failure.cause = cause
        return failure

    def __reduce__(self):  # from compare's worker processes, with its cause
        return RunFailure, (str(self), self.cause)


def run_failure(error: BaseException, last: str = "") -> RunFailure:
    """``error``, which failed a run, as a comparison records it: a refusal with its fix (a
    :class:`~treecredit._validation.FixError`, a run stopped mid-run) as the ``ValueError`` it is, any other error
    by its own type's name (``last``, the traceback's last line, for one without a message). Its cause is the
    refusal's headline (``argument: brief``, ``argument: at step N``), from its parts; an error without parts (a
    crash) has its text up to the first bracket, ``; `` or ``. Fix:`` (``RuntimeError: CUDA out of memory. Tried to
    allocate 2.00 GiB``)."""
    from treecredit._validation import FixError
    from treecredit.training.estimator_inputs import StoppedMidRun

    if isinstance(error, (FixError, StoppedMidRun)):
        return RunFailure(f"ValueError: {error}", f"ValueError: {error.headline()}")
    text = f"{type(error).__name__}: {error}" if str(error) else last
    return RunFailure(text, first_clause(text))


def failed_runs(failures: dict) -> list[str]:
    """One line per arm and cause of ``failures`` (``{label: {seed: error text}}``, as :func:`run_comparison`
    returns them): the arm, its seeds and the error's cause (:class:`RunFailure`; the whole error is in the report's
    table), e.g. ``grpo, seeds 0, 2: ValueError: reward: every reward of 5 steps in a row failed``."""
    lines = []
    for label, by_seed in failures.items():
        causes: dict[str, list[int]] = {}
        for seed, error in sorted(by_seed.items()):
            cause = error.cause if isinstance(error, RunFailure) else first_clause(str(error))
            causes.setdefault(cause, []).append(seed)
        lines += [f"{label}, seed{'s' * (len(seeds) != 1)} {', '.join(map(str, seeds))}: {cause}"
                  for cause, seeds in causes.items()]
    return lines


def _where(job: Job) -> ArmCheck:
    return ArmCheck(job.label, job.config.estimator, job.seed)


def _ordered(done: dict[str, dict[int, list[dict]]]) -> dict[str, dict[int, list[dict]]]:
    return {label: dict(sorted(by_seed.items())) for label, by_seed in done.items()}
