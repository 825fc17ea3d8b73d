"""Run several arms × seeds at one generated-token budget with identical settings, in parallel processes.

An *arm* is an estimator, optionally with a sampler, a branching strategy and its own options::

    ARM     := ESTIMATOR [ "@" SAMPLER [ ":" BRANCHING ] ] [ "[" OPTION { "," OPTION } "]" ]
    OPTION  := KEY "=" VALUE          (VALUE read as JSON when it parses, else as text)

    grpo                                   GRPO on i.i.d. groups
    treerpo@tree[scale=none]               TreeRPO on sampled trees, one estimator option
    grpo@tree:fixed[branching.children=4,branching.depth=2]   a 2-level tree with 4 children per node

A ``KEY`` is an estimator option (``scale``), a ``TrainConfig`` field (``group_size``, ``lr``, …; the
per-run fields ``estimator``, ``seed``, ``out``, ``steps``, ``token_budget``, ``progress`` excepted), or a
dotted key into a dict field: ``estimator.K``, ``sampler.K``, ``branching.K``, ``task.K``, ``env.K``.

Agent runs (``env`` set in the base config): every run is
:func:`treecredit.training.agent_loop.train_agent`; an arm is a turn-level estimator (``rtmc``, ``gigpo``,
``grpo`` = GRPO over episodes) or a token-level one, with options such as ``env.signature=history`` or
``sampler.fork_children=2``; there is no ``@SAMPLER`` (episodes are the sampler; fork them for every arm
with ``--sampler-option fork_at=[1]``, since an arm's option list cannot hold brackets). The options
between brackets belong to that arm alone; the option may also be written before the sampler
(``treerpo[scale=none]@tree``, the lab's label form). A global ``--estimator-option`` goes to every arm
whose estimator accepts it (and must be accepted by at least one). Every arm is validated before any run.

Every run gets the same ``TrainConfig`` apart from its arm's changes and ``seed``/``out``: no arm is tuned
more than another unless its label says so. Warm starts are trained once in the parent process and shared
from the cache, so all runs of an arm start from the same policy. A run that raises is recorded with its
error and the other runs go on; ``on_result`` is called as each run finishes (the report is rewritten then).
"""

from __future__ import annotations

import os
import traceback
from dataclasses import dataclass, field, fields, replace
from pathlib import Path

from treecredit._validation import fail
from treecredit.training.config import TrainConfig

PREFERRED = ("grpo", "tempo", "treerl", "treerpo", "spo", "treepo", "dr_grpo", "rloo")
PER_RUN = ("estimator", "seed", "out", "steps", "token_budget", "progress")
DICT_PREFIXES = {"estimator": "estimator_options", "sampler": "sampler_options", "branching": "branching_options",
                 "task": "task_options", "env": "env_options"}
AGENT_PREFERRED = ("grpo", "rtmc", "gigpo")


def default_estimators(limit: int = 3, env: str = "") -> list[str]:
    """GRPO plus the first registered tree estimators in ``PREFERRED`` order (outcome ones fill in); with an
    ``env``, GRPO and the registered turn-level estimators of ``AGENT_PREFERRED``."""
    import treecredit

    if env:
        turn = set(treecredit.estimators("turn"))
        return [name for name in AGENT_PREFERRED if name in turn][:limit]
    known = set(treecredit.estimators("token"))
    return [name for name in PREFERRED if name in known][:limit]


def default_jobs(n_runs: int) -> int:
    """Processes to use: one per core (``os.cpu_count()``), never more than there are runs."""
    return max(1, min(os.cpu_count() or 1, n_runs))


def split_arms(text: str) -> list[str]:
    """Split a comma-separated list of arms, keeping commas inside ``[...]``: ``"a,b[x=1,y=2]"`` → 2 arms."""
    arms, depth, current = [], 0, ""
    for char in text:
        depth += (char == "[") - (char == "]")
        if depth < 0 or depth > 1:
            fail("estimators", f"unbalanced brackets in {text!r}", "write each arm as name@sampler[key=value,...]")
        if char == "," and depth == 0:
            arms.append(current.strip())
            current = ""
        else:
            current += char
    if depth:
        fail("estimators", f"unclosed '[' in {text!r}", "close every option list: treerpo@tree[scale=none]")
    arms.append(current.strip())
    if not all(arms):
        fail("estimators", f"{text!r} has an empty arm", "remove the doubled or trailing comma")
    if len(set(arms)) != len(arms):
        fail("estimators", f"{text!r} names an arm twice", "list each arm once")
    return arms


@dataclass(frozen=True)
class Arm:
    """A parsed arm: ``label`` (as written), estimator, sampler and branching ('' = base's), its options."""

    label: str
    estimator: str
    sampler: str = ""
    branching: str = ""
    options: dict = field(default_factory=dict)

    @property
    def folder(self) -> str:
        """A file-system-safe name for the arm's run folders."""
        return "".join(c if c.isalnum() or c in "-_." else "_" for c in self.label)


def parse_arm(label: str) -> Arm:
    """Parse ``ESTIMATOR[@SAMPLER[:BRANCHING]][[k=v,...]]`` (see the module docstring)."""
    from treecredit.training.train_cli import parse_key_values

    head, options = label, {}
    if "[" in label:
        start, end = label.index("["), label.index("]")
        body = label[start + 1:end]
        head = label[:start] + label[end + 1:]
        options = parse_key_values([p.strip() for p in body.split(",") if p.strip()], f"arm {label!r}")
    estimator, _, spec = head.partition("@")
    sampler, _, branching = spec.partition(":")
    if not estimator:
        fail("estimators", f"arm {label!r} has no estimator name", "start the arm with an estimator, e.g. grpo@tree")
    return Arm(label, estimator.strip(), sampler.strip(), branching.strip(), options)


def arm_config(base: TrainConfig, label: str, global_estimator_options: dict | None = None) -> TrainConfig:
    """The config of one arm: ``base`` with the arm's estimator, sampler, branching and options.

    Raises ``ValueError`` naming the arm for an unknown key, a per-run field, or an option its estimator
    does not take."""
    import treecredit

    arm = parse_arm(label)
    if base.env:
        from treecredit.agents.credit import estimator_level

        if arm.sampler or arm.branching:
            fail(f"arm {label!r}", "agent runs (--env) have no tree sampler: episodes are sampled turn by turn",
                 "drop '@...'; to fork episodes pass --sampler-option fork_at=[1] (every arm)")
        spec = treecredit.get_estimator(arm.estimator, level=estimator_level(arm.estimator))
    else:
        spec = treecredit.get_estimator(arm.estimator)
    accepted = set(spec.options)
    glob = dict(base.estimator_options if global_estimator_options is None else global_estimator_options)
    changes: dict = {"estimator": arm.estimator,
                     "estimator_options": {k: v for k, v in glob.items() if k in accepted}}
    if arm.sampler:
        changes["sampler"] = arm.sampler
    if arm.branching:
        changes["branching"] = arm.branching
    names = {f.name for f in fields(TrainConfig)}
    for key, value in arm.options.items():
        prefix, dot, sub = key.partition(".")
        if dot:
            if prefix not in DICT_PREFIXES or not sub:
                fail(f"arm {label!r}", f"option {key!r} has an unknown prefix",
                     f"use one of {', '.join(p + '.KEY' for p in DICT_PREFIXES)}")
            target = DICT_PREFIXES[prefix]
            changes[target] = {**changes.get(target, getattr(base, target)), sub: value}
        elif key in PER_RUN:
            fail(f"arm {label!r}", f"option {key!r} is set per run by compare", "remove it from the arm")
        elif key in names:
            changes[key] = value
        elif key in accepted:
            changes["estimator_options"][key] = value
        else:
            fail(f"arm {label!r}", f"{key!r} is neither an option of estimator {arm.estimator!r} "
                 f"({', '.join(spec.options) or 'none'}) nor a TrainConfig field",
                 "check the spelling, or prefix it: estimator.K, sampler.K, branching.K, task.K")
    spec.check_options(changes["estimator_options"])
    return replace(base, **changes)


def arm_configs(base: TrainConfig, labels: list[str]) -> dict[str, TrainConfig]:
    """Validated configs of every arm; a global estimator option no arm accepts is an error."""

    configs = {label: arm_config(base, label) for label in labels}
    for key in base.estimator_options:
        if not any(key in _spec(c).options for c in configs.values()):
            fail("estimator_options", f"no arm's estimator takes {key!r}",
                 "remove --estimator-option " + key + ", or give it to one arm: name[" + key + "=...]")
    return configs


def _spec(config: TrainConfig):
    import treecredit

    if config.env:
        from treecredit.agents.credit import estimator_level

        return treecredit.get_estimator(config.estimator, level=estimator_level(config.estimator))
    return treecredit.get_estimator(config.estimator)


def _run_one(job: tuple) -> tuple[str, int, list[dict] | None, str | None]:
    """Train one run; return ``(label, seed, records, None)`` or ``(label, seed, None, error text)``.

    ``job`` = ``(label, seed, config[, train keyword arguments such as resume/overwrite])``; a run stopped
    by a signal stops the comparison (it is not a failing arm)."""
    from treecredit.training.loop import train
    from treecredit.training.stopping import RunInterrupted

    label, seed, config, *more = job
    flags = {key: value for key, value in (more[0] if more else {}).items() if value}
    try:
        if config.env:
            from treecredit.training.agent_loop import train_agent

            return label, seed, train_agent(config, log=lambda *a: None, **flags), None
        return label, seed, train(config, log=lambda *a: None, **flags), None
    except RunInterrupted:
        raise
    except Exception as exc:  # noqa: BLE001 — one failing arm must not lose the others
        last = traceback.format_exc().strip().splitlines()[-1]
        return label, seed, None, f"{type(exc).__name__}: {exc}" if str(exc) else last


def run_comparison(base: TrainConfig, arms: list[str], seeds: list[int], budget: int, out: Path,
                   jobs: int | None = None, log=print, on_result=None, resume: bool = False,
                   overwrite: bool = False) -> tuple[dict, dict]:
    """Train every (arm, seed) to ``budget`` generated tokens.

    Returns ``(runs, failures)``: ``runs[label]`` = the record lists of the finished seeds (seed order),
    ``failures[label]`` = ``{seed: error text}``. Runs go seed-major (seed 0 of every arm first) so that a
    partial report is balanced. ``on_result(runs, failures, pending)`` is called after every run.
    ``resume``/``overwrite`` go to every run (see :func:`~treecredit.training.loop.train`); every run's
    configuration, and ``budget`` against each arm's largest first step
    (:func:`~treecredit.training.budget.check_budget_fits`), are checked before the warm start.
    """
    import multiprocessing

    from treecredit.tasks import task_from_config
    from treecredit.training.budget import check_budget_fits
    from treecredit.training.loop import build_policy
    from treecredit.training.preflight import check_run, holds_run

    configs = arm_configs(base, arms)
    folders = {(label, seed): out / "runs" / f"{parse_arm(label).folder}-seed{seed}"
               for seed in seeds for label in arms}
    # resumed: the runs that had started continue, the others (new seeds or arms, not reached yet) start
    jobs_list = [(label, seed, replace(configs[label], seed=seed, token_budget=budget, steps=0, progress=False,
                                       out=str(folder)),
                  {"resume": resume and holds_run(folder), "overwrite": overwrite})
                 for (label, seed), folder in folders.items()]
    resume_fix = (f"resume the comparison with the arguments it was started with (`treecredit compare ... --out {out} "
                  "--resume`, the command in its report.md; only --budget may change, and more --seeds or "
                  "--estimators add runs), or start a new comparison with another --out (or --overwrite)")
    for label, config in configs.items():  # a budget the first step could pass: refused before any warm start
        _in_arm(f"arm {label!r}", check_budget_fits, config, budget)
    if base.env:
        for job in jobs_list:
            _in_arm(_where(job), check_agent_run, job[2], **job[3], resume_fix=resume_fix)
        for config in configs.values():  # the cache keys the warm start: arms that share it build it once
            warm_start_agent(config, log)
        configs = {}
    for job in jobs_list if not base.env else []:
        _in_arm(_where(job), check_run, job[2], **job[3], resume_fix=resume_fix)  # every run before any work
    warm_keys = set()
    for config in configs.values():  # warm start once per distinct policy, into the cache
        key = (config.task, config.dataset, repr(sorted(config.task_options.items())), config.model,
               config.n_layer, config.n_head, config.n_embd, config.warm_start_steps, config.warm_start_batch,
               config.warm_start_lr, config.warm_start_seed, config.max_new_tokens)
        if key not in warm_keys:
            warm_keys.add(key)
            build_policy(config, task_from_config(config), log)  # the run's own task, --dataset included
    jobs = default_jobs(len(jobs_list)) if jobs is None else max(1, min(jobs, len(jobs_list)))
    log(f"compare: {len(jobs_list)} run{'s' * (len(jobs_list) != 1)} ({len(arms)} arm{'s' * (len(arms) != 1)} × "
        f"{len(seeds)} seed{'s' * (len(seeds) != 1)}), {jobs} at a time")
    done: dict[str, dict[int, list[dict]]] = {label: {} for label in arms}
    failures: dict[str, dict[int, str]] = {label: {} for label in arms}

    def collect(result) -> None:
        label, seed, records, error = result
        if error is None:
            done[label][seed] = records
        else:
            failures[label][seed] = error
            log(f"compare: {label} seed {seed} FAILED: {error}")
        finished = sum(map(len, done.values())) + sum(map(len, failures.values()))
        log(f"compare: {finished}/{len(jobs_list)} runs done ({label} seed {seed})")
        if on_result is not None:
            on_result(_ordered(done), failures, len(jobs_list) - finished)

    if jobs > 1:
        from treecredit.warnings_display import show_warnings_plainly, shown_plainly

        # the workers show warnings as the command does (`warning: ...`) when it runs them
        plain = show_warnings_plainly if shown_plainly() else None
        with multiprocessing.get_context("spawn").Pool(jobs, initializer=plain) as pool:
            for result in pool.imap_unordered(_run_one, jobs_list):
                collect(result)
    else:
        for job in jobs_list:
            collect(_run_one(job))
    return _ordered(done), failures


def _in_arm(where: str, check, *args, **kwargs) -> None:
    """``check(*args, **kwargs)``; its ``ValueError`` names ``where`` (the arm, and the seed) after the argument."""
    try:
        check(*args, **kwargs)
    except ValueError as exc:
        argument, _, rest = str(exc).partition(": ")
        raise ValueError(f"{argument} ({where}): {rest}") from None


def _where(job: tuple) -> str:
    return f"arm {job[0]!r}, seed {job[1]}"


def check_agent_run(config: TrainConfig, *, resume: bool, overwrite: bool, resume_fix: str | None = None) -> None:
    """What ``treecredit train --env`` checks before any work: the folder, TensorBoard, env, estimator, options."""
    from treecredit.training.agent_loop import check_agent_config, split_sampler_options
    from treecredit.training.dry_run import check_estimator_options
    from treecredit.training.preflight import check_out, check_tensorboard

    check_out(config, resume=resume, overwrite=overwrite, resume_fix=resume_fix)
    check_tensorboard(config)
    check_agent_config(config)
    check_estimator_options(config)
    episode_options, agent = split_sampler_options(config.sampler_options)
    if config.model == "gpt" and "max_len" in agent:  # a given max_len the episodes do not fit in
        from treecredit.agents.episodes import EpisodeSettings
        from treecredit.envs import env_factory
        from treecredit.training.agent_loop import eval_instances, gpt_positions

        probe = env_factory(config.env, **config.env_options)()
        gpt_positions(probe, eval_instances(probe, config.eval_problems)[0],
                      EpisodeSettings(action_max_tokens=config.max_new_tokens, **episode_options), agent)


def warm_start_agent(config: TrainConfig, log=print):
    """The agent policy of ``config``'s runs, warm-started into the cache (as ``train_agent`` builds it)."""
    from treecredit.agents.episodes import EpisodeSettings
    from treecredit.envs import env_factory
    from treecredit.training.agent_loop import build_agent_policy, split_sampler_options

    episode_options, agent = split_sampler_options(config.sampler_options)
    settings = EpisodeSettings(temperature=config.temperature, top_p=config.top_p,
                               action_max_tokens=config.max_new_tokens, **episode_options)
    return build_agent_policy(config, env_factory(config.env, **config.env_options), settings, agent, log)


def _ordered(done: dict[str, dict[int, list[dict]]]) -> dict[str, dict[int, list[dict]]]:
    return {label: dict(sorted(by_seed.items())) for label, by_seed in done.items()}
