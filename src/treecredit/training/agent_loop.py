"""The agent RL loop: play groups of episodes in a text env, credit turns by estimator name, PPO-update.

``treecredit train --env NAME`` runs this instead of the single-turn loop. Per step: draw
``prompts_per_step`` training instances (never a held-out one), play ``group_size`` episodes of each
(:func:`treecredit.agents.play`, KV cache carried across turns), pack them (one row per episode,
observations masked), compute advantages (a turn-level estimator such as ``rtmc``, ``gigpo`` or ``grpo``
spread onto the action tokens, or a token-level one with turn ends as step ends), and run the same PPO
update as the single-turn trainer (:func:`treecredit.training.loop.ppo_update`).

Settings come from ``TrainConfig``: ``env``, ``env_options`` (the env's own, e.g. ``size``, ``max_turns``,
``signature``), ``sampler_options`` (:class:`~treecredit.agents.EpisodeSettings` fields, e.g.
``fork_at``, plus ``expert_noise`` and ``max_len`` of the warm start), ``max_new_tokens`` (the longest
action). The small GPT is warm-started on ε-noisy scripted expert episodes (cached).

Writes ``metrics.jsonl`` (train and eval records), ``config.json``, ``samples.jsonl`` (held-out
episodes at each evaluation) and ``checkpoint.pt`` (model, optimiser, every RNG stream, counters; every
``checkpoint_every`` steps and at the end). Resumes exactly; SIGINT/SIGTERM save and stop.
"""

from __future__ import annotations

import functools
import time
from pathlib import Path

import numpy as np

from treecredit.agents.options import AGENT_OPTIONS, split_sampler_options  # noqa: F401 — also importable from here
from treecredit.training.agent_checks import (  # noqa: F401 — the pre-run env checks, also importable from here
    DEFAULT_MAX_LEN,
    EVAL_SEED,
    HeldOut,
    check_room,
    draw_instances,
    eval_instances,
    gpt_positions,
)
from treecredit.training.agent_preflight import (  # noqa: F401 — the run's checks, also importable from here
    agent_setup,
    check_agent_config,
    check_hf_agent_model,
)
from treecredit.training.agent_room import gpt_room, hf_room  # noqa: F401 — also importable from here


def warm_start_env_options(env: str, options: dict) -> dict:
    """The env options that key the agent warm-start cache: ``options`` less those at the env's default value
    (``--env-option size=4`` where 4 is the default builds the same episodes as no option, so it must find the
    same cache entry) and less those that never change an expert episode's tokens (the signature mode, the
    unmatched share, the invalid-action penalty); sorted by name. Values count as the env receives them
    (``size="4"`` from Python is the default 4, :func:`treecredit.envs.env_option_values`)."""
    from treecredit.envs import env_option_values, env_options

    defaults = env_options(env)
    return {k: v for k, v in sorted(env_option_values(env, options).items())
            if k not in ("signature", "invalid_penalty", "unmatched_share") and (k not in defaults or defaults[k] != v)}


def build_agent_policy(config, env_fn, settings, agent: dict, log, max_len: int | None = None,
                       eval_split: HeldOut | None = None, room=None):
    """The agent GPT warm-started on noisy expert episodes (cached), a random one without warm start, or
    the local Hugging Face model of ``--model`` (no warm start, as in task runs).

    ``max_len``: the GPT's positions when the caller has already found them with :func:`gpt_positions`
    from the held-out first observations; ``None`` finds them here. ``eval_split``: the held-out instances when
    the caller has already drawn and checked them with :func:`eval_instances` (every held-out reset again);
    ``None`` draws them here. ``room``: the warm start's :func:`gpt_room` when the caller has it (``agent_setup``'s);
    ``None`` builds it here.

    The warm start draws its instances outside the held-out set (:func:`eval_instances`), and skips, with a
    warning, one whose episodes would not fit the GPT's positions (:func:`draw_instances`).
    """
    from treecredit.agents.options import DEFAULT_EXPERT_NOISE, lists_actions
    from treecredit.agents.policy import agent_gpt, cached_warm_start, warm_start_agent

    if config.model != "gpt":
        from treecredit.training.loop import build_policy

        return build_policy(config, None, log)
    env = env_fn()
    held = eval_instances(env, config.eval_problems, lists_actions(config, agent)) if eval_split is None \
        else eval_split
    model = {"n_layer": config.n_layer, "n_head": config.n_head, "n_embd": config.n_embd,
             "max_len": gpt_positions(held, settings, agent) if max_len is None else max_len}

    def build():
        return agent_gpt(seed=config.warm_start_seed, **model)

    if config.warm_start_steps == 0:
        return build()
    from treecredit.envs import env_code_hash

    noise = float(agent.get("expert_noise", DEFAULT_EXPERT_NOISE))
    code = env_code_hash(config.env)  # an own env's source: editing it rebuilds the warm start
    key = {"kind": "agent", "env": config.env, **({"env_code": code} if code else {}), "model": model,
           "env_options": warm_start_env_options(config.env, config.env_options), "steps": config.warm_start_steps,
           "batch": config.warm_start_batch, "lr": config.warm_start_lr, "seed": config.warm_start_seed,
           "noise": noise, "marker": settings.marker, "turn_prefix": settings.turn_prefix, "version": 2,
           "held_out_eval": config.eval_problems, "max_episode_tokens": settings.max_episode_tokens,
           "action_max_tokens": settings.action_max_tokens}  # version 2: expert episodes cut as play cuts them

    # a training instance longer than the GPT's positions: skipped with a warning, as in an RL step (a rare long
    # one must not stop the run partway through the warm start); FAILED_RESETS_STOP in a row stop it
    room = gpt_room(settings, model["max_len"], "max_len" in agent) if room is None else room

    def instances(rng, n: int) -> list[int]:
        return draw_instances(env, rng, n, held.keys, log, room, warm_start=True)

    def train(policy, on_step):
        return warm_start_agent(policy, env_fn, instances, steps=config.warm_start_steps,
                                batch_size=config.warm_start_batch, lr=config.warm_start_lr,
                                seed=config.warm_start_seed, noise=noise, settings=settings, on_step=on_step)

    return cached_warm_start(key, build, train, config.cache_dir or None, log, steps=config.warm_start_steps,
                             progress=config.progress)


def evaluate_agent(policy, env_fn, seeds, settings, generator, log=None) -> tuple[dict, list, list]:
    """Greedy and sampled success/return on held-out instances (one episode each); returns the record, the sampled
    episodes and the greedy ones.

    Episodes dropped by env errors are said through ``log`` (None: a ``RuntimeWarning``), counted
    (``eval_dropped_episodes``, ``eval_greedy_dropped_episodes``) and left out of the means (absent when every
    episode was dropped)."""
    from dataclasses import replace

    from treecredit.agents import episode_metrics, play

    greedy, _ = play(policy, env_fn, seeds, 1, generator, replace(settings, temperature=0.0, fork_at=()), log=log)
    sampled, _ = play(policy, env_fn, seeds, 1, generator, replace(settings, fork_at=()), log=log)
    return {**episode_metrics(greedy, "eval_greedy_"), **episode_metrics(sampled, "eval_"),
            "eval_greedy_dropped_episodes": len(seeds) - len(greedy),
            "eval_dropped_episodes": len(seeds) - len(sampled)}, sampled, greedy


CONTEXT_CUT_WARN = 0.25
"""The share of a step's (or an evaluation's) episodes cut by ``max_episode_tokens`` from which a run warns, once."""


def context_cut_warning(record: dict, keys: tuple[str, ...], settings, where: str) -> str | None:
    """The warning for ``record`` when a share of at least :data:`CONTEXT_CUT_WARN` of its episodes (the largest
    of its ``keys``: ``context_cut_share`` or the evaluation's) ended because they reached ``max_episode_tokens``
    (None otherwise): such an episode is truncated, counted as failed, whatever the policy would have done next."""
    share = max((record.get(key) or 0.0 for key in keys), default=0.0)
    if share < CONTEXT_CUT_WARN:
        return None
    return (f"warning: {where}: {share:.0%} of the episodes ended because they reached max_episode_tokens="
            f"{settings.max_episode_tokens} (their observations and actions fill it) before the env ended them: they "
            "are cut short and count as failed (context_cut_share in metrics.jsonl). Fix: raise --sampler-option "
            f"max_episode_tokens (e.g. {2 * settings.max_episode_tokens}), lower --env-option max_turns, or shorten "
            "the env's observations")


def _share(record: dict, key: str) -> str:
    return "n/a" if record.get(key) is None else f"{record[key]:.3f}"  # None: every episode was dropped


def train_agent(config, *, resume: bool = False, overwrite: bool = False, stop_at_step: int | None = None,
                log=print, on_resume=None, resume_fix: str | None = None) -> list[dict]:
    """Run agent RL with ``config`` (``config.env`` set); return the metric records.

    As safe as a task run (:func:`treecredit.training.loop.train`): an ``out`` folder that holds a run
    needs ``resume=True`` (continue from its newest valid checkpoint, same settings) or ``overwrite=True``;
    a checked checkpoint (:mod:`treecredit.training.checkpoint`) is saved every ``checkpoint_every``
    steps and at the end; SIGINT/SIGTERM finish the current step, save and raise
    :class:`~treecredit.training.stopping.RunInterrupted`. A resumed run writes the same metrics and
    parameters as one never interrupted. ``stop_at_step`` ends the call after that step without a final
    checkpoint, as a kill would (for the resume tests). ``on_resume``: as in :func:`~treecredit.training.loop.
    train`. A run whose every episode was dropped (env errors) for ``ALL_DROPPED_STOP_STEPS`` steps in a row,
    or whose env ended an episode without ``info["success"]`` (:mod:`~treecredit.training.agent_success`: after
    the step that played it, or the first step when the step-0 evaluation did), saves a checkpoint and raises
    ``ValueError`` with ``resume_fix`` (None: the ``--config ... --resume`` command). What ``log`` gets (dropped
    episodes as ``warning: episode of instance ...``), Python warnings and how the run ended also go to
    ``<out>/log.txt`` (:mod:`treecredit.training.run_log`; appended under ``resume``).
    """
    from treecredit.training.out_folder import replacing, run_lock, write_errors
    from treecredit.training.run_log import RunLog

    with write_errors(config.out), run_lock(config.out), replacing(config.out, overwrite, log), \
            RunLog(config.out, resume=resume) as run_log:
        return _train_agent(config, run_log, resume=resume, overwrite=overwrite, stop_at_step=stop_at_step, log=log,
                            on_resume=on_resume, resume_fix=resume_fix)


def _train_agent(config, run_log, *, resume: bool, overwrite: bool, stop_at_step: int | None, log, on_resume,
                 resume_fix: str | None) -> list[dict]:
    """:func:`train_agent`'s run, its lines also written by ``run_log`` (a ``RunLog``)."""
    import torch

    from treecredit.agents import agent_advantages, episode_metrics, pack_episodes, play, revisit_rate
    from treecredit.agents.credit import check_eval_returns, returns_refused, step_credit_share
    from treecredit.agents.forks import unforked_slots
    from treecredit.envs import make_env
    from treecredit.training.agent_checks import DroppedWatch, held_out_text
    from treecredit.training.agent_success import MissingSuccessWatch
    from treecredit.training.budget import StepBudget, resume_run
    from treecredit.training.checkpoint import (
        random_state,
        restore_random_state,
        save_checkpoint,
    )
    from treecredit.training.dry_run import check_estimator_options
    from treecredit.training.evaluation import due, eval_draw_seed, when_text
    from treecredit.training.loop import _interrupt, ppo_update
    from treecredit.training.metrics import MetricsWriter, flag_earlier_closings, read_metrics
    from treecredit.training.out_folder import drop_aside
    from treecredit.training.preflight import check_out, check_tensorboard, check_token_budget
    from treecredit.training.progress import above_bar, advance_bar, closed_at_exit, run_bar
    from treecredit.training.reward_range import check_env_reward_range
    from treecredit.training.run_log import start_line
    from treecredit.training.run_summary import agent_summary, ended_line, success_label
    from treecredit.training.samples import cut_back_side_files, write_samples
    from treecredit.training.startup import start_run
    from treecredit.training.stopping import StopRequest

    shown_log, log = log, run_log.tee(log)
    check_out(config, resume=resume, overwrite=overwrite)  # an earlier run is never overwritten silently
    check_tensorboard(config)
    check_token_budget(config)  # before the warm start
    check_estimator_options(config)  # option values: the estimator runs once on a tiny batch
    check_env_reward_range(config)  # an estimator that needs returns in [0, 1] on an env that leaves it
    probe = make_env(config.env, **config.env_options)  # one env to set up: the draws and the checks
    env_fn = functools.partial(make_env, config.env, **config.env_options)  # checked with probe
    # the env's checks (held-out draw against its pool, instance and state keys), the GPT's positions (or the
    # model's tokenizer) and a sample of training instances against them, before the folder is touched: a refused
    # run leaves an earlier one (--overwrite) as it was
    settings, agent, held, max_len, room = agent_setup(config, probe)
    if held.note:  # _step could not be checked: said in the output and the run's log, not as a warning
        log(held.note)
    eval_seeds, held_out = held.seeds, held.keys
    out, saved = start_run(config, resume=resume, overwrite=overwrite, log=log)  # seeds, folder, checkpoint
    run_log.begin(start_line(config, resume))  # the checks passed: the folder is the run's
    policy = build_agent_policy(config, env_fn, settings, agent, log, max_len, held, room)
    policy.compile_decode = config.compile_decode
    reference = None
    if config.kl_coef > 0:
        import copy

        reference = copy.deepcopy(policy)
    optimizer = torch.optim.AdamW(policy.module.parameters(), lr=config.lr, weight_decay=0.0)
    generator = torch.Generator().manual_seed(config.seed)
    rng = np.random.default_rng([config.seed, 2])
    counters = {"step": 0, "generated_tokens": 0, "trained_tokens": 0}
    elapsed_before = 0.0
    budget = StepBudget(config, lambda: random_state(generator, rng), lambda state: restore_random_state(
        state, generator, rng))
    if saved is not None:
        counters, elapsed_before = resume_run(saved, out, config, budget, log, on_resume, model=policy.module,
                                              optimizer=optimizer, generator=generator, problem_rng=rng)
    elif resume:
        log(f"no checkpoint in {out}: starting from step 0")
    keep = counters["step"] if saved is not None else None
    cut_back_side_files(out, keep, resume)  # samples.jsonl and TensorBoard, as metrics.jsonl is below
    writer = MetricsWriter(out, keep_until_step=keep, tensorboard=config.tensorboard)
    evaluated = {r["step"] for r in read_metrics(writer.path) if r["kind"] == "eval"}  # kept by a resume
    if keep is None:  # a fresh run: no samples of an earlier one
        (out / "samples.jsonl").write_text("", encoding="utf-8")

    def run_eval() -> dict:
        record, episodes, greedy = evaluate_agent(policy, env_fn, eval_seeds, settings,
                                          torch.Generator().manual_seed(eval_draw_seed(EVAL_SEED, config.seed)), warn)
        if counters["step"] == 0:  # returns out of the estimator's range: refused now, not at the first step
            check_eval_returns(config, episodes + greedy)
        writer.write({"kind": "eval", **counters, **record})
        evaluated.add(counters["step"])
        write_samples(out, [{"step": counters["step"], "seed": ep.seed, "success": ep.success,
                             "return": ep.episode_return, "text": ep.text(policy)} for ep in episodes[:4]])
        log(f"step {counters['step']}: {success_label(config.env)} {_share(record, 'eval_success')} "
            f"(greedy {_share(record, 'eval_greedy_success')})")
        warn_context_cut(record, ("eval_context_cut_share", "eval_greedy_context_cut_share"),
                         f"the held-out evaluation at step {counters['step']}")
        return record

    said_cut: list[str] = []

    def warn_context_cut(record: dict, keys: tuple[str, ...], where: str) -> None:  # once a run
        message = None if said_cut else context_cut_warning(record, keys, settings, where)
        if message:
            said_cut.append(message)
            log(message)

    def elapsed() -> float:
        return elapsed_before + time.perf_counter() - started

    def checkpoint() -> Path:
        return save_checkpoint(out, model=policy.module, optimizer=optimizer, generator=generator,
                               problem_rng=rng, counters=counters, elapsed_s=elapsed(),
                               pending_step_tokens=budget.pending)

    def say_dropped(message: str) -> None:  # a dropped episode (env error), said as a warning
        log(f"warning: {message}")

    missing_success = MissingSuccessWatch(config.env, say_dropped)  # an episode that ended without success: stop
    warn = missing_success.warn  # play's and the evaluation's: said, and noted when info['success'] was missing

    where = held_out_text(probe, eval_seeds, held_out, sized=not config.was_given("eval_problems"))
    log(f"evaluation: greedy and sampled success on {where}, {when_text(config.eval_every, config.steps)}")
    last_eval = run_eval() if counters["step"] == 0 else {}
    bar = run_bar(config, counters)
    log = run_log.tee(above_bar(shown_log, bar))  # evaluation lines and dropped-episode warnings above the bar
    started = time.perf_counter()
    saved_step = counters["step"]
    dropped = DroppedWatch(config.env)
    said_unforked = False
    # an error is printed below the bar; a second signal names the checkpoint kept
    with StopRequest(log, lambda: saved_step) as stop, closed_at_exit(bar):
        while not budget.finished(counters):
            if stop.signum is not None:  # a safe point: the last step is complete and logged
                _interrupt(stop.signum, counters, saved_step, checkpoint, writer, bar)
            budget.before_step()
            # a training instance longer than the held-out ones the model's positions were checked on: skipped, with
            # the fix (room: the small GPT's or the Hugging Face model's)
            seeds = draw_instances(probe, rng, config.prompts_per_step, held_out, log, room)
            t0 = time.perf_counter()
            episodes, generated = play(policy, env_fn, seeds, config.group_size, generator, settings, log=warn)
            t1 = time.perf_counter()
            unforked = unforked_slots(episodes, settings)
            if unforked and not said_unforked:  # once: the later steps' counts are in metrics.jsonl
                said_unforked = True
                log(f"warning: step {counters['step'] + 1}: {unforked} of {config.prompts_per_step * config.group_size}"
                    f" group places stayed empty because episodes ended before a fork_at turn "
                    f"{list(settings.fork_at)}; groups are smaller than group_size (unforked_episodes in metrics)")
            if budget.set_aside_if_past(counters, generated, log, evaluated=evaluated, evaluate=run_eval,
                                        save=checkpoint, metrics=writer.path):  # end at the last step that fits
                if missing_success.stops():  # in the closing evaluation it just ran: saved, so stop as after a step
                    writer.close()
                    raise missing_success.stop_error(counters["step"], out / "config.json", resume_fix)
                break
            learned: dict = {}
            if episodes:  # else every episode was dropped (env errors, each logged): no update, the run goes on
                batch = pack_episodes(policy, episodes, seeds, generated)
                try:
                    advantages, _ = agent_advantages(config.estimator, batch, config.estimator_options)
                except ValueError as error:  # what only this step's episodes show (returns outside [0, 1])
                    raise returns_refused(config, error, counters["step"] + 1, saved_step) from error
                t2 = time.perf_counter()
                stats = ppo_update(policy, reference, optimizer, batch.rollout, advantages, config, generator)
                counters["trained_tokens"] += int(sum(len(p) for p in batch.rollout.prompt_ids)
                                                  + batch.rollout.response_mask.sum()) * config.epochs
                learned = {"revisit_rate": revisit_rate(batch),
                           "step_credit_share": step_credit_share(batch, advantages.numpy()),
                           "time_credit_s": t2 - t1, "time_update_s": time.perf_counter() - t2, **stats}
            else:
                log(f"warning: step {counters['step'] + 1}: every episode was dropped; no update this step "
                    f"(the run stops after {dropped.stop_after} such steps in a row)")
            counters["step"] += 1
            counters["generated_tokens"] += generated
            record = {"kind": "train", **counters, **episode_metrics(episodes), **learned,
                      "dropped_episodes": config.prompts_per_step * config.group_size - len(episodes) - unforked,
                      "unforked_episodes": unforked,
                      "time_play_s": t1 - t0, "elapsed_s": elapsed()}
            writer.write(record)
            if overwrite:  # a step trained: the run that --overwrite set aside goes
                drop_aside(out)
            warn_context_cut(record, ("context_cut_share",), f"step {counters['step']}")
            done = budget.finished(counters)
            if due(counters["step"], config.eval_every, done):
                last_eval = run_eval()
            stop_dropped = dropped.after_step(len(episodes))
            stop_success = missing_success.stops()  # in this step's episodes, its evaluation's or step 0's
            if (config.checkpoint_every and counters["step"] % config.checkpoint_every == 0) or done or stop_dropped \
                    or stop_success:
                checkpoint()
                saved_step = counters["step"]
            if stop_dropped or stop_success:  # an env that broke mid-run: saved, resumable once it is fixed
                writer.close()
                raise (dropped.stop_error(out / "config.json", resume_fix) if stop_dropped else
                       missing_success.stop_error(counters["step"], out / "config.json", resume_fix))
            advance_bar(bar, config, generated, _postfix(record, last_eval, config))
            if stop_at_step is not None and counters["step"] >= stop_at_step:
                break
    writer.close()
    # resumed with a larger budget: the old closing evaluation stays, flagged as one a fresh run would not make
    records = flag_earlier_closings(read_metrics(writer.path), config.eval_every, writer.path)
    run_log.write(ended_line(counters, elapsed(), agent_summary(config, records)), always=True)
    return records


def _postfix(record: dict, last_eval: dict, config) -> dict:
    """The bar's postfix of an agent run: the step's success and return, the last held-out sampled success."""
    from treecredit.training.progress import held_out_postfix

    postfix = {key: f"{record[key]:.2f}" for key in ("success", "return") if key in record}  # none: all dropped
    return {**postfix, **held_out_postfix(last_eval, config, (("eval_success", "eval_sampled_success"),), record)}
