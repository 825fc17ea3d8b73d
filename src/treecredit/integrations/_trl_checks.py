"""Checks of TreeCreditGRPOTrainer's configuration that need TRL's settings, run when the trainer is built
(before TRL loads the model): the tree sampler against TRL's generation settings and group sizes, the
reward functions adaptive branching calls while trees grow, TRL's ``scale_rewards`` (applied as ``norm_by_std``
where the estimator has it) and TRL settings the trainer does not apply, and the range of the rewards.

Each refusal is the project's ``ValueError`` (``<argument>: <problem>. Fix: <fix>.``); a branching option
the sampler refuses is named ``branching_options['NAME']``.
"""

from __future__ import annotations

import warnings
from typing import Any

from treecredit._validation import fail, split_fix
from treecredit.step_text import short_repr


def check_leaf_scorers(reward_funcs) -> None:
    """Adaptive branching scores leaves during sampling: only reward functions (synchronous or ``async def``,
    as TRL takes them) can; a reward model cannot.

    Raises:
        ValueError (``reward_funcs``): a model id, an ``nn.Module`` or a non-callable.
    """
    funcs = reward_funcs if isinstance(reward_funcs, list | tuple) else [reward_funcs]
    for func in funcs:
        if isinstance(func, str) or not callable(func) or hasattr(func, "forward"):
            fail("reward_funcs", f"branching='adaptive' scores each round's leaves with the reward functions while "
                 f"the trees grow, which needs reward functions, not a reward model; got {short_repr(func)}",
                 "pass reward functions (plain or async def), or use branching='fixed' or 'entropy' (they read no "
                 "rewards)")


def tree_sampler(args, branching: Any, branching_options: Any, step_pattern: Any, kwargs: dict):
    """The :class:`~treecredit.sampling.TreeSampler` for TRL's generation settings ``args`` (a GRPOConfig).

    ``kwargs``: the keyword arguments given to GRPOTrainer (``tools``, ``environment_factory``, ``rollout_func``,
    ``processing_class``).

    Raises:
        ValueError: naming the setting, for what the tree sampler cannot honour: no ``args``; colocated
            vLLM's tensor parallelism or sleep mode; tools, environments or continuous batching
            (``use_transformers_continuous_batching``, or its old name ``use_transformers_paged``); a
            ``rollout_func`` (TRL then never generates itself); a vision-language ``processing_class``;
            ``top_k``, ``min_p`` or ``repetition_penalty`` away from their defaults, non-empty
            ``generation_kwargs`` or a ``vllm_structured_outputs_regex`` (:func:`check_generation_settings`); a
            ``step_pattern`` that is not a string; ``branching_options`` that is not a dict, or an option the
            strategy refuses (``branching_options['NAME']``); a ``num_generations`` (or ``num_generations_eval``) the
            branching cannot grow as one tree.
    """
    from treecredit.sampling import TreeSampler

    if args is None:
        fail("args", "sampler='tree' needs a GRPOConfig to read the generation settings from",
             "pass args=GRPOConfig(...)")
    if getattr(args, "use_vllm", False) and getattr(args, "vllm_mode", "colocate") == "colocate":
        for name, neutral in (("vllm_tensor_parallel_size", 1), ("vllm_enable_sleep_mode", False)):
            if getattr(args, name, neutral) != neutral:
                fail(name, f"is {getattr(args, name)!r}; sampler='tree' on vLLM was built and tested with one "
                     "engine per process, always awake", f"leave {name} at {neutral!r} with sampler='tree'")
    continuous = getattr(args, "use_transformers_continuous_batching", False) or getattr(
        args, "use_transformers_paged", False)  # TRL 1.16's name, and the one it deprecates
    if kwargs.get("tools") or kwargs.get("environment_factory") or continuous:
        fail("sampler", "'tree' does not run with tools, environments or continuous batching",
             "use sampler='iid' for those")
    if kwargs.get("rollout_func") is not None:  # TRL then never calls _generate_single_turn, where trees grow
        fail("rollout_func", f"is {short_repr(kwargs['rollout_func'])}, and TRL generates with it instead of its own "
             "generation, so sampler='tree' would grow no trees (the estimator would get the rollout function's "
             "i.i.d. completions and no tree, without a word)",
             "drop rollout_func to grow trees, or use sampler='iid' with it")
    check_generation_settings(args)
    if _is_processor(kwargs.get("processing_class")):
        refuse_vision_language()
    temperature = getattr(args, "temperature", 1.0)
    if not (isinstance(temperature, (int, float)) and temperature > 0):
        fail("temperature", f"is {temperature!r}; tree rollouts sample, and TRL divides the logits by it",
             "pass GRPOConfig(temperature=1.0) (or another value > 0)")
    for name, neutral in (("top_k", (0, None)), ("min_p", (None, 0.0)), ("repetition_penalty", (1.0,))):
        if getattr(args, name, neutral[0]) not in neutral:
            fail(name, f"is {getattr(args, name)!r}; the tree sampler draws from temperature and top-p only",
                 f"leave {name} at its default with sampler='tree'")
    if step_pattern is not None and not isinstance(step_pattern, str):
        fail("step_pattern", "must be a string with sampler='tree' (the sampler forks where it occurs)",
             "pass the delimiter text, e.g. step_pattern='\\n\\n'")
    options = check_branching_options(branching_options)
    try:
        sampler = TreeSampler(temperature=args.temperature, top_p=args.top_p,
                              max_new_tokens=args.max_completion_length, branching=branching,
                              branching_options=options)
    except ValueError as error:
        problem, fix = split_fix(str(error).strip())
        name, sep, rest = problem.partition(": ")
        if not (sep and name in options):
            raise
        raise ValueError(f"branching_options[{name!r}]: {rest} ({branching!r} branching). Fix: "
                         f"{fix or 'pass another value'}.") from error
    for name in ("num_generations", "num_generations_eval"):
        if getattr(args, name, None) is not None:
            _check_tree_group(sampler, name, int(getattr(args, name)))
    return sampler


def check_generation_settings(args) -> None:
    """Refuse GRPOConfig generation settings that TRL applies to its own generation and the tree sampler would drop
    (it draws from ``temperature`` and ``top_p`` only, up to ``max_completion_length``): ``generation_kwargs``
    (``{"top_k": 50}``, ``{"stop": [...]}``) and ``vllm_structured_outputs_regex``, named with the fix."""
    generation_kwargs = getattr(args, "generation_kwargs", None)
    if generation_kwargs:
        fail("generation_kwargs", f"is {short_repr(generation_kwargs)}; TRL applies them to its own generation, but "
             "the tree sampler draws from temperature and top_p only (up to max_completion_length) and would drop "
             "them without a word", "drop generation_kwargs with sampler='tree' (set temperature and top_p as "
             "GRPOConfig fields), or use sampler='iid'")
    regex = getattr(args, "vllm_structured_outputs_regex", None)
    if regex:
        fail("vllm_structured_outputs_regex", f"is {short_repr(regex)}; the tree sampler does not constrain its "
             "completions to it, so they would be unconstrained without a word", "drop "
             "vllm_structured_outputs_regex with sampler='tree', or use sampler='iid'")


def _is_processor(processing_class) -> bool:
    """Whether ``processing_class`` is a transformers ``ProcessorMixin`` (a vision-language model's processor)."""
    if processing_class is None or isinstance(processing_class, str):
        return False
    try:
        from transformers import ProcessorMixin
    except ImportError:
        return False
    return isinstance(processing_class, ProcessorMixin)


def refuse_vision_language() -> None:
    """Refuse ``sampler='tree'`` for a vision-language model (a processor, TRL's ``_is_vlm``): the tree sampler grows
    completions from the prompt's text tokens alone, while TRL scores them and computes their log-probabilities
    with the images, so the completions would come from another distribution than the policy trained."""
    fail("sampler", "'tree' grows completions from the prompts' text alone, and this is a vision-language model "
         "(its processing_class is a processor): TRL would score them with the images, training on completions "
         "the model did not sample from what it sees", "use sampler='iid' for a vision-language model")


def check_branching_options(branching_options: Any) -> dict:
    """``branching_options`` as a dict (None → {}); anything else is refused, naming the argument."""
    if branching_options is None:
        return {}
    if not isinstance(branching_options, dict) or not all(isinstance(k, str) for k in branching_options):
        fail("branching_options", f"is {type(branching_options).__name__} {short_repr(branching_options)}, not a "
             "dict of option names to values", "pass e.g. branching_options={'children': 2, 'depth': 1}")
    return dict(branching_options)


def _check_tree_group(sampler, name: str, size: int) -> None:
    """Refuse a group size (TRL's ``name``) that the sampler cannot grow as one tree of ``size`` leaves."""
    strategy = sampler.strategy
    if hasattr(strategy, "root_width"):  # fixed: the leaves come in blocks of children**depth
        block = strategy.children ** strategy.depth
        if size % block:
            fail(name, f"is {size}; sampler='tree' grows each prompt's {name} completions as one tree, whose leaves "
                 f"come in blocks of children**depth = {strategy.children}**{strategy.depth} = {block} "
                 "(branching_options)", f"pass {name} as a multiple of {block}, or branching_options whose "
                 f"children**depth divides {size} (e.g. lower depth or children)")
    chains = getattr(strategy, "chains", 1)
    if chains > size:
        fail(name, f"is {size}, below branching_options chains={chains}: each prompt's tree starts {chains} chains "
             f"but keeps {size} leaves", f"pass {name} of {chains} or more, or branching_options chains ≤ {size}")
    try:
        sampler.check_group_size(size)
    except ValueError as error:
        fail(name, f"is {size}, which sampler='tree' cannot grow as one tree ({error})", f"change {name} or "
             "branching_options")


def scale_rewards_options(args, estimator: str, options: dict) -> dict:
    """``options`` with GRPOConfig's ``scale_rewards="none"`` (or False) applied: ``norm_by_std=False`` where the
    estimator has that option (verl's ``norm_adv_by_std_in_grpo=False`` does the same), so that one
    estimator name gives the same advantages in TRL, verl and treecredit's trainer. TRL's default ``"group"``
    (True) keeps the estimator's own default (off for ``spo``); ``"batch"`` is not applied (warned about).

    Raises:
        ValueError: naming both, when ``estimator_options={'norm_by_std': True}`` contradicts
            ``scale_rewards="none"``.
    """
    from treecredit.registry import get_estimator

    scale = getattr(args, "scale_rewards", "group")
    if scale not in ("none", False) or "norm_by_std" not in get_estimator(estimator).options:
        return options
    if options.get("norm_by_std", False):
        fail("estimator_options['norm_by_std']", f"is {options['norm_by_std']!r}, but GRPOConfig scale_rewards="
             f"{scale!r} asks for no division by the group's standard deviation",
             "drop one of them: scale_rewards='none' alone gives norm_by_std=False")
    return {**options, "norm_by_std": False}


def warn_unapplied_trl_settings(args, estimator: str, options: dict) -> bool:
    """Warn (``UserWarning``, when the trainer is built) about GRPOConfig settings ``args`` moved away from
    TRL's defaults that the trainer does not apply: ``scale_rewards="batch"`` (and ``"none"`` for an
    estimator without ``norm_by_std``; :func:`scale_rewards_options` applies it to the others) and
    ``multi_objective_aggregation`` (the estimator computes and normalises the advantages itself). Returns
    True when it warned."""
    from treecredit.registry import get_estimator

    if args is None:
        return False
    unapplied = []
    scale = getattr(args, "scale_rewards", "group")
    takes = "norm_by_std" in get_estimator(estimator).options
    if scale not in ("group", True) and not (scale in ("none", False) and takes):
        how = ("the estimator normalises within each group; estimator_options={'norm_by_std': False} leaves the "
               "group's standard deviation out" if takes else
               f"{estimator!r} has no norm_by_std option; its docstring says how it scales")
        unapplied.append(f"scale_rewards={scale!r} ({how})")
    aggregation = getattr(args, "multi_objective_aggregation", "sum_then_normalize")
    if aggregation != "sum_then_normalize":
        unapplied.append(f"multi_objective_aggregation={aggregation!r} (a completion's reward is the weighted sum "
                         "of its reward functions, as with 'sum_then_normalize')")
    if not unapplied:
        return False
    warnings.warn(f"TreeCreditGRPOTrainer does not apply GRPOConfig {' or '.join(unapplied)}: the estimator "
                  f"{estimator!r} computes the advantages from the rewards itself. To silence this, leave these "
                  f"settings at TRL's defaults; to change the scaling, use the estimator's options "
                  f"(estimator_options, now {options!r}).", UserWarning, stacklevel=3)
    return True


def weighted_reward_range(funcs: list, weights: list[float]) -> tuple[float, float] | None:
    """The range of TRL's reward Σ_f w_f · r_f when each plain function gives 0 to 1 (or None: left out of the
    sum), [Σ min(w_f, 0), Σ max(w_f, 0)] (:func:`~treecredit.training.reward_range.weighted_range`, as the CLI
    counts its ``--reward`` functions); None when a reward is a model (a model id or an ``nn.Module``: its
    scores are logits, with no bound)."""
    from treecredit.training.reward_range import UNIT, weighted_range

    if any(isinstance(f, str) or hasattr(f, "forward") for f in funcs):
        return None
    return weighted_range((w, UNIT) for w in weights)


def trl_reward_fix(refusal, options: dict, accepted) -> str:
    """An estimator's fix for rewards outside [0, 1] in TreeCreditGRPOTrainer's terms: each option setting of
    ``refusal`` (:class:`~treecredit._validation.FixError`) that the estimator takes (``accepted``) becomes
    ``estimator_options={...}`` (over the ``options`` given); the weights become GRPOConfig's."""
    found, python = [(n, v) for n, v in refusal.settings if n in accepted], refusal.fix("python")
    settings = [{**options, name: value} for name, value in found]
    if not settings:
        return (f"{python}; or reward functions and GRPOConfig reward_weights whose weighted sum "
                "stays in [0, 1]")
    return (f"pass estimator_options={settings[0]!r}" + "".join(f" or {s!r}" for s in settings[1:])
            + ", or reward functions and GRPOConfig reward_weights whose weighted sum stays in [0, 1]")


def check_reward_range(estimator: str, options: dict, given: str | None, reward_funcs, args, *,
                       tested: bool = False) -> None:
    """Refuse, when the trainer is built, an estimator that needs rewards in [0, 1] (TreeRPO's default
    ``scale="bernoulli"``; :func:`~treecredit.training.reward_range.unit_rewards_refusal` asks the estimator, on
    the test batch of :func:`~treecredit.integrations._grpo_layout.check_trainer_estimator`)
    with reward functions whose weighted sum can leave [0, 1] even when each gives 0 to 1 (weights summing to
    more than 1, a negative weight) or a reward model (unbounded scores). Otherwise the run would stop at the
    first batch whose reward leaves [0, 1]: with two 0/1 functions, when the model first gets both right.

    Args:
        given: the per-batch input the trainer gives the estimator (:func:`~treecredit.integrations.
            _grpo_layout.rollout_input`).
        reward_funcs, args: GRPOTrainer's ``reward_funcs`` and GRPOConfig (its ``reward_weights``).
        tested: these ``options`` already passed the test batch with its own rewards (in [0, 1]) when the
            trainer checked them, so only rewards outside [0, 1] are tried here: the batch runs once per
            reward range.
    """
    from treecredit.integrations._grpo_layout import _run_on_test_batch
    from treecredit.registry import get_estimator
    from treecredit.training.reward_range import unit_rewards_refusal

    if reward_funcs is None:
        return
    funcs = list(reward_funcs) if isinstance(reward_funcs, list | tuple) else [reward_funcs]
    weights = getattr(args, "reward_weights", None)
    if weights is not None and len(weights) != len(funcs):
        return  # TRL refuses the mismatch itself
    bounds = weighted_reward_range(funcs, [1.0] * len(funcs) if weights is None else [float(w) for w in weights])
    from treecredit.methods.treerpo import BERNOULLI_SLACK  # weights summing to 1 may round above it

    if bounds is not None and -BERNOULLI_SLACK <= bounds[0] and bounds[1] <= 1.0 + BERNOULLI_SLACK:
        return
    fix = unit_rewards_refusal(lambda rewards: _run_on_test_batch(estimator, options, given, rewards),
                           inside_passed=tested)
    if fix is None:
        return
    names = ", ".join(getattr(f, "__name__", None) or (f if isinstance(f, str) else type(f).__name__)
                      for f in funcs)
    if bounds is None:
        why = f"reward_funcs [{names}] hold a reward model, whose scores are not bounded to [0, 1]"
    else:
        given_weights = ("reward_weights 1 each (GRPOConfig's default)" if weights is None
                         else f"reward_weights={[float(w) for w in weights]}")
        why = (f"the {len(funcs)} reward function(s) [{names}] with {given_weights} add up to a reward in "
               f"[{bounds[0]:g}, {bounds[1]:g}] when each gives 0 to 1")
    fail("estimator", f"{estimator!r} with estimator_options={options!r} needs rewards in [0, 1], but {why}; "
         "training would stop at the first batch whose reward leaves [0, 1] (checked when the trainer was built)",
         trl_reward_fix(fix, options, get_estimator(estimator).options)
         + (", e.g. reward_weights summing to 1" if bounds is not None and bounds[0] >= 0 else ""))
