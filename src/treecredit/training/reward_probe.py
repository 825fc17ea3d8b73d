"""The reward functions of a task run tried before any work (:func:`check_rewards`, one step of
:func:`treecredit.training.preflight.check_run`): on the worked solutions of :data:`PROBE_PROBLEMS` training
problems, so that a function that returns no list, the wrong number of values or raises on every solution is
refused naming it before the model is loaded, and one that applies to none of them is warned about."""

from __future__ import annotations

from treecredit._validation import split_fix

PROBE_PROBLEMS = 2
"""Problems whose worked solutions the reward functions are tried on before any work."""


def check_rewards(task) -> list | None:
    """Call a task's reward functions (``--reward``, a dataset's) once on the worked solutions of
    :data:`PROBE_PROBLEMS` problems, so that a function returning a wrong number of values (or no list: a
    bare None is a missing ``return``), or raising on every solution, is refused naming it now, not after the
    model is loaded and the first rollout sampled (:meth:`treecredit.rewards.RewardSet.probing`); when every
    function returned None for every (non-empty) solution, a warning says so. Returns the solutions' weighted
    rewards (None where they failed), for :func:`~treecredit.training.reward_range.check_reward_range`; tasks without
    reward functions: nothing probed, None."""
    reward_set, rewards_of = getattr(task, "_reward_set", None), getattr(task, "rewards_of", None)
    if reward_set is None or not callable(rewards_of):
        return None
    import numpy as np

    problems = task.generate(np.random.default_rng(0), PROBE_PROBLEMS)
    solutions = [p.solution for p in problems]
    worked = all(s.strip() for s in solutions)
    try:
        with reward_set.probing(len(solutions), solutions=worked, answers_checked=answers_checked(task)):
            values = list(rewards_of(problems, solutions))
    except ValueError as exc:
        problem, fix = split_fix(str(exc))
        probed = (f"on the worked solutions of {len(problems)} training problems before any work" if worked else
                  f"before any work on empty completions of {len(problems)} training problems, which have no "
                  "worked solutions" if not any(s.strip() for s in solutions) else
                  f"on the worked solutions of {len(problems)} training problems before any work, empty where a "
                  "problem has none")
        raise ValueError(f"{problem} (checked {probed}). Fix: {fix}.") from None
    if solutions and worked and all(v is None for v in values) \
            and not reward_set.probe_failures:
        _warn_none_applies(reward_set.names, len(values))
    from treecredit.rewards.code import code_reward

    coded = any(getattr(f, "func", f) is code_reward for _, f, _ in reward_set.items)
    # only the problems that have a worked solution: an empty completion (no solution column) fails every test
    scored = [v for v, s in zip(values, solutions) if s.strip()]
    if coded and scored and all(v == 0 for v in scored):
        import warnings

        warnings.warn(f"every worked solution ({len(scored)} probed) scores 0 under --reward code: their programs "
                      "fail the tests, so right answers may score 0 too; check the test and entry_point columns by "
                      "calling code_reward(prompts=[...], completions=[...], test=[...], entry_point=[...])",
                      stacklevel=2)
    return values


def answers_checked(task) -> bool:
    """Whether ``task`` checked the answers of all its rows before any work (its ``answers_checked`` attribute;
    a :class:`~treecredit.tasks.dataset.DatasetTask` does, in its constructor, with
    :func:`~treecredit.rewards.numeric.check_dataset_answers`): the probe then does not refuse the unreadable
    answers of the rows it draws, which that check refused or only warned about for the dataset as a whole."""
    checked = getattr(task, "answers_checked", None)
    if checked is not None:
        return bool(checked)
    from treecredit.tasks.dataset import DatasetTask

    return isinstance(task, DatasetTask)


def _warn_none_applies(names: list[str], n: int) -> None:
    """Every reward function returned None ("does not apply", TRL's convention) for each of ``n`` worked
    solutions: a run whose completions get None too trains on nothing, and its first RL step is refused
    (:class:`~treecredit.rewards.failed.AllFailedWatch`); warned now, before any work, not refused: a
    function that applies only to the model's own format (not the solutions') still trains."""
    import warnings

    warnings.warn(f"reward: every reward function ({', '.join(names)}) returned None (does not apply) for each of "
                  f"the {n} worked solutions probed before any work: if none applies to the model's completions "
                  "either, the first RL step is refused (every reward failed). Check that a right answer gets a "
                  "number (call the function by hand on a worked solution)", stacklevel=3)
