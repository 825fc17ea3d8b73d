"""A comparison's checks before any work, in the arms' terms: each refusal names the arm (and the seed) it was
checked in, or says the setting is global, with a branching fix in the arms' form (:func:`in_arm`); a budget too
small for an arm's own step size names the arm's own ``[KEY=VALUE]`` (:func:`check_arm_budget`). Used by
:func:`treecredit.training.compare.run_comparison`.
"""

from __future__ import annotations

from typing import NamedTuple

from treecredit._validation import FixError, Remedy, split_fix

STEP_SIZE_FLAGS = {"prompts_per_step": "--prompts-per-step", "group_size": "--group-size",
                   "max_new_tokens": "--max-new-tokens"}
"""The settings whose product bounds one step's generated tokens, and their command-line flags."""

PER_ARM_FIXES = {"mc_rollouts": "give it only to the arms whose estimator reads Monte Carlo values, in the arm's "
                                "brackets (e.g. --estimators grpo@tree,vine@tree[mc_rollouts=2]), not as --mc-rollouts"}
"""The fix for a global setting that some arms cannot use, in the arms' own syntax."""


class ArmCheck(NamedTuple):
    """Where a check runs: the arm's ``label`` as written in ``--estimators``, its ``estimator``, and the
    ``seed`` of one of its runs (None: a check of the arm as a whole)."""

    label: str
    estimator: str
    seed: int | None = None

    def __str__(self) -> str:
        return f"arm {self.label!r}" + (f", seed {self.seed}" if self.seed is not None else "")


def check_arm_budget(label: str, config, budget: int) -> None:
    """:func:`~treecredit.training.budget.check_budget_fits` for arm ``label`` (``config``: its ``TrainConfig``),
    whose fix names the arm's own ``[KEY=VALUE]`` for a step size the arm sets itself (``grpo[group_size=27]``):
    a lower ``--group-size`` would not change that arm. Raises ``ValueError`` (``budget: ...``)."""
    from treecredit.training.arms import parse_arm
    from treecredit.training.budget import check_budget_fits, most_tokens_of_a_first_turn

    own = {key: value for key, value in parse_arm(label).options.items() if key in STEP_SIZE_FLAGS}
    try:
        check_budget_fits(config, budget)
    except ValueError as exc:
        if not own:
            raise
        problem = split_fix(str(exc))[0]
        others = [flag for key, flag in STEP_SIZE_FLAGS.items() if key not in own]
        mine = ",".join(f"{key}={value}" for key, value in own.items())
        raise ValueError(f"{problem}. Fix: pass --budget {most_tokens_of_a_first_turn(config)} or more, or lower "
                         f"the arm's own [{mine}] in its spec {label!r} (--estimators)"
                         + (f", or pass fewer {' or '.join(others)}" if others else "") + ".") from None


def in_arm(where: ArmCheck, check, *args, shared: frozenset = frozenset(), **kwargs):
    """``check(*args, **kwargs)`` (returned); its ``ValueError`` names ``where`` (the arm, and the seed) after the
    argument, or says the setting is global when the argument is one of ``shared`` (the fields every arm has
    alike, :func:`shared_fields`: a bad ``--reward`` is no fault of the first arm it was checked in). A fix that
    sets the branching (a :class:`~treecredit._validation.FixError`'s remedy, the error or its cause) is given
    in the arms' form (``ESTIMATOR@tree:NAME``), not train's ``--branching NAME``: an arm's own branching
    overrides the flag."""
    try:
        return check(*args, **kwargs)
    except ValueError as exc:
        argument, _, rest = str(exc).partition(": ")
        named = "a global setting, the same in every arm" if argument in shared else str(where)
        fix = None
        if argument in shared and argument in PER_ARM_FIXES:  # the train fix (drop the flag) would drop it everywhere
            fix = PER_ARM_FIXES[argument]
        if argument == "estimator" and fix is None:  # train's --sampler tree would change every arm
            fix = _tree_arm_fix(where.label, split_fix(rest)[1] or "")
        refusal = _branching_refusal(exc)
        if refusal is not None:
            def in_arms(remedy: Remedy) -> str | None:
                branching = dict(remedy.settings).get("branching")
                return None if branching is None else \
                    f"the arms' branching {branching} (e.g. --estimators {where.estimator}@tree:{branching})"

            fix = refusal.fix("cli", in_arms)
        if fix is not None:  # said with that fix (a plain ValueError's parts read from its standard shape)
            raise ValueError(FixError.of(exc).said(fix, argument=f"{argument} ({named})")) from None
        raise ValueError(f"{argument} ({named}): {rest}") from None


TREE_ARM_FIXES = {"pass --sampler tree --mc-rollouts K": ({"mc_rollouts": "K"}, "K ≥ 1 Monte Carlo rollouts per "
                                                         "step end; --sampler tree and --mc-rollouts would change "
                                                         "every arm"),
                  "pass --sampler tree (": ({}, "the sampled tree gives the tree estimators their structure; "
                                              "--sampler tree would change every arm")}
"""Train's fixes for an estimator's missing input (preflight's) that set global flags, by their start: the arm's
own options and why, for :func:`_tree_arm_fix`."""


def _tree_arm_fix(label: str, fix: str) -> str | None:
    """The arm's form of train's fix ``fix`` for an estimator's missing input (``pass --sampler tree --mc-rollouts
    K``: the arm ``vine@tree[mc_rollouts=K]``, keeping its own options and branching); None for another fix.
    trial42 3: compare said train's global flags, which would also turn the other arms to trees."""
    from treecredit.training.arms import _split_top, parse_arm

    found = next(((options, why) for start, (options, why) in TREE_ARM_FIXES.items() if fix.startswith(start)), None)
    if found is None:
        return None
    options, why = found
    arm = parse_arm(label)
    typed = _split_top(label[label.index("[") + 1:label.rindex("]")], "estimators") if arm.options else []
    pairs = [pair.strip() for pair in typed if pair.strip() and pair.partition("=")[0].strip() not in options]
    pairs += [f"{key}={value}" for key, value in options.items()]
    branching = f":{arm.branching}" if arm.branching else ""
    tree = f"{arm.estimator}@tree{branching}" + (f"[{','.join(pairs)}]" if pairs else "")
    return f"write the arm as {tree} in --estimators ({why})"


def _branching_refusal(error: BaseException | None) -> FixError | None:
    """The :class:`~treecredit._validation.FixError` whose remedies set ``branching``: ``error`` or what it was
    raised from (a sampler's, re-raised naming its ``--sampler-option``); None when there is none."""
    while error is not None:
        if isinstance(error, FixError) and any(name == "branching" for name, _ in error.settings):
            return error
        error = error.__cause__
    return None


def shared_fields(configs: dict) -> frozenset:
    """The ``TrainConfig`` fields (per-run ones excepted) that every arm's config (``configs``: by label) has
    alike."""
    from dataclasses import fields

    from treecredit.training.arms import PER_RUN
    from treecredit.training.config import TrainConfig

    return frozenset(f.name for f in fields(TrainConfig) if f.name not in PER_RUN
                     and len({repr(getattr(c, f.name)) for c in configs.values()}) == 1)
