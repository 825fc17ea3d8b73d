"""Run the run's estimator once on a tiny synthetic batch before any work, so that a bad option value fails
at once (not after the warm start and the first evaluation, with a run folder already written).

The registry checks option names and the kind of each value (:func:`treecredit.training.preflight.
check_option_values`); value ranges (``scale=bogus``, ``epsilon=-1``) and array options are checked by the
estimator itself when it runs. :func:`check_estimator_options` calls it, exactly as the training loop
does, on 2 groups × 2 responses × 6 tokens that carry what the run will give it: step ends, a sampled
tree (``--sampler tree``), Monte Carlo values (``mc_rollouts``), or, for agent runs (``--env``), the
turn arrays of 4 episodes of 2 turns. A failure becomes one ``ValueError`` naming
``--estimator-option NAME=VALUE`` and the fix. Nothing is run when no estimator option is given: the
estimators' defaults are tested for every estimator.
"""

from __future__ import annotations

import json
import warnings

from treecredit._validation import fail, split_fix

_IDS = [[1, 2, 3, 4, 5, 6], [1, 2, 3, 7, 8, 9], [1, 2, 3, 4, 5, 6], [1, 2, 3, 7, 8, 0]]
_NODES = [[0, 0, 0, 1, 1, 1], [0, 0, 0, 2, 2, 2], [3, 3, 3, 4, 4, 4], [3, 3, 3, 5, 5, -1]]  # two forks at 3
_TURN_IDS = [[0, 0, 0, 1, 1, 1], [2, 2, 2, 3, 3, 3], [4, 4, 4, 5, 5, 5], [6, 6, 6, 7, 7, -1]]


def synthetic_rollout(config):
    """A :class:`~treecredit.sampling.rollout.RolloutBatch` of 4 rows (2 groups × 2) of up to 6 tokens,
    with step ends (positions 2 and the last token), and the tree / Monte Carlo values ``config``'s sampler
    would give; the last row is one token shorter (right padding)."""
    import torch

    from treecredit.sampling.rollout import RolloutBatch

    ids = torch.tensor(_IDS)
    mask = ids != 0
    step_ends = torch.zeros_like(mask)
    step_ends[:, 2] = True
    step_ends[torch.arange(4), mask.sum(1) - 1] = True
    tree = config.sampler == "tree" and not config.env
    mc = tree and {**config.tree_sampler_options(), **config.sampler_options}.get("mc_rollouts")
    return RolloutBatch(response_ids=ids, response_mask=mask, rewards=torch.tensor([1.0, 0.0, 0.0, 1.0]),
                        group_ids=torch.tensor([0, 0, 1, 1]), old_logprobs=torch.zeros(4, 6),
                        prompt_ids=[[1]] * 4, prompt_texts=["p"] * 4, response_texts=["r"] * 4,
                        problem_index=torch.tensor([0, 0, 1, 1]), step_ends=step_ends,
                        tree_nodes=torch.tensor(_NODES) if tree else None,
                        mc_values=torch.full((4, 6), 0.5) * mask if mc else None, generated_tokens=18)


def _agent_batch(rollout):
    import numpy as np
    import torch

    from treecredit.agents.batch import AgentBatch

    turns = {"group_ids": np.repeat([0, 1], 4), "episode_ids": np.repeat([0, 1, 2, 3], 2),
             "turn_index": np.tile([0, 1], 4), "state_sigs": np.array(["a", "b", "a", "c"] * 2),
             "action_sigs": np.array(["x", "y", "z", "y"] * 2), "rewards": np.array([0, 1, 0, 0] * 2, float)}
    return AgentBatch(rollout=rollout, token_turn_ids=torch.tensor(_TURN_IDS), turns=turns, episodes=[])


def run_estimator(config, rollout, task=None, rewards: list[float] | None = None) -> None:
    """Run ``config.estimator`` with ``config.estimator_options`` on ``rollout`` (its rewards replaced by
    ``rewards`` when given) as the training loop does: task runs with the options the loop adds, given ``task``;
    agent runs (``--env``) as :func:`treecredit.agents.agent_advantages` on :func:`synthetic_rollout`'s 4
    episodes. Raises what the estimator raises."""
    import treecredit

    if rewards is not None:
        import dataclasses

        import torch

        rollout = dataclasses.replace(rollout, rewards=torch.tensor(rewards))
    if config.env:
        from treecredit.agents import agent_advantages

        agent_advantages(config.estimator, _agent_batch(rollout), config.estimator_options)
        return
    from treecredit.training.estimator_inputs import estimator_options

    spec = treecredit.get_estimator(config.estimator)
    options = estimator_options(spec, rollout, None, task, config.estimator_options)
    treecredit.compute_advantages(config.estimator, **rollout.estimator_inputs(), **options)


def check_estimator_options(config, task=None, arm: tuple[str, set] | None = None) -> bool:
    """Run ``config.estimator`` with ``config.estimator_options`` on :func:`synthetic_rollout` (task runs:
    with the options the training loop adds, given ``task``; agent runs: as
    :func:`treecredit.agents.agent_advantages`); raise ``ValueError`` naming the refused option. Returns whether
    it ran (only when options are given): then the batch with its own rewards passed, and
    :func:`~treecredit.training.reward_range.needs_unit_rewards` need not run it again (``inside_passed``).

    ``arm``: ``(label, names)`` for an arm of ``treecredit compare``: the error names the arm as written, and
    an option of ``names`` (set in the arm's ``[...]``) is fixed in the arm's syntax, not as a flag."""
    if not config.estimator_options:
        return False
    try:
        with warnings.catch_warnings():  # warnings about this made-up batch would mislead
            warnings.simplefilter("ignore")
            run_estimator(config, synthetic_rollout(config), task)
    except Exception as exc:  # noqa: BLE001 — any failure of the estimator here would stop the run later
        _refuse(config, exc, task, arm)
    return True


def _shown(value) -> str:
    """``value`` as typed after ``NAME=`` (JSON, except plain words)."""
    return value if isinstance(value, str) and value.isprintable() and " " not in value else json.dumps(value)


def _refuse(config, exc: Exception, task=None, arm: tuple[str, set] | None = None):
    from treecredit.tasks import delimiter_text_fix

    problem, fix = split_fix(str(exc).strip())
    name, sep, rest = problem.partition(": ")
    where = "checked on a small test batch before any work"
    argument = "estimator_options" if arm is None else f"arm {arm[0]!r}"
    if sep and name in config.estimator_options:
        shown = f"{name}={_shown(config.estimator_options[name])}"
        flag, how = f"--estimator-option {shown}", f"as --estimator-option {name}=VALUE"
        if arm is not None:
            from treecredit.training.arms import arm_with_option

            written = arm_with_option(arm[0], name)
            flag, how = (f"option {shown}", f"in the arm: {written}") if name in arm[1] else \
                (flag, f"{how}, or for this arm alone {written}")
        fix = f"{fix or 'pass another value'} ({how})"
        if name == "delimiter" and isinstance(config.estimator_options[name], str):  # text, not token ids
            fix = "give the delimiter as token ids, --estimator-option delimiter=[ID, ...]" + delimiter_text_fix(task)
        fail(argument, f"{flag}: estimator {config.estimator!r} refuses it ({name} {rest}; {where})", fix)
    given = " ".join(f"--estimator-option {k}={_shown(v)}" for k, v in config.estimator_options.items())
    if arm is not None:
        given = f"the options {', '.join(f'{k}={_shown(v)}' for k, v in config.estimator_options.items())}"
    fail(argument, f"estimator {config.estimator!r} fails with {given} ({type(exc).__name__}: "
         f"{problem}; {where})", fix or "change or drop these options (see the estimator's docstring)")
