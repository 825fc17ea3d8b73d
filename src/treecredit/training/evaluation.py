"""Held-out evaluation sized to the model: which decodings, how many problems, how often.

A run evaluates the same held-out problems (never trained on) before the first step, every ``eval_every``
steps and after the last (``eval_every`` 0: only before the first and after the last; :func:`when_text`).
What one evaluation costs grows with the model: on SmolLM2-135M, greedy and sampled decoding of 256
problems took 184 s against ~17 s per training step, so a short run spent most of its time evaluating.
:func:`plan_evaluation` decides, from the config and the parameter count:

- ``eval_mode``: ``both`` (greedy and sampled pass@1), ``greedy``, ``sampled``, or ``auto``: ``both`` for
  models under :data:`LARGE_MODEL_PARAMS` parameters, ``greedy`` from there on (one pass instead of two;
  greedy pass@1 has no sampling noise, so fewer problems give the same precision);
- problems: ``eval_problems``, capped at :data:`LARGE_MODEL_EVAL_PROBLEMS` under ``auto`` for a large model
  (the held-out set excluded from training stays the full ``eval_problems``, so training problems do not
  change with the cap);
- ``eval_time_share`` > 0: a scheduled evaluation between the first and the last is skipped while the
  time spent evaluating exceeds that share of the run's wall time so far (which evaluations run then
  depends on timing; the training records do not, evaluation has its own random streams).

Every evaluation decodes its problems in batches of at most :data:`EVAL_BATCH` rows (one prefill per
batch, all rows decoded together, a batch stops when its last row stops). The plan is printed at start.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from math import inf, nan

from treecredit._validation import check_choice, fail
from treecredit.models.param_count import parameter_count_text

EVAL_MODES = ("auto", "both", "greedy", "sampled")
LARGE_MODEL_PARAMS = 50_000_000
"""From this many parameters on, ``eval_mode="auto"`` evaluates greedily on at most 64 problems."""
LARGE_MODEL_EVAL_PROBLEMS = 64
EVAL_BATCH = 64


def eval_draw_seed(base: int, run_seed: int) -> int:
    """The seed of a run's held-out sampled decoding (and of an agent run's held-out episodes): one random
    stream per run seed, the same at every evaluation of the run and in every arm of a comparison that has
    that seed. So a policy that did not change scores the same at every step (its gain over the warm start
    is 0, not evaluation noise), two arms with one seed differ only by their policies (common random numbers
    for the paired tests), and seeds draw independently (an interval over seeds includes the evaluation's
    own sampling noise). Before 2026-12-01 the seed was ``base + step``, the same for every run seed: a run's
    curve moved with the step number even where its policy did not, identically in every seed."""
    return base + 7_919 * int(run_seed)


@dataclass(frozen=True)
class EvalPlan:
    """What each evaluation of a run does (see the module docstring)."""

    greedy: bool
    sampled: bool
    problems: int
    every: int
    time_share: float
    reason: str
    steps: int = 0
    """The run's ``steps`` (0: it runs until its token budget is spent), for :meth:`describe`."""

    def describe(self) -> str:
        kinds = " and ".join(k for k, on in (("greedy", self.greedy), ("sampled", self.sampled)) if on)
        share = f", skipped while evaluation exceeds {self.time_share:.0%} of the run's time" \
            if self.time_share > 0 else ""
        share = share if scheduled_between(self.every, self.steps) else ""
        return (f"evaluation: {kinds} pass@1 on {self.problems} held-out problem{'s' * (self.problems != 1)}, "
                f"{when_text(self.every, self.steps)}{share} ({self.reason})")


def scheduled_between(every: int, steps: int) -> bool:
    """Whether a run of ``steps`` steps (0: until its token budget) has evaluations between its first and
    last: ``every`` > 0 and fewer than ``steps``."""
    return every > 0 and (steps == 0 or steps > every)


def when_text(every: int, steps: int) -> str:
    """When a run of ``steps`` steps (0: until its token budget is spent) with ``eval_every=every``
    evaluates, in words: ``"before the first step, every 25 steps and after the last"``, or ``"before the
    first step and after the last"`` when none falls between (``every`` 0, or ``steps ≤ every``)."""
    if scheduled_between(every, steps):
        return f"before the first step, every {f'{every} steps' if every > 1 else 'step'} and after the last"
    why = "--eval-every 0" if every == 0 else f"the run's {steps} step{'s' * (steps != 1)} ≤ --eval-every {every}"
    return f"before the first step and after the last only ({why})"


def due(step: int, every: int, done: bool) -> bool:
    """Whether to evaluate after ``step`` (0: before the first): the first and the last (``done``) always,
    else every ``every`` steps (never between when ``every`` is 0)."""
    return step == 0 or done or (every > 0 and step % every == 0)


def plan_evaluation(config, n_params: int, available: int | None = None) -> EvalPlan:
    """The :class:`EvalPlan` of ``config`` (a ``TrainConfig``) for a policy of ``n_params`` parameters;
    ``available``: how many held-out problems the task has (a dataset's held-out split can be smaller
    than ``eval_problems``), which caps the count the plan states."""
    mode = getattr(config, "eval_mode", "auto")
    check_choice(mode, EVAL_MODES, "eval_mode")
    problems = config.eval_problems if available is None else min(config.eval_problems, available)
    capped = f"; capped at {problems}, the size of the held-out set" if problems < config.eval_problems else ""
    if mode == "auto":
        large = n_params >= LARGE_MODEL_PARAMS
        mode = "greedy" if large else "both"
        if large:
            problems = min(problems, LARGE_MODEL_EVAL_PROBLEMS)
        reason = (f"eval_mode auto: {parameter_count_text(n_params)} parameters "
                  f"{'≥' if large else '<'} {parameter_count_text(LARGE_MODEL_PARAMS)}; --eval-mode "
                  "both/greedy/sampled and --eval-problems set it by hand")
    else:
        reason = f"eval_mode {mode}"
    reason += capped
    return EvalPlan(greedy=mode in ("both", "greedy"), sampled=mode in ("both", "sampled"), problems=problems,
                    every=config.eval_every, time_share=float(getattr(config, "eval_time_share", 0.0)),
                    reason=reason, steps=config.steps)


def evaluate_held_out(policy, task, problems, plan: EvalPlan, *, sampler_cls, temperature: float, top_p: float,
                      max_new_tokens: int, seed: int, span: RewardSpan | None = None) -> dict:
    """pass@1 (one response per problem) of the planned decodings on ``problems[:plan.problems]``.

    Keys: ``eval_greedy_pass1`` and/or ``eval_sampled_pass1`` (the share of problems solved: by
    ``task.success_of(problems, responses)`` where the task has it — a task trained with ``--reward``, or a
    dataset with answers —, else by the tests of a ``code`` reward among the rewards, else the mean reward,
    which is success for the built-in verifiers' 0/1 rewards);
    ``eval_greedy_reward`` / ``eval_sampled_reward`` (mean reward over the responses whose reward did not
    fail); ``eval_greedy_reward_failed`` / ``eval_sampled_reward_failed`` (how many rewards failed: a reward
    function raised or gave None); ``eval_step_accuracy`` and ``eval_response_length`` of the sampled
    responses (of the greedy ones when only greedy runs); ``eval_problems``.

    A failed reward is never recorded as a score of 0: when every reward of a decoding failed, its mean
    reward is NaN (written as JSON null), and so is its pass@1 where success is the reward (a task with
    ``success_of`` still counts its own verifier); a response whose reward failed otherwise counts as not
    solved. :func:`every_reward_failed` tells the caller (the trainer refuses that before the first step).
    ``span``: a :class:`RewardSpan` that also gets the lowest and highest scored reward (the trainer checks them
    against its estimator's range before the first step).
    """
    import contextlib

    reward_set = getattr(task, "_reward_set", None)  # its failures are logged as held-out ones
    with reward_set.held_out() if hasattr(reward_set, "held_out") else contextlib.nullcontext():
        return _evaluate(policy, task, problems, plan, sampler_cls, temperature, top_p, max_new_tokens, seed, span)


def _evaluate(policy, task, problems, plan, sampler_cls, temperature, top_p, max_new_tokens, seed, span) -> dict:
    """:func:`evaluate_held_out`'s work."""
    import torch

    from treecredit.tasks.base import step_accuracy_share
    from treecredit.training.metrics import reward_sum

    problems = list(problems[: plan.problems])
    out: dict = {"eval_problems": len(problems)}
    success_of = getattr(task, "success_of", None)  # tasks whose rewards are not success (--reward)
    runs = [("greedy", 0.0, 1.0)] if plan.greedy else []
    runs += [("sampled", temperature, top_p)] if plan.sampled else []
    for name, tau, p in runs:
        sampler = sampler_cls(temperature=tau, top_p=p, max_new_tokens=max_new_tokens)
        generator = torch.Generator().manual_seed(seed)
        rewards, solved, correct, steps, length, failed = 0.0, 0.0, 0, 0, 0.0, 0
        from_rewards = False
        for start in range(0, len(problems), EVAL_BATCH):
            chunk = problems[start:start + EVAL_BATCH]
            rollout = sampler.sample(policy, task, chunk, 1, generator)
            failed += int(torch.isnan(rollout.rewards).sum())
            if span is not None:
                span.add(rollout.rewards)
            batch_reward = reward_sum(rollout.rewards)  # float64, float32 noise off; a failed reward: not passed
            rewards += batch_reward
            flags = None if from_rewards else _success(task, success_of, chunk, list(rollout.response_texts))
            from_rewards = from_rewards or flags is None
            solved += batch_reward if flags is None else sum(flags)
            length += float(rollout.response_mask.sum())
            good, n = _step_counts(task, chunk, rollout)
            correct, steps = correct + good, steps + n
        none_scored = failed >= len(problems)  # also no problems at all (a pass@1 of nothing: null, not 0)
        out[f"eval_{name}_pass1"] = nan if (none_scored and from_rewards) or not problems else solved / len(problems)
        out[f"eval_{name}_reward"] = nan if none_scored else rewards / max(1, len(problems) - failed)
        out[f"eval_{name}_reward_failed"] = failed
        out["eval_step_accuracy"] = step_accuracy_share(task, correct, steps)  # NaN: no step verifier
        out["eval_response_length"] = length / max(1, len(problems))
    return out


def _success(task, success_of, problems: list, responses: list[str]) -> list[bool] | None:
    """Each response solved or not: by ``task.success_of`` where it says (a task trained with ``--reward``, a
    dataset with answers), else by the tests of a ``code`` reward among the task's rewards
    (:func:`~treecredit.rewards.code.code_success_of`); None when neither applies (pass@1 is the mean reward)."""
    from treecredit.rewards.code import code_success_of

    flags = success_of(problems, responses) if callable(success_of) else None
    return flags if flags is not None else code_success_of(task, problems, responses)


class RewardSpan:
    """The lowest and highest reward scored over the batches given to :meth:`add` (failed ones, NaN, left out);
    ``low`` > ``high`` while none was scored."""

    def __init__(self) -> None:
        self.low, self.high = inf, -inf

    def add(self, rewards) -> None:
        scored = rewards[~rewards.isnan()]
        if scored.numel():
            self.low, self.high = min(self.low, float(scored.min())), max(self.high, float(scored.max()))


def every_reward_failed(record: dict) -> list[str]:
    """The decodings (``"greedy"``, ``"sampled"``) of an evaluation record in which every reward failed."""
    return [kind for kind in ("greedy", "sampled")
            if record.get(f"eval_{kind}_reward_failed", 0) >= record.get("eval_problems", 0) > 0]


def check_rewards_scored(record: dict, task, log=print, noted_before: int | None = None) -> None:
    """Refuse (``ValueError`` naming ``reward``) an evaluation before the first step (``record['step']`` 0) in
    which every reward failed because the reward functions raised or gave no number
    (:func:`~treecredit.rewards.failed.reward_notes` grew past ``noted_before``; None: count any): they are
    broken, and the run would train on nothing and report a mean reward of 0. Otherwise (later steps, or every
    function returned None, "does not apply") warn through ``log``: the record holds null, not 0, for that
    decoding."""
    kinds = every_reward_failed(record)
    if not kinds:
        return
    from treecredit.rewards.failed import last_reward_error

    error = last_reward_error(task, noted_before or 0)
    raised = error is not None
    last = f"last error: {error}" if raised else "every function returned None: does not apply"
    what = (f"every reward of the held-out evaluation failed ({' and '.join(kinds)} decoding, "
            f"{record['eval_problems']} completions each; {last})")
    if record.get("step", 0) == 0 and raised:
        fail("reward", f"before the first step, {what}", "fix the reward function (call it by hand on a few "
             "of the model's completions), then run again with --overwrite (the --out folder now holds this "
             "run, stopped before its first step: without --overwrite a new run there is refused)")
    log(f"warning: step {record['step']}: {what}; recorded as null, not 0 (eval_*_reward_failed counts them)")


def _step_counts(task, problems, rollout) -> tuple[int, int]:
    correct = total = 0
    for row, text in enumerate(rollout.response_texts):
        good, n = task.step_accuracy(problems[int(rollout.problem_index[row])], text)
        correct, total = correct + good, total + n
    return correct, total


class EvalSchedule:
    """When to evaluate, and the wall time evaluation took (``spent_s``) out of the run's (``elapsed_s``)."""

    def __init__(self, plan: EvalPlan) -> None:
        self.plan = plan
        self.spent_s = 0.0
        self.started = time.perf_counter()

    def due(self, step: int, done: bool) -> bool:
        """True for the first and the last step; else every ``plan.every`` steps (none when 0), within the
        time share."""
        if not due(step, self.plan.every, done):
            return False
        within_share = self.plan.time_share <= 0 or self.spent_s <= self.plan.time_share * self.elapsed_s()
        return step == 0 or done or within_share

    def elapsed_s(self) -> float:
        return time.perf_counter() - self.started

    def run(self, evaluate):
        """Call ``evaluate()`` and count its wall time."""
        start = time.perf_counter()
        try:
            return evaluate()
        finally:
            self.spent_s += time.perf_counter() - start
