"""TRL's GRPO batch layout → treecredit's arguments: the conversion the TRL trainer delegates to.

Kept apart from :mod:`treecredit.integrations.trl` so that it is testable with torch alone. TRL lays a
generation batch out as consecutive groups: rows ``g·G, ..., g·G + G - 1`` are the ``G =
num_generations`` completions of prompt ``g`` (that is how TRL's own baseline reshapes its rewards).
"""

from __future__ import annotations

from treecredit._validation import fail
from treecredit.api import compute_advantages


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


def grouped_completion_advantages(estimator: str, *, completion_ids, completion_mask, rewards, num_generations: int,
                                  **options):
    """Per-token advantages ``(N, T)`` for completions grouped in consecutive blocks of ``num_generations``.

    Args:
        estimator: a token-level treecredit name.
        completion_ids: ``(N, T)`` int tensor, right-padded completions.
        completion_mask: ``(N, T)`` 0/1 tensor; 0 on padding and on tool-output tokens.
        rewards: ``(N,)`` float tensor, one reward per completion; NaN marks a completion no reward
            function could score: it is left out of its group and gets advantage 0 (as in TRL).
        num_generations: ``G``, the group size; ``N`` must be a multiple of it.
        **options: options of ``estimator``.

    Returns:
        ``(N, T)`` float32 advantages on the device of ``completion_ids``, 0 on masked tokens.
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
        advantages[scorable] = compute_advantages(
            estimator,
            response_ids=completion_ids[scorable],
            response_mask=completion_mask[scorable],
            rewards=rewards[scorable],
            group_ids=group_ids[scorable],
            **options,
        ).to(completion_ids.device)
    return advantages


_PER_BATCH = {"step_ends": "pass step_pattern=TEXT to the trainer (step ends from the decoded completions)",
              "tree_nodes": "pass sampler='tree' to the trainer (it gives each batch's tree_nodes)",
              "mc_values": "use an estimator that needs no mc_values", "prompt_values": "drop prompt_values"}
"""Estimator options that describe one batch's rows, which a trainer-wide option cannot: where they come from."""


def check_trainer_estimator(estimator: str, estimator_options, sampler: str, step_pattern) -> dict:
    """Check TreeCreditGRPOTrainer's ``estimator``, ``estimator_options`` and ``step_pattern`` before training.

    Args:
        estimator: a token-level treecredit estimator name.
        estimator_options: None or a dict of its options (trainer-wide: the same for every batch).
        sampler: ``"iid"`` or ``"tree"`` (the tree sampler gives ``tree_nodes``).
        step_pattern: None, or text that closes a step (a non-empty string, a list of them, or a regex).

    Returns:
        the options, checked (:meth:`~treecredit.registry.EstimatorSpec.check_options`).

    Raises:
        ValueError: naming the argument and the fix, when ``estimator_options`` is not a dict, holds a
            per-batch tensor (``step_ends``, ``tree_nodes``, ``mc_values``, ``prompt_values``) or a text
            ``delimiter`` (token ids there; text goes to ``step_pattern``); when ``step_pattern`` is empty;
            when the estimator needs what TRL cannot give (Monte Carlo values, e.g. ``vine``) or what this
            configuration does not give (step ends or a tree).
    """
    import re

    from treecredit.registry import available_from_options, get_estimator

    if estimator_options is None:
        estimator_options = {}
    if not isinstance(estimator_options, dict):
        fail("estimator_options", f"is {type(estimator_options).__name__} {estimator_options!r}, not a dict",
             "pass a dict of option names to values, e.g. estimator_options={'norm_by_std': False}")
    spec = get_estimator(estimator)
    options = spec.check_options(estimator_options)
    for name, source in _PER_BATCH.items():
        if options.get(name) is not None:
            fail(name, "in estimator_options would be the same for every batch, but it describes one batch's "
                 "rows", f"drop it from estimator_options; {source}")
    delimiter = options.get("delimiter")
    if isinstance(delimiter, str):
        fail("delimiter", f"is the text {delimiter!r}; the estimator's delimiter is token id(s)",
             f"pass step_pattern={delimiter!r} to TreeCreditGRPOTrainer (it finds step ends in the decoded "
             "completions) and drop delimiter from estimator_options")
    patterns = list(step_pattern) if isinstance(step_pattern, list | tuple) else [step_pattern]
    if step_pattern is not None and not all(isinstance(p, str | re.Pattern) for p in patterns):
        fail("step_pattern", f"is {step_pattern!r}, not text", "pass the text that closes a step (a string, a list "
             "of strings or a compiled regex), e.g. step_pattern='\\n\\n'")
    if step_pattern is not None and (not patterns or "" in patterns):
        fail("step_pattern", f"is {step_pattern!r}: an empty text marks no step end",
             "pass the text that closes a step, e.g. step_pattern='\\n\\n', or leave step_pattern=None")
    needs = {part for need in spec.requires for part in need.split("|")}
    if "mc_values" in needs:
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
    return options
