"""TRL's GRPO batch layout → treecredit's arguments: the conversion the TRL trainer delegates to.

Kept apart from :mod:`treecredit.integrations.trl` so that it is testable with torch alone. TRL lays a
generation batch out as consecutive groups: rows ``g·G, ..., g·G + G - 1`` are the ``G =
num_generations`` completions of prompt ``g`` (that is how TRL's own baseline reshapes its rewards).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import numpy as np

from treecredit._validation import fail, split_fix
from treecredit.api import compute_advantages
from treecredit.step_text import short_repr, step_pattern_regex


def completion_rewards(rewards_per_func, reward_weights):
    """``(N, F)`` rewards of F reward functions → ``(N,)`` weighted sums, NaN where all F are NaN.

    r_i = Σ_f w_f · r_{i,f}, NaN terms skipped (TRL's "sum_then_normalize" reward, before it normalises);
    a completion that no reward function could score (every r_{i,f} NaN) keeps NaN.
    """
    import torch

    weights = reward_weights.to(device=rewards_per_func.device, dtype=rewards_per_func.dtype)
    rewards = (rewards_per_func * weights.unsqueeze(0)).nansum(dim=1)  # (N, F) -> (N,)
    unscorable = torch.isnan(rewards_per_func).all(dim=1)
    return torch.where(unscorable, torch.full_like(rewards, float("nan")), rewards)


_ROW_OPTIONS = ("step_ends", "tree_nodes")
"""Options with one row per completion ``(N, T)``, which the trainer gives per batch."""


def grouped_completion_advantages(estimator: str, *, completion_ids, completion_mask, rewards, num_generations: int,
                                  **options):
    """Per-token advantages ``(N, T)`` for completions grouped in consecutive blocks of ``num_generations``.

    Args:
        estimator: a token-level treecredit name.
        completion_ids: ``(N, T)`` int tensor, right-padded completions (as TRL pads them; passed to
            :func:`~treecredit.compute_advantages` as ``padding_side="right"``, so a batch whose rows begin with
            masked tokens of one id, such as a tool's output, is not taken for a left-padded one and refused).
        completion_mask: ``(N, T)`` 0/1 tensor; 0 on padding and on tool-output tokens.
        rewards: ``(N,)`` float tensor, one reward per completion; NaN marks a completion no reward
            function could score: it is left out of its group and gets advantage 0 (as in TRL).
        num_generations: ``G``, the group size; ``N`` must be a multiple of it.
        **options: options of ``estimator``; the per-row ones (``step_ends``, ``tree_nodes``: ``(N, T)``) lose the
            rows of unscorable completions with them.

    Returns:
        ``(N, T)`` float32 advantages on the device of ``completion_ids``, 0 on masked tokens. With
        ``num_generations=1`` (TRL's evaluation may sample one completion a prompt: ``num_generations_eval=1``)
        every group-relative advantage is 0, as TRL's, and the core's warning about groups of one, whose fix
        (group ids) a TRL user cannot apply, is not shown.
    """
    import torch

    n_rows = completion_ids.shape[0]
    if num_generations < 1 or n_rows % num_generations:
        fail("num_generations", f"{num_generations} does not divide the {n_rows} completions into groups",
             "use TRL's sampler, which repeats every prompt num_generations times in a row")
    group_ids = torch.arange(n_rows, device=completion_ids.device) // num_generations  # (N,)
    scorable = ~torch.isnan(rewards)
    advantages = torch.zeros(completion_ids.shape, dtype=torch.float32, device=completion_ids.device)
    if scorable.any():
        keep = scorable.cpu().numpy()
        rows = {name: value[keep if isinstance(value, np.ndarray) else scorable.to(value.device)]
                for name, value in options.items() if name in _ROW_OPTIONS and value is not None and not keep.all()}
        with warnings.catch_warnings():
            if num_generations == 1:  # TRL's evaluation with num_generations_eval=1: 0 as in TRL, not a mistake
                warnings.filterwarnings("ignore", message="group_ids: no group has two", category=UserWarning)
            advantages[scorable] = compute_advantages(
                estimator,
                response_ids=completion_ids[scorable],
                response_mask=completion_mask[scorable],
                rewards=rewards[scorable],
                group_ids=group_ids[scorable],
                padding_side="right",  # TRL pads completions on the right: said, not guessed from ids and mask
                **{**options, **rows},
            ).to(completion_ids.device)
    return advantages


_PER_BATCH = {"step_ends": "pass step_pattern=TEXT to the trainer (step ends from the decoded completions)",
              "tree_nodes": "pass sampler='tree' to the trainer (it gives each batch's tree_nodes)",
              "mc_values": "use an estimator that needs no mc_values", "prompt_values": "drop prompt_values"}
"""Estimator options that describe one batch's rows, which a trainer-wide option cannot: where they come from."""

_STRUCTURE = ("step_ends", "delimiter", "step_tokens", "tree_nodes")
"""Options that give an estimator its structure (steps or a tree); named in ``estimator_options``, they win."""

_CHECKED = "checked on a 4-completion test batch when the trainer was built, before any model or generation"


def rollout_input(estimator: str, options: dict, sampler: str, step_pattern) -> str | None:
    """The per-batch input TreeCreditGRPOTrainer gives ``estimator``: ``"tree_nodes"`` (the sampled tree),
    ``"step_ends"`` (from ``step_pattern`` on the decoded completions) or None.

    A structure option in ``options`` (``step_tokens``, ``delimiter``, ...) wins: then None. Else the tree,
    with ``sampler="tree"``, when the estimator takes ``tree_nodes``; else step ends, when ``step_pattern``
    is given and the estimator takes ``step_ends``. Raises ``ValueError`` for an unknown estimator.
    """
    from treecredit.registry import get_estimator

    accepted = get_estimator(estimator).options
    if set(_STRUCTURE) & set(options):
        return None
    if sampler == "tree" and "tree_nodes" in accepted:
        return "tree_nodes"
    if step_pattern is not None and "step_ends" in accepted:
        return "step_ends"
    return None


def option_message(error: Exception, options: dict, estimator: str, where: str = "", *,
                   option: Callable[[str], str] = lambda name: f"estimator_options[{name!r}]",
                   argument: str = "estimator_options", given: str | None = None) -> str:
    """``error`` (an estimator's or the registry's) as a host's message: an error about option NAME names
    ``option(NAME)``; any other names ``argument`` and the options as ``given`` (by default
    ``argument=options``). ``where``: where the options were checked, in parentheses. The defaults are
    TreeCreditGRPOTrainer's (``estimator_options['NAME']: ...``); verl's ``make_adv_estimator`` names an option
    by its keyword: ``option=str, argument="make_adv_estimator", given=f"the options {options!r}"``."""
    problem, fix = split_fix(str(error).strip())
    name, sep, rest = problem.partition(": ")
    if sep and name in options:
        suffix = f" ({where})" if where else ""
        return f"{option(name)}: {rest}{suffix}. Fix: {fix or 'pass another value'}."
    shown = given if given is not None else f"{argument}={options!r}"
    return (f"{argument}: estimator {estimator!r} fails with {shown} ({type(error).__name__}: {problem}"
            f"{'; ' + where if where else ''}). Fix: {fix or 'change or drop these options'}.")


def _run_on_test_batch(estimator: str, options: dict, given: str | None, rewards=None) -> None:
    """Run ``estimator`` with ``options`` once on the test batch, with the input the trainer would give
    (``given``: see :func:`rollout_input`) and, when given, these 4 ``rewards`` instead of the batch's.

    The test batch is the training CLI's (:func:`treecredit.training.dry_run.synthetic_rollout`): 2 groups ×
    2 completions × up to 6 tokens, step ends after 3 tokens and at the last one, each group a tree that forks
    after 3 tokens."""
    import warnings

    import torch

    from treecredit.training.config import TrainConfig
    from treecredit.training.dry_run import synthetic_rollout

    rollout = synthetic_rollout(TrainConfig(sampler="tree" if given == "tree_nodes" else "iid"))
    inputs = {given: getattr(rollout, given)} if given else {}
    with warnings.catch_warnings():  # warnings about a made-up batch would mislead
        warnings.simplefilter("ignore")
        grouped_completion_advantages(estimator, completion_ids=rollout.response_ids,
                                      completion_mask=rollout.response_mask.long(),
                                      rewards=rollout.rewards if rewards is None else torch.tensor(rewards),
                                      num_generations=2, **inputs, **options)


def _test_run(estimator: str, options: dict, given: str | None) -> None:
    """:func:`_run_on_test_batch`, so that a bad option value fails now, not after generation."""
    try:
        _run_on_test_batch(estimator, options, given)
    except Exception as error:  # noqa: BLE001 — whatever fails here would fail at the first step
        raise ValueError(option_message(error, options, estimator, _CHECKED)) from error


def check_trainer_estimator(estimator: str, estimator_options, sampler: str, step_pattern) -> dict:
    """Check TreeCreditGRPOTrainer's ``estimator``, ``estimator_options`` and ``step_pattern`` before training.

    Option names and kinds are the registry's (:meth:`~treecredit.registry.EstimatorSpec.check_options`);
    option values are the estimator's own checks, run once on a 4-completion test batch with the input this
    configuration would give it (:func:`rollout_input`), so a bad value fails here, not after generation.

    Args:
        estimator: a token-level treecredit estimator name.
        estimator_options: None or a dict of its options (trainer-wide: the same for every batch).
        sampler: ``"iid"`` or ``"tree"`` (the tree sampler gives ``tree_nodes``).
        step_pattern: None, or text that closes a step (a non-empty string, a list of them, or a regex).

    Returns:
        the options, checked.

    Raises:
        ValueError: naming the argument (``estimator_options['NAME']`` for one option) and the fix, when
            ``estimator_options`` is not a dict, names an option the estimator does not take, gives a value
            the estimator refuses (e.g. ``{"scale": "abc"}``, ``{"epsilon": -1}``), holds a per-batch tensor
            (``step_ends``, ``tree_nodes``, ``mc_values``, ``prompt_values``) or a text ``delimiter`` (token
            ids there; text goes to ``step_pattern``), or gives steps that ``step_pattern`` also gives (with
            ``sampler="iid"``); when ``step_pattern`` is empty, not text, a list holding a regex or a regex that
            matches the empty string (e.g. ``re.compile("")``); when the estimator needs what
            TRL cannot give (Monte Carlo values, e.g. ``vine``) or this configuration does not (steps or a
            tree).
    """
    import re

    from treecredit.integrations._fixes import host_estimator
    from treecredit.registry import available_from_options

    if estimator_options is None:
        estimator_options = {}
    if not isinstance(estimator_options, dict):
        fail("estimator_options", f"is {type(estimator_options).__name__} {short_repr(estimator_options)}, "
             "not a dict",
             "pass a dict of option names to values, e.g. estimator_options={'norm_by_std': False}")
    spec = host_estimator(estimator)
    try:
        options = spec.check_options(estimator_options)
    except ValueError as error:
        raise ValueError(option_message(error, estimator_options, estimator)) from error
    for name, source in _PER_BATCH.items():
        if options.get(name) is not None:
            fail(f"estimator_options[{name!r}]", "would be the same for every batch, but it describes one "
                 "batch's rows", f"drop it from estimator_options; {source}")
    delimiter = options.get("delimiter")
    if isinstance(delimiter, str):
        fail("estimator_options['delimiter']", f"is the text {delimiter!r}; the estimator's delimiter is token "
             f"id(s)", f"pass step_pattern={delimiter!r} to TreeCreditGRPOTrainer (it finds step ends in the "
             "decoded completions) and drop delimiter from estimator_options")
    patterns = list(step_pattern) if isinstance(step_pattern, list | tuple) else [step_pattern]
    if step_pattern is not None and not all(isinstance(p, str | re.Pattern) for p in patterns):
        fail("step_pattern", f"is {short_repr(step_pattern)}, not text", "pass the text that closes a step (a string, "
             "a list of strings or a compiled regex), e.g. step_pattern='\\n\\n'")
    if step_pattern is not None and (not patterns or "" in patterns):
        fail("step_pattern", f"is {step_pattern!r}: an empty text marks no step end",
             "pass the text that closes a step, e.g. step_pattern='\\n\\n', or leave step_pattern=None")
    if step_pattern is not None:  # a regex that matches the empty string, a list holding a regex
        step_pattern_regex(step_pattern, "step_pattern")
    both = [name for name in ("delimiter", "step_tokens") if name in options]
    if sampler != "tree" and step_pattern is not None and both and "step_ends" in spec.options:
        fail(f"estimator_options[{both[0]!r}]", f"and step_pattern={step_pattern!r} both give {estimator!r} its "
             f"steps, and only {both[0]} would be used", f"pass one: drop {both[0]} from estimator_options "
             "(steps where the text closes them), or drop step_pattern")
    if spec.needs("mc_values"):
        fail("estimator", f"{estimator!r} needs Monte Carlo values of each prefix (mc_values), which TRL's "
             "GRPOTrainer does not produce", "use another token estimator, e.g. 'tempo' or 'treerl' with "
             "sampler='tree', or train it with treecredit's own trainer (mc_rollouts > 0)")
    given = available_from_options(options) | ({"tree"} if sampler == "tree" else set())
    given |= {"steps"} if step_pattern is not None else set()
    missing = spec.missing(given)
    if missing:
        how = {"steps": "pass step_pattern=TEXT (step ends from the decoded completions) or "
                        "estimator_options={'step_tokens': K}",
               "tree": "pass sampler='tree' (tree rollouts)"}
        parts = missing[0].split("|")
        fail("estimator", f"{estimator!r} needs {' or '.join(parts)}, which this trainer would not give it",
             "; or ".join(how[p] for p in parts))
    if options:  # the defaults are tested for every estimator
        _test_run(estimator, options, rollout_input(estimator, options, sampler, step_pattern))
    return options


def warn_unused_structure(estimator: str, options: dict, sampler: str, step_pattern) -> bool:
    """Warn (``UserWarning``, once, when the trainer is built) when the configuration gives structure that
    ``estimator`` will not see: a sampled tree it does not read (it then gets step ends, single tokens or
    nothing finer than a completion), or a ``step_pattern`` it takes no steps from. Says what happens and
    how to get the credit asked for. Returns True when it warned."""
    import warnings

    from treecredit.registry import estimators, get_estimator

    spec = get_estimator(estimator)
    given = rollout_input(estimator, options, sampler, step_pattern)
    readers = ", ".join(name for name in estimators("token") if "tree_nodes" in get_estimator(name).options
                        and not get_estimator(name).needs("mc_values"))
    own = [name for name in _STRUCTURE if name in options]
    message = None
    if sampler == "tree" and given != "tree_nodes":
        if "tree_nodes" in spec.options and own:
            message = (f"sampler='tree': estimator_options[{own[0]!r}] gives {estimator!r} its steps, so it does "
                       "not get the sampled tree (tree_nodes); the tree only decides which completions are "
                       f"sampled. To credit along the tree, drop {own[0]} from estimator_options")
        elif "step_ends" in spec.options and not own and given is None:
            message = (f"sampler='tree': {estimator!r} does not read the sampled tree (it takes no tree_nodes) and "
                       "gets no step ends (step_pattern is None), so it works on single tokens. To give it steps, "
                       "pass step_pattern='\\n\\n' (the text the fixed strategy forks at) or "
                       f"estimator_options={{'step_tokens': K}}; for credit along the tree, use an estimator that "
                       f"reads it ({readers})")
        elif "step_ends" not in spec.options:
            message = (f"sampler='tree': {estimator!r} reads neither the sampled tree nor steps, so each completion "
                       "gets one advantage from its reward, as with sampler='iid'; the tree only decides which "
                       f"completions are sampled. For credit along the tree, use an estimator that reads it "
                       f"({readers}); or pass sampler='iid'")
    elif sampler != "tree" and step_pattern is not None and "step_ends" not in spec.options:
        steppers = ", ".join(name for name in estimators("token") if "step_ends" in get_estimator(name).options
                             and not get_estimator(name).needs("mc_values"))
        message = (f"step_pattern={step_pattern!r} is not used: {estimator!r} takes no step ends, so each "
                   f"completion gets one advantage from its reward. To credit steps, use an estimator that takes "
                   f"them ({steppers}); or drop step_pattern")
    if message is None:
        return False
    warnings.warn(message + ".", UserWarning, stacklevel=3)
    return True
