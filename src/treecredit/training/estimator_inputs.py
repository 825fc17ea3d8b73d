"""What the estimator gets at each training step: its options from the rollout, and the step's advantages.

:func:`estimator_options` picks, from what a rollout offers (its step ends, sampled tree, Monte Carlo
values), what the estimator accepts, finding step ends in the decoded text where the rollout has none;
:func:`warn_if_tree_did_not_branch` says when a sampled tree gave the estimator nothing a group of chains
would not; :func:`failed_at_step` names the step in an estimator's refusal of data that only that step shows;
:func:`groups_of_one_named` says the estimator's "no group has two responses" in a run's terms (the cutoff).
Used by the trainer (:mod:`treecredit.training.loop`) and by its checks before any work
(:mod:`treecredit.training.dry_run`, :mod:`treecredit.training.reward_range`).
"""

from __future__ import annotations

import contextlib
from typing import NamedTuple


def estimator_options(spec, rollout, policy, task, user_options: dict, branching: str = "fixed",
                      shown: set | None = None) -> dict:
    """The options to pass to estimator ``spec``: what the rollout offers and the estimator accepts.

    Step boundaries go as ``step_ends``: the rollout's, or else found in the decoded text of the
    responses (the task's delimiter, :func:`treecredit.step_ends_from_text`: right for BPE tokenizers,
    where the delimiter's ids depend on the context), unless the sampled tree goes; ``tree_nodes`` and
    ``mc_values`` when the sampler produced them. The user's options win; a user-given ``delimiter`` or
    ``step_tokens`` replaces the automatic ``step_ends``. A step estimator that finds no step in the whole
    batch gets a warning, and so does a sampled tree that did not branch (``branching``: its strategy; with
    ``shown``, a run's set of warnings given, once per run: Python's own once-only filters forget what they
    showed whenever any code changes the warning filters).
    """
    from treecredit.step_text import first_response_text, step_ends_from_text, warn_if_no_steps
    from treecredit.tasks import delimiter_fix

    accepted = set(spec.options)
    options = {k: v for k, v in rollout.available_options().items() if k in accepted and k != "step_ends"}
    # a sampled tree already fixes the steps; the tree estimators refuse both together
    if not {"delimiter", "step_tokens", "step_ends"} & set(user_options) and "tree_nodes" not in options:
        if "step_ends" in accepted and rollout.step_ends is not None:
            options["step_ends"] = rollout.step_ends
        elif "step_ends" in accepted and getattr(task, "delimiter", ""):
            options["step_ends"] = step_ends_from_text(rollout.response_ids, policy, task.delimiter,
                                                       rollout.response_mask, padding_side="right")  # a rollout's
        elif "delimiter" in accepted:
            options["delimiter"] = policy.encode(task.delimiter)
        if "step_ends" in options and hasattr(spec, "name"):
            warn_if_no_steps(spec.name, options["step_ends"], rollout.response_mask,
                             source=f"the task's step delimiter {task.delimiter!r}" if getattr(task, "delimiter", "")
                             else "the sampler", fix=delimiter_fix(task), shown=shown,
                             sample=None if policy is None else
                             lambda: first_response_text(rollout.response_ids, policy, rollout.response_mask))
    if getattr(rollout, "tree_nodes", None) is not None:
        warn_if_tree_did_not_branch(rollout, task, branching, shown)
    options.update(user_options)
    return options


def warn_if_tree_did_not_branch(rollout, task, branching: str = "fixed", shown: set | None = None) -> bool:
    """Warn (``UserWarning``) when no two rows of any group share a token of ``rollout.tree_nodes`` ``(B, T)``:
    the tree sampler grew separate chains (the fixed and adaptive strategies fork at step ends, so responses
    that never write ``task``'s delimiter do not fork), and a tree estimator then sees no more than i.i.d.
    groups. The advice depends on ``branching`` (the strategy) and on whether the task takes a delimiter.
    ``shown``: the warnings a run gave already (this one is added; given again, it is not repeated)."""
    import warnings

    from treecredit.tasks import delimiter_fix, tree_branch_fixes
    from treecredit.trees.explicit import tree_branched

    if tree_branched(rollout.tree_nodes, rollout.response_mask):
        return False
    delimiter = getattr(task, "delimiter", "")
    where = {"fixed": f"at step ends (the task's delimiter {delimiter!r})",
             "adaptive": f"at step ends (the task's delimiter {delimiter!r}) and at the prompt",
             "entropy": "at the tokens of highest entropy"}.get(branching, "where its strategy says")
    limits = (getattr(rollout, "extras", None) or {}).get("branching_limits") or []
    if limits:  # the user's own options keep the trees from branching: that is the cause, not the warm start
        flags = " and ".join(f"--branching-option {limit}" for limit in limits)
        fixes = [f"raise or drop {'them' if len(limits) > 1 else 'it'} (docs/sampling.md lists the defaults)"]
    else:
        fixes = tree_branch_fixes(branching, delimiter_fix(task),
                                  "pass --branching-option every=K to fork every K tokens (or fallback_every=K)")
    text = (f"--sampler tree: no two responses of any group share a tree node in this batch (responses that start "
            f"alike were sampled apart, not forked), so the trees did not branch (the {branching!r} strategy forks "
            f"{where}" + (f"; your {flags} keeps them from forking" if limits else "") +
            f"). To fix: {'; or '.join(fixes)}.")
    if shown is not None and text in shown:
        return True
    if shown is not None:
        shown.add(text)
    warnings.warn(text + (" (shown once per run)" if shown is not None else ""), UserWarning, stacklevel=2)
    return True


class Restart(NamedTuple):
    """How a run stopped mid-run is continued or started again, in the terms of the command that ran it."""

    kept: str
    """After "the run is kept as of its last checkpoint, step N: " (a checkpoint was saved)."""
    anew: str
    """After "no checkpoint was saved yet: "."""


TRAIN_RESTART = Restart(
    kept="--resume continues it only with the same settings, so a fix that changes them needs a new run "
         "(--overwrite or another --out)",
    anew="start the run again with the fix (--overwrite or another --out)")
"""``treecredit train``'s words for continuing a stopped run (its own ``--resume``, ``--overwrite``, ``--out``)."""


class StoppedMidRun(ValueError):
    """An estimator's refusal of data that only one step showed (``argument: problem. Fix: ...``, as ``rest``
    after the argument), with where the run stopped (``where``: ``"at step 4"``), its last checkpoint
    (``saved_step``; 0: none yet) and how to go on (``restart``). :meth:`restarted` words it for another
    command (``treecredit compare``) without reading the text back."""

    def __init__(self, argument: str, where: str, rest: str, saved_step: int, restart: Restart = TRAIN_RESTART):
        self.argument, self.where, self.rest, self.saved_step, self.restart = argument, where, rest, saved_step, restart
        if saved_step > 0:
            kept = f"the run is kept as of its last checkpoint, step {saved_step}: {restart.kept}"
        else:
            kept = f"no checkpoint was saved yet: {restart.anew}"
        where = f"{where} ({kept})"
        super().__init__(f"{argument}: {where}: {rest}" if argument else f"{where}: {rest}")

    def headline(self) -> str:
        """``argument: where`` (``rewards: at step 4``), for a one-line summary (``treecredit compare``'s failed
        runs)."""
        return f"{self.argument}: {self.where}" if self.argument else self.where

    def restarted(self, restart: Restart) -> StoppedMidRun:
        """The same refusal, with ``restart``'s words for going on."""
        return StoppedMidRun(self.argument, self.where, self.rest, self.saved_step, restart)

    def __reduce__(self):  # picklable across processes, with its parts
        return StoppedMidRun, (self.argument, self.where, self.rest, self.saved_step, self.restart)


def failed_at_step(error: ValueError, step: int, saved_step: int, estimator: str = "", at: str = "",
                   restart: Restart = TRAIN_RESTART) -> StoppedMidRun:
    """``error`` (``"argument: problem. Fix: ..."``) with the step it happened at and what is kept: a run stopped
    by bad data mid-run (a reward outside the range an estimator needs) says where it stopped, that its last
    checkpoint (``saved_step``; 0: none yet) is intact, and that a fix changing the settings needs a new run
    (``restart``: in ``treecredit train``'s words unless given; :meth:`StoppedMidRun.restarted` changes them).
    With ``estimator`` (the run's), the fix of an estimator's :class:`~treecredit._validation.FixError` is given in
    the command line's form only (:func:`~treecredit.training.reward_range.command_line_fix`), as the same refusal
    before work is. ``at``:
    where it happened in words, instead of ``at step {step}``."""
    from treecredit._validation import FixError

    message = str(error)
    if estimator and isinstance(error, FixError):
        from treecredit.training.reward_range import command_line_fix

        message = error.said(command_line_fix(estimator, error))  # no Fix: when an own estimator's gave none
    argument, sep, rest = message.partition(": ")
    return StoppedMidRun(argument if sep else "", at or f"at step {step}", rest if sep else message, saved_step,
                         restart)


@contextlib.contextmanager
def groups_of_one_named(config):
    """Within it, the estimator API's warning that no group has two responses (its fix: "give all responses of
    one prompt the same group id", which a run cannot act on) is said in a run's terms: the trainer groups
    every prompt's responses, so a batch of groups of one means the tree sampler's ``--cutoff`` pruned every
    group down to one leaf, and the step trains nothing."""
    import warnings

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        yield
    for warning in caught:
        text = str(warning.message)
        if text.startswith("group_ids: no group has two"):
            text = (f"cutoff: --cutoff {config.cutoff} pruned every group of this step down to one response, so "
                    "every group-relative advantage is 0 and the step trains nothing (tree_cut_branches in "
                    "metrics.jsonl counts the pruned branches). Fix: --cutoff sound (prunes only where a wrong step "
                    "is fatal), a larger --group-size, or --cutoff off")
        warnings.warn(text, warning.category, stacklevel=3)


def estimator_range_error(config, task, low: float, high: float) -> ValueError | None:
    """The error the run's estimator raises on the pre-flight's tiny batch
    (:func:`treecredit.training.dry_run.synthetic_rollout`) scored with rewards from ``low`` to ``high``, or None
    when they lie in [0, 1] (the widest range an estimator needs, with TreeRPO's slack) or the estimator takes
    them. Warnings about the made-up batch are silenced (they would mislead)."""
    import warnings

    from treecredit.methods.treerpo import BERNOULLI_SLACK
    from treecredit.training.dry_run import run_estimator, synthetic_rollout

    if -BERNOULLI_SLACK <= low and high <= 1 + BERNOULLI_SLACK:
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            run_estimator(config, synthetic_rollout(config), task, [high, low, low, high])
    except ValueError as error:
        return error
    return None


def check_eval_rewards_in_range(config, task, low: float, high: float) -> None:
    """Refuse, at the held-out evaluation before the first step, scored rewards from ``low`` to ``high`` that leave
    the range the run's estimator needs, with the estimator's own error as the first step would raise it
    (:func:`estimator_range_error`): the run would otherwise sample its first step before stopping with it.
    Rewards the estimator accepts, or an estimator that fails on the tiny batch for another reason (another
    check's business): nothing."""
    from treecredit._validation import FixError

    error = estimator_range_error(config, task, low, high)
    if error is not None:
        refusal = FixError.of(error)  # an own estimator's plain ValueError too
        if refusal.argument == "rewards":
            raise failed_at_step(refusal, 1, 0, config.estimator, at="at the held-out evaluation before step 1") \
                from None
