"""The RL loop: sample groups, score them, turn rewards into advantages by estimator name, PPO-update.

Reads top to bottom: seeding → task, policy (warm-started), optimizer → resume → for each step:
draw problems, sample G responses per problem, compute advantages with ``compute_advantages`` (passing
the options the estimator accepts), several epochs of minibatch PPO updates, log, evaluate, checkpoint.

Determinism: one seed fixes the training problems (NumPy stream ``[seed, 2]``), the samples and the
minibatch order (a ``torch.Generator`` seeded with ``seed``); the held-out problems come from a fixed
stream of their own and are never drawn for training. Checkpoints hold every one of these states, so a
killed run resumed with ``resume=True`` writes the same metrics as one that was never interrupted.

Counters: ``generated_tokens`` (what the sampler generated and kept, ``RolloutBatch.kept_tokens``: the
tokens a token budget counts, the same for every tree schedule), ``trained_tokens`` (real prompt + response
tokens through the loss, times epochs) and estimated ``flops`` = 2·N·(prompt tokens prefilled once per
problem + generated tokens, a speculative schedule's wasted ones included) + 6·N·trained tokens (8·N with the
KL reference's extra forward), N = parameters.
"""

from __future__ import annotations

import copy
import time
from pathlib import Path

import numpy as np

from treecredit.training.config import TrainConfig
from treecredit.training.draws import EVAL_SEED, draw_problems, held_out_problems, held_out_prompts
from treecredit.training.stopping import resume_may_change  # noqa: F401 — importable from here too
from treecredit.training.stopping import stop_and_save as _interrupt  # the agent loop imports it from here


def log_skipped_rows(task, held_out: frozenset, log) -> None:
    """A note when training rows of a fixed list (a dataset, HumanEval) repeat a held-out prompt: no draw, RL or
    warm start, ever gives them, so the run trains on fewer rows than the file holds."""
    train = getattr(task, "train_problems", None)
    if not train:
        return
    skipped = sum(p.prompt in held_out for p in train)
    if skipped:
        log(f"note: {skipped} of the {len(train)} training rows repeat the prompt of a held-out problem and are never "
            "drawn for training (nor by the warm start), so that the held-out pass@1 is measured on unseen prompts")


def build_policy(config: TrainConfig, task, log, for_checkpoint: bool = False, held_out: frozenset | None = None):
    """The small GPT, warm-started on worked solutions (from the cache when possible), or a local HF model;
    ``for_checkpoint``: its weights are about to be replaced by a run's checkpoint (``export``): no warm start,
    and the log says so. ``held_out``: the run's held-out prompts, which the warm start skips, when the caller
    has them (None: :func:`~treecredit.training.draws.held_out_prompts`, found here when a warm start runs)."""

    def skipped() -> frozenset:
        return held_out if held_out is not None else held_out_prompts(task, config.eval_problems)

    from treecredit.models import GPTPolicy, HFPolicy
    from treecredit.training.warmstart import char_tokenizer_for, warm_started_policy

    if config.model != "gpt":
        from treecredit.models.hf_load import model_identity
        from treecredit.training.warmstart import hf_warm_started

        steps = 0 if for_checkpoint else config.hf_warm_start_steps
        lora = f", LoRA rank {config.lora_rank}" if config.lora_rank else ""
        start = (" (weights from the run's checkpoint)" if for_checkpoint else "" if steps else " (no warm start)")
        log(f"policy: Hugging Face model from {config.model}{lora}{start}")
        policy = HFPolicy.from_pretrained(config.model, gguf_file=config.gguf_file or None,
                                          use_chat_template=config.chat_template, lora_rank=config.lora_rank,
                                          progress=config.progress)
        if steps == 0:
            return policy
        return hf_warm_started(policy, task, model_identity=model_identity(config.model, config.gguf_file),
                               steps=steps, batch_size=config.hf_warm_start_batch, lr=config.hf_warm_start_lr,
                               seed=config.warm_start_seed, cache_dir=config.cache_dir or None, log=log,
                               progress=config.progress, held_out=skipped())
    model_config = {"n_layer": config.n_layer, "n_head": config.n_head, "n_embd": config.n_embd}
    if config.max_len != 96:  # only then, so that the warm-start cache keys of the default context stay valid
        model_config["max_len"] = config.max_len
    if config.warm_start_steps == 0:
        return GPTPolicy.build(tokenizer=char_tokenizer_for(task), seed=config.warm_start_seed, **model_config)
    return warm_started_policy(task, model_config=model_config, steps=config.warm_start_steps,
                               batch_size=config.warm_start_batch, lr=config.warm_start_lr,
                               seed=config.warm_start_seed, cache_dir=config.cache_dir or None, log=log,
                               progress=config.progress, held_out=skipped())


def ppo_update(policy, reference, optimizer, rollout, advantages, config: TrainConfig, generator) -> dict:
    """``epochs`` passes of ``minibatches`` shuffled PPO steps over one rollout; returns mean stats."""
    import torch

    from treecredit.training.loss import ppo_loss

    totals: dict[str, float] = {}
    n_updates = 0
    policy.module.train()
    for _ in range(config.epochs):
        for rows in minibatch_rows(rollout.group_ids, config.minibatches, config.minibatch_split, generator):
            prompts = [rollout.prompt_ids[i] for i in rows.tolist()]
            used = rollout.response_mask[rows].any(0).nonzero()
            width = int(used.max()) + 1 if len(used) else 1  # drop the minibatch's all-padding columns
            ids, mask = rollout.response_ids[rows, :width], rollout.response_mask[rows, :width]
            # π at temperature 1, the distribution of rollout.old_logprobs (see models.teacher_forcing)
            layout = {"layout": config.update_layout, "groups": rollout.group_ids[rows], "response_mask": mask}
            logp, entropy = policy.token_logprobs(prompts, ids, with_entropy=config.entropy_coef != 0, **layout)
            ref = None
            if reference is not None:
                with torch.no_grad():
                    ref, _ = reference.token_logprobs(prompts, ids, with_entropy=False, **layout)
            loss, stats = ppo_loss(logp, rollout.old_logprobs[rows, :width], advantages[rows, :width], mask,
                                   clip_low=config.clip_low, clip_high=config.clip_high,
                                   aggregation=config.loss_aggregation, max_length=config.max_new_tokens,
                                   ref_logprobs=ref, kl_coef=config.kl_coef, entropy=entropy,
                                   entropy_coef=config.entropy_coef)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if config.max_grad_norm > 0:
                stats["grad_norm"] = float(torch.nn.utils.clip_grad_norm_(policy.module.parameters(),
                                                                          config.max_grad_norm))
            optimizer.step()
            stats["loss"] = float(loss.detach())
            for key, value in stats.items():
                totals[key] = totals.get(key, 0.0) + value
            n_updates += 1
    return {key: value / n_updates for key, value in totals.items()}


def minibatch_rows(group_ids, minibatches: int, split: str, generator) -> list:
    """One epoch's minibatches: a list of ``(b,)`` long row indices, in update order.

    ``split="rows"``: exactly ``minibatches`` near-equal parts of the shuffled rows (sizes differ by at
    most one row); ``"groups"``: near-equal parts of the shuffled groups (``group_ids (B,)``), each holding
    its groups' rows, so that the packed update computes each shared prompt and tree segment once per
    epoch (verl's actor also updates whole groups); ``"auto"``: ``groups`` when the batch holds at least
    ``minibatches`` groups, else ``rows``. Empty parts (fewer rows or groups than minibatches, a tree that
    came out short) are left out.
    """
    import torch

    if split == "auto":
        split = "groups" if len(torch.unique(group_ids)) >= minibatches else "rows"

    if split == "rows":
        parts = torch.tensor_split(torch.randperm(len(group_ids), generator=generator), minibatches)
    else:
        groups, inverse = torch.unique(group_ids, return_inverse=True)
        order = torch.randperm(len(groups), generator=generator)
        parts = [torch.isin(inverse, part).nonzero().flatten() for part in torch.tensor_split(order, minibatches)]
    return [rows for rows in parts if rows.numel()]


def train(config: TrainConfig, *, resume: bool = False, overwrite: bool = False, stop_at_step: int | None = None,
          log=print, on_resume=None, warn=None, resume_fix: str | None = None) -> list[dict]:
    """Run RL with ``config``; return the metric records (also written to ``<out>/metrics.jsonl``).

    The whole configuration is checked first (:func:`treecredit.training.preflight.check_run`): an
    ``out`` folder that holds a run needs ``resume=True`` (continue from its newest valid checkpoint;
    settings must match) or ``overwrite=True`` (replace it). SIGINT/SIGTERM finish the current step, save
    a checkpoint and raise :class:`~treecredit.training.stopping.RunInterrupted`. ``stop_at_step`` ends
    the call after that step without a final checkpoint, as a kill would (used by the resume tests).
    ``on_resume(step, finished)`` is called when a checkpoint was resumed: its step, and whether the run was
    already finished there. ``warn``: where the warnings that every reward of a step (or of an evaluation) failed
    go (None: ``log``; ``treecredit compare`` silences ``log`` but shows these once per arm); ``resume_fix``: how
    the error of a run stopped by failing rewards says to resume it (None: ``treecredit train ... --resume``).
    What ``log`` and ``warn`` get, Python warnings and how the run ended also go to ``<out>/log.txt``
    (:mod:`treecredit.training.run_log`; appended to under ``resume``).
    """
    from treecredit.training.out_folder import replacing, run_lock, write_errors
    from treecredit.training.run_log import RunLog

    with write_errors(config.out), run_lock(config.out), replacing(config.out, overwrite, log), \
            RunLog(config.out, resume=resume) as run_log:
        return _train(config, run_log, resume=resume, overwrite=overwrite, stop_at_step=stop_at_step, log=log,
                      on_resume=on_resume, warn=warn, resume_fix=resume_fix)


def _train(config: TrainConfig, run_log, *, resume: bool, overwrite: bool, stop_at_step: int | None, log,
           on_resume, warn, resume_fix: str | None) -> list[dict]:
    """:func:`train`'s run, its lines also written by ``run_log`` (a :class:`~treecredit.training.run_log.RunLog`)."""
    import torch

    import treecredit
    from treecredit.rewards.failed import AllFailedWatch, neutralise_failed_rewards, reward_notes
    from treecredit.rewards.trainer_keywords import attach, log_into
    from treecredit.sampling import IIDSampler
    from treecredit.sampling.branch_stats import sampler_metrics
    from treecredit.sampling.rollout import weighted_advantages
    from treecredit.tasks import task_from_config
    from treecredit.training.budget import StepBudget, resume_run
    from treecredit.training.checkpoint import (
        random_state,
        restore_random_state,
        save_checkpoint,
    )
    from treecredit.training.degenerate_groups import DegenerateGroupsWatch
    from treecredit.training.estimator_inputs import (
        check_eval_rewards_in_range,
        estimator_options,
        failed_at_step,
        groups_of_one_named,
    )
    from treecredit.training.evaluation import (
        EvalSchedule,
        RewardSpan,
        check_rewards_scored,
        eval_draw_seed,
        evaluate_held_out,
        plan_evaluation,
    )
    from treecredit.training.metrics import (
        MetricsWriter,
        advantage_metrics,
        flag_earlier_closings,
        read_metrics,
        rollout_metrics,
    )
    from treecredit.training.out_folder import drop_aside
    from treecredit.training.preflight import check_run
    from treecredit.training.progress import above_bar, advance_bar, closed_at_exit, run_bar
    from treecredit.training.run_log import start_line
    from treecredit.training.run_summary import ended_line, task_summary
    from treecredit.training.samples import cut_back_side_files, sample_records, write_samples
    from treecredit.training.startup import adamw, start_run
    from treecredit.training.stopping import StopRequest, mark_run_ended

    mark_run_ended(False)
    shown_log, log, warn = log, run_log.tee(log), run_log.tee(warn) if warn is not None else None
    task = task_from_config(config)
    run_keywords = attach(task, config.steps, config.prompts_per_step)  # TRL's trainer_state, log_metric, log_extra
    sampler = check_run(config, resume=resume, overwrite=overwrite, task=task, log=log)  # before any work
    out, saved = start_run(config, resume=resume, overwrite=overwrite, log=log)  # seeds, folder, checkpoint
    run_log.begin(start_line(config, resume))  # the checks passed: the folder is the run's

    eval_set = held_out_problems(task, config.eval_problems)
    held_out = frozenset(p.prompt for p in eval_set)  # skipped by every training draw, the warm start's too
    log_skipped_rows(task, held_out, log)
    policy = build_policy(config, task, log, held_out=held_out)
    policy.compile_decode = config.compile_decode
    if config.model != "gpt" and config.chat_template == "auto" and not getattr(policy, "use_chat_template", True):
        from treecredit.tasks.chat import plain_text_chat_note

        looked_at = [*getattr(task, "train_problems", [])[:1000], *eval_set]
        note = plain_text_chat_note(looked_at, config.model)
        if note:
            log(note)  # console and log.txt
    reference = copy.deepcopy(policy) if config.kl_coef > 0 else None
    optimizer = adamw(policy.module.parameters(), lr=config.lr, weight_decay=0.0)  # fused where available
    generator = torch.Generator().manual_seed(config.seed)
    problem_rng = np.random.default_rng([config.seed, 2])
    spec = treecredit.get_estimator(config.estimator)
    if config.sampler == "tree" and not ({"tree_nodes", "step_ends"} & set(spec.options) or spec.requires):
        trees = sorted(n for n in treecredit.estimators("token") if "tree_nodes" in treecredit.get_estimator(n).options)
        log(f"note: --estimator {config.estimator} gives every token of a response the same advantage; the tree "
            f"sampler changes only which responses are sampled. For credit from the trees pass --estimator one of "
            f"{', '.join(trees)}.")
    n_params = sum(p.numel() for p in policy.module.parameters())
    eval_plan = plan_evaluation(config, n_params, available=len(eval_set))  # sized to the model and the set
    log(eval_plan.describe())
    schedule = EvalSchedule(eval_plan)

    counters = {"step": 0, "generated_tokens": 0, "trained_tokens": 0, "flops": 0.0}
    elapsed_before = 0.0
    budget = StepBudget(config, lambda: random_state(generator, problem_rng, sampler),
                        lambda state: restore_random_state(state, generator, problem_rng, sampler))
    if saved is not None:
        counters, elapsed_before = resume_run(saved, out, config, budget, log, on_resume, model=policy.module,
                                              optimizer=optimizer, generator=generator, problem_rng=problem_rng,
                                              sampler=sampler)
    elif resume:
        log(f"no checkpoint in {out}: starting from step 0")
    keep = counters["step"] if saved is not None else None
    cut_back_side_files(out, keep, resume)  # samples.jsonl and TensorBoard, as metrics.jsonl is below
    writer = MetricsWriter(out, keep_until_step=keep, tensorboard=config.tensorboard)
    evaluated = {r["step"] for r in read_metrics(writer.path) if r["kind"] == "eval"}  # kept by a resume

    def run_eval() -> dict:
        noted, span = reward_notes(task), RewardSpan()
        if run_keywords is not None:
            run_keywords.begin(counters["step"])
        record = {"kind": "eval", **counters, **schedule.run(lambda: evaluate_held_out(
            policy, task, eval_set, eval_plan, sampler_cls=IIDSampler, temperature=config.temperature,
            top_p=config.top_p, max_new_tokens=config.max_new_tokens, seed=eval_draw_seed(EVAL_SEED, config.seed),
            span=span))}
        check_rewards_scored(record, task, warn or log, noted)  # broken rewards before step 1: refused, not a 0
        if counters["step"] == 0:  # rewards out of the estimator's range: refused now, not after sampling step 1
            check_eval_rewards_in_range(config, task, span.low, span.high)
        log_into(run_keywords, record, out)
        writer.write(record)
        evaluated.add(counters["step"])
        return record

    saved_time: dict = {}  # the training time the last checkpoint holds, by its step

    def checkpoint() -> Path:
        saved_time.clear()
        saved_time[counters["step"]] = seconds = elapsed()
        return save_checkpoint(out, model=policy.module, optimizer=optimizer, generator=generator,
                               problem_rng=problem_rng, counters=counters, sampler=sampler, elapsed_s=seconds,
                               pending_step_tokens=budget.pending)

    def elapsed() -> float:
        return elapsed_before + time.perf_counter() - started

    last_eval = run_eval() if counters["step"] == 0 else {}
    bar = run_bar(config, counters)
    log = run_log.tee(above_bar(shown_log, bar))  # sample lines and notes above the bar, not through it
    failures = AllFailedWatch(task, warn or log)  # every reward of a step failed: refused at step 1, stops a streak
    started = time.perf_counter()
    shown_warnings: set[str] = set()  # warnings a step gives that the run says once (estimator_options)
    degenerate = DegenerateGroupsWatch(warn or log, config.sampler, config.group_size)  # copies, zero advantages
    saved_step = counters["step"]
    # an error is printed below the bar, not on its line; a second signal names the checkpoint kept
    with StopRequest(log, lambda: saved_step) as stop, closed_at_exit(bar):
        while not budget.finished(counters):
            if stop.signum is not None:  # a safe point: the last step is complete and logged
                _interrupt(stop.signum, counters, saved_step, checkpoint, writer, bar)
            budget.before_step()
            if run_keywords is not None:
                run_keywords.begin(counters["step"])
            problems = draw_problems(task, problem_rng, config.prompts_per_step, held_out)
            rollout = sampler.sample(policy, task, problems, config.group_size, generator)
            if budget.set_aside_if_past(counters, rollout.kept_tokens, log, evaluated=evaluated, evaluate=run_eval,
                                        save=checkpoint, metrics=writer.path):  # end at the last step that fits
                break
            raw_rewards = rollout.rewards.clone()  # NaN where the reward failed: means over the scored ones
            reward_failed = neutralise_failed_rewards(rollout)  # failed rewards: no advantage, counted
            stop_failed = failures.after_sampling(counters["step"], reward_failed, rollout.shape[0])
            options = estimator_options(spec, rollout, policy, task, config.estimator_options, config.branching,
                                        shown_warnings)
            try:
                with groups_of_one_named(config):  # the API's hint (group ids) does not apply to a run
                    advantages = treecredit.compute_advantages(config.estimator, **rollout.estimator_inputs(),
                                                               **options)
            except ValueError as error:  # what only this step's data shows (a reward out of the estimator's range)
                raise failed_at_step(error, counters["step"] + 1, saved_step, config.estimator) from error
            advantages = weighted_advantages(advantages, rollout)  # replayed subtrees: off-policy correction
            stats = ppo_update(policy, reference, optimizer, rollout, advantages, config, generator)

            prompt_tokens = sum(len(p) for p in rollout.prompt_ids)
            trained = (prompt_tokens + int(rollout.response_mask.sum())) * config.epochs  # real tokens, no padding
            counters["step"] += 1
            counters["generated_tokens"] += rollout.kept_tokens  # speculative waste: in flops only
            counters["trained_tokens"] += trained
            counters["flops"] += 2.0 * n_params * (prompt_tokens / config.group_size + rollout.generated_tokens) \
                + (6.0 + 2.0 * (reference is not None)) * n_params * trained
            sampled_nll = float(-rollout.old_logprobs.sum() / rollout.response_mask.sum().clamp(min=1))
            record = {"kind": "train", **counters, **rollout_metrics(rollout, task, problems, raw_rewards),
                      "sampled_nll": sampled_nll,
                      **advantage_metrics(advantages, rollout.response_mask, rollout.tree_nodes, rollout.group_ids),
                      **sampler_metrics(rollout), **degenerate.metrics(rollout), **stats,
                      "reward_failed": reward_failed, "elapsed_s": elapsed()}
            log_into(run_keywords, record, out)
            writer.write(record)
            degenerate.after_step(record, all_failed=0 < reward_failed >= rollout.shape[0])  # said by `failures`
            if overwrite:  # a step trained: the run that --overwrite set aside goes
                drop_aside(out)
            write_samples(out, sample_records(rollout, counters["step"], raw_rewards),
                          echo=bool(config.sample_every) and counters["step"] % config.sample_every == 0, log=log)
            done = budget.finished(counters)
            if schedule.due(counters["step"], done):
                last_eval = run_eval()
            if (config.checkpoint_every and counters["step"] % config.checkpoint_every == 0) or done or stop_failed:
                checkpoint()
                saved_step = counters["step"]
            if stop_failed:  # a reward that broke mid-run: saved, resumable once the reward is fixed
                writer.close()
                raise failures.stop_error(out / "config.json", resume_fix)
            advance_bar(bar, config, rollout.kept_tokens, _postfix(record, last_eval, config))
            if stop_at_step is not None and counters["step"] >= stop_at_step:
                break
    writer.close()
    # resumed with a larger budget: the old closing evaluation stays, flagged as one a fresh run would not make
    records = flag_earlier_closings(read_metrics(writer.path), config.eval_every, writer.path)
    # the time the checkpoint of the last step holds, which a --resume of the finished run says again
    run_log.write(ended_line(counters, saved_time.get(counters["step"], elapsed()), task_summary(records)),
                  always=True)
    mark_run_ended()
    return records


def _postfix(record: dict, last_eval: dict, config) -> dict:
    """The bar's postfix of a task run: the step's reward and step accuracy, the last held-out pass@1 (sampled,
    else greedy, labelled so; :func:`~treecredit.training.progress.held_out_postfix`)."""
    from treecredit.training.progress import held_out_postfix

    postfix = {"reward": _shown(record["reward"]), "step_acc": _shown(record["step_accuracy"])}
    keys = (("eval_sampled_pass1", "eval_sampled_pass1"), ("eval_greedy_pass1", "eval_greedy_pass1"))
    return {**postfix, **held_out_postfix(last_eval, config, keys, record)}


def _shown(value) -> str:
    """A bar value: two decimals, or ``n/a`` for NaN (no scored reward, no step verifier)."""
    return "n/a" if value != value else f"{value:.2f}"
