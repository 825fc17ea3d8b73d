"""Completions whose reward failed (a reward function raised, or every one returned None) get no advantage.

The task marks them with a NaN reward. :func:`neutralise_failed_rewards` gives such a row the mean
reward of the valid rows of its group (0.0 when none is valid), so that it moves no baseline of the
others (the group mean is unchanged), and a row weight of 0, so that its own advantage is 0
(``sampling.rollout.weighted_advantages`` applies row weights). Tree estimators see the imputed value in
shared prefixes: the group mean, which again leaves sibling comparisons centred.
"""

from __future__ import annotations


def neutralise_failed_rewards(rollout) -> int:
    """Fix the NaN rewards of ``rollout`` in place as described above; returns how many rows failed."""
    import torch

    rewards = rollout.rewards
    failed = torch.isnan(rewards)
    n_failed = int(failed.sum())
    if n_failed == 0:
        return 0
    filled = rewards.clone()
    for group in torch.unique(rollout.group_ids[failed]).tolist():
        rows = rollout.group_ids == group
        valid = rows & ~failed
        filled[rows & failed] = float(rewards[valid].mean()) if bool(valid.any()) else 0.0
    weights = rollout.row_weights if rollout.row_weights is not None else torch.ones_like(rewards)
    rollout.row_weights = torch.where(failed, torch.zeros_like(weights), weights.to(rewards.dtype))
    rollout.rewards = filled
    return n_failed


def reward_notes(task) -> int:
    """How many reward failures ``task``'s reward functions have noted so far (raised, or gave no number);
    0 for a task without reward functions. A None ("does not apply", TRL's convention) is not noted."""
    return getattr(getattr(task, "_reward_set", None), "logged", 0)


def last_reward_error(task, since: int) -> str | None:
    """The last failure ``task``'s reward functions noted, where they noted any after the first ``since``
    (:func:`reward_notes` then); None when none was noted since: every failure since was a None ("does not
    apply"), not a broken function."""
    errors = getattr(getattr(task, "_reward_set", None), "errors", [])
    return errors[-1] if reward_notes(task) > since and errors else None


ALL_FAILED_STOP_STEPS = 5
"""A run stops after this many RL steps in a row in which every reward failed (:class:`AllFailedWatch`)."""


class AllFailedWatch:
    """Watches the RL steps in which every reward failed (a reward function raised, gave no number, or every
    one returned None): such a step trains on nothing (every advantage is 0).

    :meth:`after_sampling` refuses it on the first step of a run (``ValueError`` naming ``reward``: the reward
    is broken, nothing was trained yet); later, the first step of a streak logs a warning, and after
    ``stop_after`` such steps in a row :meth:`after_sampling` returns True: the caller saves a checkpoint and
    raises :meth:`stop_error` (a reward that broke mid-run; fix it and resume). A step with any scored
    completion ends the streak.
    """

    def __init__(self, task, log=print, stop_after: int = ALL_FAILED_STOP_STEPS) -> None:
        self.task = task
        self.log, self.stop_after = log, stop_after
        self.streak = 0
        self.last = self.brief = ""  # what the current streak is (and its first clause), for stop_error
        self.noted = reward_notes(task)

    def _cause(self) -> str:
        """Why the rewards failed since the last call: the last error, or every function returned None."""
        error = last_reward_error(self.task, self.noted)
        self.noted = reward_notes(self.task)
        return f"last error: {error}" if error else "the functions returned None (does not apply)"

    def after_sampling(self, step: int, failed: int, total: int) -> bool:
        """Note RL step ``step + 1`` (``step``: steps done before it) whose ``failed`` of ``total`` rewards
        failed; True when the run must stop (see the class docstring)."""
        if failed < total or total == 0:
            self.streak = 0
            self.noted = reward_notes(self.task)
            return False
        self.streak += 1
        cause = self._cause()
        self.brief = f"every reward of {self.streak} step{'s' * (self.streak != 1)} in a row failed"
        self.last = f"{self.brief} ({failed} of {total} completions at step {step + 1}; {cause})"
        if step == 0:
            from treecredit._validation import fail

            fail("reward", f"every reward of the first step failed ({failed} of {total} completions; {cause})",
                 "fix the reward function (call it by hand on a few completions), then run again with --overwrite "
                 "(the --out folder now holds this run, stopped before its first step: without --overwrite a new "
                 "run there is refused)")
        if self.streak == 1:
            self.log(f"warning: step {step + 1}: every reward failed ({failed} of {total} completions; {cause}): "
                     f"this step trains on nothing (every advantage 0); the run stops after {self.stop_after} "
                     "such steps in a row")
        return self.streak >= self.stop_after

    def stop_error(self, config_path, resume: str | None = None) -> ValueError:
        """The error that ends a run stopped by :meth:`after_sampling` (its checkpoint saved; a
        :class:`~treecredit._validation.FixError` whose ``brief`` is the streak); ``resume``: how to resume it (None:
        ``resume with `treecredit train --config <config_path> --resume```)."""
        from treecredit._validation import FixError, Remedy

        resume = resume or f"resume with `treecredit train --config {config_path} --resume`"
        return FixError("reward", f"{self.last}; the run stopped, its checkpoint is saved",
                        (Remedy(f"fix the reward function (call it by hand on a few completions), then {resume}"),),
                        verb="", brief=self.brief)
