"""Rewards against the range an estimator needs, checked before any work.

TreeRPO's default ``scale="bernoulli"`` divides by μ(1 − μ), a Bernoulli variance, and refuses rewards
outside [0, 1]. Weighted ``--reward`` functions add up (``--reward math --reward my:fmt@0.2`` can reach
1.2), so without this check such a run stops at the first step whose rewards leave [0, 1], possibly
hours in, and a resume cannot change the estimator's options. :func:`check_reward_range` refuses it at the
start, in two ways:

1. by construction: the weights put the combined reward's range, [Σ min(w, 0), Σ max(w, 0)], outside
   [0, 1], each function taken as giving values in [0, 1] (or None): the built-ins ``math``, ``exact``,
   ``numeric``, ``code`` and a task's own verifier ``task`` do, and a function of the user's, whose range
   is unknown, is counted the same (as the TRL integration counts its ``reward_funcs``), so two own 0/1
   functions with weight 1 each are refused;
2. on the worked solutions that pre-flight scores anyway (:func:`treecredit.training.preflight.check_rewards`):
   one of them scores outside [0, 1] (a function of the user's that gives more than 1, caught in the act).

Which estimators need [0, 1] is not listed here: :func:`needs_unit_rewards` asks the estimator itself, by
running it (with the run's options) on the pre-flight's tiny synthetic batch
(:func:`treecredit.training.dry_run.synthetic_rollout`) with rewards inside and outside [0, 1]; one that
accepts the first and refuses the others with a ``rewards:`` error needs [0, 1] (:func:`unit_rewards_refusal`,
the probe TreeCreditGRPOTrainer runs too, on its own test batch). Its own ``Fix:`` (the
options that lift the need, e.g. ``--estimator-option scale=std``) goes into the refusal, in the command
line's form. Rewards of a
user's function that gives more than 1 only later (not on the worked solutions) still stop the run then,
with the estimator's message.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterable

from treecredit._validation import FixError, fail

UNIT = (0.0, 1.0)
"""The range checked: what a Bernoulli-scaled estimator (TreeRPO's ``scale="bernoulli"``) accepts."""
INSIDE = (1.0, 0.0, 0.0, 1.0)  # the test batch's own rewards (treecredit.training.dry_run.synthetic_rollout)
_OUTSIDE = ([1.5, 0.0, 0.0, 1.0], [-0.5, 0.0, 0.0, 1.0])  # one reward above, one below [0, 1]


def unit_rewards_refusal(run: Callable[[list[float]], object], *, inside_passed: bool = False) -> FixError | None:
    """The estimator's refusal (:class:`~treecredit._validation.FixError`: its fix's parts, e.g. TreeRPO's
    ``scale='std'``) when it refuses rewards outside [0, 1] with a ``rewards:`` error while it accepts rewards
    inside (as TreeRPO's ``scale="bernoulli"``); None when it accepts both, or fails either way (another check's
    business). An own estimator's plain ``ValueError("rewards: ... Fix: ...")`` counts too, its fix as one part
    ("pass rewards in [0, 1]" when it has none).

    The one probe behind both hosts' range checks: ``run(rewards)`` runs the estimator, with the host's options
    and inputs, on a 4-completion test batch whose rewards are ``rewards`` (raising what it raises): the CLI's
    :func:`needs_unit_rewards` and TreeCreditGRPOTrainer's
    (:func:`treecredit.integrations._trl_checks.check_reward_range`). ``inside_passed``: the caller already ran
    that batch with the rewards [1, 0, 0, 1] (its option check), so it is not run again."""
    def refusal(rewards: list[float]) -> Exception | None:
        try:
            with warnings.catch_warnings():  # warnings about this made-up batch would mislead
                warnings.simplefilter("ignore")
                run(rewards)
        except Exception as exc:  # noqa: BLE001 — any failure: see below
            return exc
        return None

    if not inside_passed and refusal(list(INSIDE)) is not None:
        return None
    for rewards in _OUTSIDE:
        error = refusal(list(rewards))
        said = FixError.of(error, "pass rewards in [0, 1]") if error is not None else None
        if said is not None and said.argument == "rewards":  # an own estimator's ValueError too
            return said
    return None


def needs_unit_rewards(config, task=None, *, inside_passed: bool = False) -> FixError | None:
    """The estimator's refusal (:func:`unit_rewards_refusal`: its fix's parts) when ``config``'s estimator, with
    its options, refuses rewards outside [0, 1] (and accepts them inside); None when it accepts both, or fails
    either way (another check's business). Task runs and agent runs (``--env``: the episodes' returns) alike, on
    the pre-flight's tiny batch (:func:`treecredit.training.dry_run.run_estimator`). ``inside_passed``: the
    option check (:func:`~treecredit.training.dry_run.check_estimator_options`) ran that batch already."""
    from treecredit.training.dry_run import run_estimator, synthetic_rollout

    rollout = synthetic_rollout(config)
    return unit_rewards_refusal(lambda rewards: run_estimator(config, rollout, task, rewards),
                                inside_passed=inside_passed)


def env_rewards_leave_unit_range(config) -> str | None:
    """Why the episode returns of ``config``'s env can leave [0, 1], when its settings say so (a negative
    ``invalid_penalty``, or a class attribute ``negative_rewards`` saying what is negative, as CliffWalking's
    move cost); None when nothing says so (an own env's range is not known before it plays). Reads the env's
    class and options without building it."""
    from treecredit.envs import env_class, env_option_values, env_options

    options = {**env_options(config.env), **env_option_values(config.env, config.env_options)}
    penalty = options.get("invalid_penalty", 0.0)
    if isinstance(penalty, (int, float)) and penalty < 0:
        return f"its invalid_penalty is {penalty:g}, the reward of a turn with an invalid action"
    klass = env_class(config.env)
    if getattr(klass, "negative_rewards", False):
        return f"{klass.__name__} declares returns outside [0, 1] (negative_rewards = {klass.negative_rewards!r})"
    return None


def check_env_reward_range(config, arm: str | None = None) -> None:
    """Refuse, before any work, an agent run whose token-level estimator (with its options: ``config``'s, an
    arm's included) needs episode returns in [0, 1] (:func:`unit_rewards_refusal`, e.g. ``treerpo``'s
    ``scale=bernoulli``) on an env whose settings make returns leave it (:func:`env_rewards_leave_unit_range`):
    the run would stop at the first such episode, mid-run. ``arm``: a compare arm as written, named in the
    error."""
    import treecredit

    if config.estimator not in treecredit.estimators("token") or config.estimator in treecredit.estimators("turn"):
        return
    why = env_rewards_leave_unit_range(config)
    if why is None:
        return
    refusal = needs_unit_rewards(config)
    if refusal is not None:
        name = f"arm {arm!r}" if arm else "estimator"
        fail(name, f"{config.estimator!r} needs episode returns in [0, 1], and env {config.env!r} can give "
             f"returns outside it: {why}", env_range_fix(config.estimator, refusal))


def range_refusal(error: BaseException) -> FixError | None:
    """``error`` as a :class:`~treecredit._validation.FixError` when an estimator refused rewards outside [0, 1]
    with it, for every host to word its fix alike (the CLI, TRL, verl, agent runs): TreeRPO's
    :class:`~treecredit._validation.OutOfRange` of ``rewards``, or an own estimator's plain
    ``ValueError("rewards: ... [0, 1] ... Fix: ...")`` (its fix as written, as one part: an own estimator raises
    ``OutOfRange`` with :class:`~treecredit._validation.Remedy` settings to have each host write its options in
    its own terms). None for any other error."""
    from treecredit._validation import OutOfRange

    if not isinstance(error, ValueError):
        return None
    said = FixError.of(error)
    if said.argument != "rewards":
        return None
    if isinstance(said, OutOfRange):
        return said if said.allowed == (0.0, 1.0) else None
    return said if "[0, 1]" in said.problem and said.fix("python") else None


def env_range_fix(estimator: str, refusal: FixError) -> str:
    """The fix for an agent run whose ``estimator`` refuses episode returns outside [0, 1] (``refusal``, as
    :func:`unit_rewards_refusal` gives it), before any work (:func:`check_env_reward_range`) or mid-run
    (:func:`treecredit.agents.credit.returns_refused`): the estimator's options that lift the need, in the
    command line's form (:func:`option_fix`), env settings, or a turn-level estimator; not its fix about
    ``--reward`` weights, which an env run has none of."""
    option = option_fix(estimator, refusal) or refusal.fix("cli")
    return (f"{option + ', or ' if option else ''}env settings whose rewards stay in [0, 1], or a turn-level estimator "
            "(e.g. --estimator rtmc)")


def weighted_range(terms: Iterable[tuple[float, tuple[float, float]]]) -> tuple[float, float]:
    """The range of Σ_f w_f · r_f over ``terms`` ``(w_f, (low_f, high_f))``, r_f ranging over [low_f, high_f]
    or missing (a function may return None, left out of the sum), so each term ranges over its range and 0.
    With every range [0, 1]: [Σ min(w_f, 0), Σ max(w_f, 0)]."""
    low = high = 0.0
    for weight, (lo, hi) in terms:
        values = (0.0, weight * lo, weight * hi)
        low, high = low + min(values), high + max(values)
    return low, high


def _known_range(fn) -> tuple[float, float] | None:
    """[0, 1] for a built-in reward (options bound or not) and a task's own verifier; None when unknown (a
    function of the user's)."""
    from treecredit.rewards.builtin import BUILTIN_REWARDS
    from treecredit.tasks.rewarded import RewardedTask

    inner = getattr(fn, "func", fn)  # functools.partial: options bound
    if any(inner is f for f in BUILTIN_REWARDS.values()):
        return UNIT
    if getattr(inner, "__func__", None) is RewardedTask._own_reward:
        return UNIT
    return None


def combined_range(items) -> tuple[float, float]:
    """The range of Σ_f w_f · r_f over ``items`` (``(name, fn, weight)`` of a
    :class:`~treecredit.rewards.RewardSet`, :func:`weighted_range`), a function of unknown range taken as
    giving [0, 1] (TRL's convention for reward functions; the worked solutions' probe catches one that gives
    more)."""
    return weighted_range((weight, _known_range(fn) or UNIT) for _, fn, weight in items)


def _name(name: str, fn) -> str:
    from treecredit.tasks.rewarded import TASK_REWARD, RewardedTask

    return TASK_REWARD if getattr(getattr(fn, "func", fn), "__func__", None) is RewardedTask._own_reward else name


def _written(items) -> str:
    return " ".join(f"--reward {_name(name, fn)}" + (f"@{weight:g}" if weight != 1 else "")
                    for name, fn, weight in items)


def _weights_example(items, seen: list[float] | None = None) -> str:
    """The same proportions with weights summing to 1 (when none is negative); with ``seen`` (rewards of
    functions whose range is unknown, some outside [0, 1]), the weights scaled so that the largest seen
    reward becomes 1, since scaling weights that already sum to 1 would change nothing."""
    if any(weight < 0 for _, _, weight in items):
        return "the --reward weights must then be ≥ 0, summing to at most 1"
    if seen:
        if min(seen) < 0:
            return "the reward functions must then give rewards ≥ 0 (a weight cannot lift a negative reward)"
        scale = 1.0 / max(seen)
        return "e.g. " + " ".join(f"--reward {_name(name, fn)}@{weight * scale:.3g}" for name, fn, weight in items) \
            + f" (the worked solutions' rewards reach {_fmt(max(seen))})"
    total = sum(weight for _, _, weight in items)
    return "e.g. " + " ".join(f"--reward {_name(name, fn)}@{weight / total:.3g}" for name, fn, weight in items)


def _fmt(value: float) -> str:
    return f"{value:.6g}"


def check_reward_range(config, task, probed: list | None = None, *, inside_passed: bool = False) -> None:
    """Refuse (``ValueError`` naming ``estimator``: in ``treecredit compare`` the arm) a run whose estimator
    needs rewards in [0, 1] (:func:`needs_unit_rewards`) when ``task``'s weighted reward functions can leave
    [0, 1] by construction (:func:`combined_range`: each function, the user's too, giving 0 to 1), or when
    one of ``probed`` (the rewards of the worked solutions pre-flight scored, None where they failed) is
    outside it. Tasks without reward functions (a task's own verifier, in [0, 1]):
    nothing to check. ``inside_passed``: as :func:`needs_unit_rewards`'."""
    reward_set = getattr(task, "_reward_set", None)
    if reward_set is None:
        return
    items = reward_set.items
    from treecredit.methods.treerpo import BERNOULLI_SLACK  # the rounding of a weighted sum the estimator accepts

    low, high = combined_range(items)
    adds_up = not (UNIT[0] - BERNOULLI_SLACK <= low and high <= UNIT[1] + BERNOULLI_SLACK)
    outside = [(i, v) for i, v in enumerate(probed or [])
               if v is not None and not UNIT[0] - BERNOULLI_SLACK <= v <= UNIT[1] + BERNOULLI_SLACK]
    if not adds_up and not outside:
        return
    refusal = needs_unit_rewards(config, task, inside_passed=inside_passed)
    if refusal is None:
        return
    given = " ".join(f"--estimator-option {k}={v}" for k, v in config.estimator_options.items())
    need = f"{config.estimator!r} with {given or 'its default options'} needs rewards in [0, 1], but"
    seen = None if adds_up else [v for v in probed or [] if v is not None]
    fix = f"{command_line_fix(config.estimator, refusal)}: {_weights_example(items, seen)}"
    if adds_up:
        own = ", a function of yours taken as such" if any(_known_range(f) is None for _, f, _ in items) else ""
        fail("estimator", f"{need} {_written(items)} add up to a reward in [{_fmt(low)}, {_fmt(high)}] "
             f"(each function gives 0 to 1{own}, times its weight; checked before any work)", fix)
    index, value = outside[0]
    fail("estimator", f"{need} {_written(items)} gave {_probed(task, index)} the reward {_fmt(value)} (checked "
         "before any work)", f"{fix}, each function giving rewards in [0, 1]")


def _probed(task, index: int) -> str:
    """What pre-flight scored for training problem ``index`` (:func:`treecredit.training.preflight.check_rewards`
    draws the same problems again here): its worked solution, or an empty completion when it has none (a
    prompt-only dataset)."""
    import numpy as np

    from treecredit.training.preflight import PROBE_PROBLEMS

    try:
        solution = task.generate(np.random.default_rng(0), PROBE_PROBLEMS)[index].solution
    except Exception:  # noqa: BLE001 — only the wording depends on it
        solution = "?"
    if not str(solution).strip():
        return f"an empty completion of training problem {index} (it has no worked solution)"
    return f"the worked solution of training problem {index}"


def option_fix(estimator: str, refusal: FixError) -> str:
    """The options of ``refusal``'s fix (:attr:`~treecredit._validation.FixError.settings`) in the command
    line's form, since the checks here run in ``treecredit train`` and ``compare``: ``pass --estimator-option
    scale=std (or scale=none; in treecredit compare, the arm treerpo[scale=std])``; "" when it sets none."""
    settings = refusal.settings
    if not settings:
        return ""
    name, value = settings[0]
    alternatives = "".join(f"or {name}={v}; " for n, v in settings[1:] if n == name and v != value)
    return (f"pass --estimator-option {name}={value} ({alternatives}in treecredit compare, the arm "
            f"{estimator}[{name}={value}])")


def command_line_fix(estimator: str, refusal: FixError) -> str:
    """``refusal``'s fix (an estimator's :class:`~treecredit._validation.FixError`, written for every caller:
    ``pass scale='std' or scale='none' (treecredit train: --estimator-option scale=std), or rewards in [0, 1]
    (...)``) in the command line's form: its options as :func:`option_fix` writes them, then its other remedies
    as the estimator words them: ``pass --estimator-option scale=std (or scale=none; in treecredit compare, the
    arm treerpo[scale=std]), or rewards in [0, 1]``. A fix that sets no option: its command-line form
    (:meth:`~treecredit._validation.FixError.fix`)."""
    option = option_fix(estimator, refusal)
    if not option:
        return refusal.fix("cli")
    others = [remedy.python for remedy in refusal.remedies if not remedy.settings]
    return ", or ".join([option, *others])
