"""When a run ends: ``steps`` done, or the generated-token budget spent without ever passing it.

A step's generated tokens are known only once it is sampled, so a run with ``token_budget`` B samples
each step and trains on it only when the run's total stays within B. The first step that would pass B
is set aside: the random streams and the sampler's state go back to what they were before it (so a run
resumed with a larger budget samples that very step again, as an uninterrupted run would), and the run
ends with the last step that fitted: its final evaluation and checkpoint are at ``generated_tokens`` ≤ B.
The set-aside step's size is kept in the checkpoint (``pending_step_tokens``), so that resuming with the
same budget finds the run finished.

This makes every run of a ``compare`` end at or below its budget, at the point its last evaluation
refers to: the report's table (the last evaluation) and its curves (clipped at the budget, flat after
the last evaluation) describe the same policy.
"""

from __future__ import annotations

from treecredit._validation import fail


def finished(config, counters: dict, pending_step_tokens: int = 0) -> bool:
    """Whether a run is over: ``steps`` reached (when > 0), or ``token_budget`` (when > 0) spent: reached,
    or the set-aside next step (``pending_step_tokens``) would pass it."""
    by_steps = config.steps > 0 and counters["step"] >= config.steps
    spent = config.token_budget > 0 and counters["generated_tokens"] >= config.token_budget
    return by_steps or spent or (pending_step_tokens > 0 and passes_budget(config, counters, pending_step_tokens))


def saved_finished(config, saved: dict) -> bool:
    """:func:`finished` for checkpoint state ``saved`` (its counters and set-aside step)."""
    return finished(config, saved["counters"], saved.get("pending_step_tokens", 0))


def passes_budget(config, counters: dict, step_tokens: int) -> bool:
    """Whether a step of ``step_tokens`` generated tokens would take the run past its ``token_budget``."""
    return config.token_budget > 0 and counters["generated_tokens"] + step_tokens > config.token_budget


def set_aside(config, counters: dict, step_tokens: int, log) -> None:
    """Report the step that would pass the budget (``log``); refuse a budget that no step fits in."""
    budget, spent = config.token_budget, counters["generated_tokens"]
    if counters["step"] == 0:
        most = ("an agent step generates up to prompts_per_step × group_size × max_new_tokens tokens in each "
                "turn, for up to the env's max_turns turns" if getattr(config, "env", "") else
                "a step generates up to prompts_per_step × group_size × max_new_tokens tokens")
        fail("token_budget", f"is {budget}, but the first step generated {step_tokens} tokens, so no step fits "
             "in the budget", f"pass a budget of {step_tokens} tokens or more (train --token-budget, compare "
             f"--budget; {most}), or fewer --prompts-per-step")
    log(f"token budget: the next step would generate {step_tokens} tokens, {spent + step_tokens} in all, past "
        f"--token-budget {budget}; the run ends after step {counters['step']} at {spent} generated tokens "
        "(that step was sampled, not trained on)")


class StepBudget:
    """One run's token budget inside its training loop (``train`` and ``train_agent`` both use it).

    ``capture()`` returns the state a step draws from (its random streams and the sampler's state) and
    ``restore(state)`` puts it back. :meth:`before_step` captures it (under a budget only); once the step is
    sampled, :meth:`set_aside_if_past` ends the run at the last step that fits when this one would pass
    the budget. ``pending``: the tokens of the set-aside step (0: none), saved in the checkpoint and read
    back on resume.
    """

    def __init__(self, config, capture, restore, pending: int = 0) -> None:
        self.config, self._capture, self._restore, self.pending = config, capture, restore, int(pending)
        self._before = None

    def finished(self, counters: dict) -> bool:
        """:func:`finished` with the set-aside step."""
        return finished(self.config, counters, self.pending)

    def before_step(self) -> None:
        """Capture the state the next step draws from (nothing without a budget)."""
        self._before = self._capture() if self.config.token_budget > 0 else None

    def set_aside_if_past(self, counters: dict, step_tokens: int, log, *, evaluated: set, evaluate, save,
                          metrics) -> bool:
        """Whether the sampled step of ``step_tokens`` generated tokens passes the budget. If it does: log it
        (:func:`set_aside`, which refuses a budget no step fits in), put back the state captured before it,
        keep its size in ``pending``, ``evaluate()`` unless step ``counters['step']`` is in ``evaluated``,
        ``save()`` (the checkpoint now holds ``pending``) and note ``pending`` on that evaluation's record in
        ``metrics`` (the run's ``metrics.jsonl``: ``train --resume`` then sees that the run is finished before it
        loads anything); the loop then ends. If not: ``pending`` = 0 (a step set aside before a resume with a
        larger budget fits now) and the loop trains on it."""
        from treecredit.training.metrics import mark_set_aside

        if not passes_budget(self.config, counters, step_tokens):
            self.pending = 0
            return False
        set_aside(self.config, counters, step_tokens, log)
        assert self._before is not None  # passes_budget needs a budget, and before_step captured under one
        self._restore(self._before)
        self._before = None
        self.pending = int(step_tokens)
        if counters["step"] not in evaluated:
            evaluate()
        save()  # also when saved at this step: it now holds `pending`
        mark_set_aside(metrics, counters["step"], self.pending)  # after the save: the checkpoint is the authority
        return True


def most_tokens_of_a_first_turn(config) -> int:
    """What one step can generate when each response (each episode's first turn, in an agent run) reaches
    ``max_new_tokens``: ``prompts_per_step × group_size × max_new_tokens``. A step can generate more
    (an episode's later turns, Monte Carlo rollouts) but also far less (responses that end early)."""
    return config.prompts_per_step * config.group_size * config.max_new_tokens


def check_budget_fits(config, budget: int, argument: str = "budget", flag: str = "--budget") -> None:
    """Refuse, before any work, a ``budget`` below :func:`most_tokens_of_a_first_turn` of ``config``: its first
    step could pass it, and a run whose first step passes its budget trains nothing (:func:`set_aside` refuses
    that only once the step is sampled, after the warm start)."""
    most = most_tokens_of_a_first_turn(config)
    if budget < most:
        per = " in their first turns" if getattr(config, "env", "") else ""
        fail(argument, f"is {budget}, below what one step can generate: {config.prompts_per_step} prompts × "
             f"{config.group_size} responses × {config.max_new_tokens} tokens = {most} tokens{per}, so a run could "
             "end before its first step", f"pass {flag} {most} or more, or fewer --prompts-per-step, "
             "--group-size or --max-new-tokens")


def finished_note(config, counters: dict, pending_step_tokens: int) -> str:
    """The line a resumed run that has nothing left to train prints: where it stands, what ended it (``--steps``
    reached, the ``--token-budget`` spent or its set-aside next step past it, or both) and the fix that trains
    further, a larger one of those; a stopping point the run does not use (``--steps 0``: none) is not named."""
    step, tokens = counters["step"], counters["generated_tokens"]
    by_steps = config.steps > 0 and step >= config.steps
    spent = config.token_budget > 0 and tokens >= config.token_budget
    passed = not spent and pending_step_tokens > 0 and passes_budget(config, counters, pending_step_tokens)
    ends, flags = [], []
    if by_steps:
        ends.append(f"--steps {config.steps} reached")
        flags.append("--steps")
    if spent or passed:
        pending = f": its next step, {pending_step_tokens} tokens, would pass the budget"
        ends.append(f"--token-budget {config.token_budget}" + (" spent" if spent else pending))
        flags.append("--token-budget")
    return (f"the run is already finished (step {step}, {tokens} generated tokens; {', '.join(ends)}): nothing to "
            f"train. To train further, resume with a larger {' and a larger '.join(flags)}")


def resume_run(saved: dict, out, config, budget, log, on_resume, **states) -> tuple[dict, float]:
    """Put checkpoint ``saved`` of the run in folder ``out`` back
    (:func:`~treecredit.training.checkpoint.restore_checkpoint` with ``states``: model, optimizer, generator,
    problem_rng and, for task runs, sampler), restore ``budget``'s set-aside step, log where the run resumes
    (and that it is finished, if it is), call ``on_resume(step, finished)`` when given; frees the
    checkpoint's weight copies. Returns (counters, elapsed seconds before)."""

    from treecredit.training.checkpoint import restore_checkpoint

    counters = restore_checkpoint(saved, **states)
    budget.pending = saved.get("pending_step_tokens", 0)
    log(f"resumed from {out} at step {counters['step']}")
    if on_resume is not None:  # compare --resume says which runs were read back and which go on
        on_resume(counters["step"], budget.finished(counters))
    if budget.finished(counters):
        log(finished_note(config, counters, budget.pending))
    del saved["model"], saved["optimizer"]  # free the copies
    return counters, saved.get("elapsed_s", 0.0)


def run_finished(folder) -> bool:
    """Whether the run saved in ``folder`` is over by its own settings (``config.json``): its newest
    checkpoint's counters and set-aside step (:func:`finished`). False without a checkpoint."""
    import json
    from pathlib import Path
    from types import SimpleNamespace

    from treecredit.training.checkpoint import CHECKPOINT, read_checkpoint

    folder = Path(folder)
    if not (folder / CHECKPOINT).exists() or not (folder / "config.json").exists():
        return False
    settings = json.loads((folder / "config.json").read_text())
    state = read_checkpoint(folder / CHECKPOINT)
    config = SimpleNamespace(steps=settings.get("steps", 0), token_budget=settings.get("token_budget", 0))
    return saved_finished(config, state)
