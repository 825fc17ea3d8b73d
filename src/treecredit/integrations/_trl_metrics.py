"""treecredit's keys in TRL's logged metrics: what the estimator saw in each generation batch.

TreeCreditGRPOTrainer appends these to TRL's ``_metrics[mode]`` (``mode``: ``"train"`` or ``"eval"``), as TRL
appends its own; TRL averages each key over the generation batches of a logging step and logs it with its
own keys (``log_history``, TensorBoard, W&B, ...; ``eval_`` prefixed in evaluation). Every value is over the
whole generation batch, all processes' rows (they are gathered before the advantages are computed), so
each process logs the same numbers.

- ``treecredit/response_tokens``: response tokens of the batch (``completion_mask · tool_mask`` summed);
- ``treecredit/generated_tokens``: tokens generated for them, a tree's shared prefixes counted once (one per
  distinct tree node and position, ``sampler="tree"``); equal to ``response_tokens`` with ``sampler="iid"``,
  so ``1 - generated_tokens / response_tokens`` is the share a tree saved;
- ``treecredit/branched_groups`` (``sampler="tree"`` only): share of groups whose tree branched (two
  completions share a token); 0 means the trees grew as separate chains;
- ``treecredit/adv_abs_mean``: mean of ``|advantage|`` over response tokens (0: no learning signal);
- ``treecredit/steps_per_response`` (estimators that get steps or a tree only): mean steps per non-empty
  response: step ends (from ``step_pattern``, ``step_tokens`` or a token-id ``delimiter``; the last token
  closes a step too), or tree segments (nodes) along the response when the estimator reads the tree.
"""

from __future__ import annotations

import numpy as np

from treecredit._validation import to_numpy

PREFIX = "treecredit/"


def rollout_metrics(advantages, response_ids, response_mask, *, num_generations: int, tree_nodes=None,
                    step_options=None) -> dict[str, float]:
    """The metrics above for one generation batch (all processes' rows).

    Args:
        advantages: ``(N, T)`` per-token advantages.
        response_ids: ``(N, T)`` token ids (a token-id ``delimiter`` is found in them).
        response_mask: ``(N, T)`` 0/1, the tokens trained on.
        num_generations: rows per group (consecutive blocks).
        tree_nodes: ``(N, T)`` node ids (−1: none) of tree rollouts, or None (``sampler="iid"``).
        step_options: what gives the estimator its steps: ``{"tree_nodes": ...}`` (the tree),
            ``{"step_ends": ...}``, ``{"step_tokens": k}`` or ``{"delimiter": ids}``; None or ``{}`` when it
            gets none (no ``steps_per_response``).
    """
    mask = to_numpy(response_mask, "response_mask").astype(bool)
    adv = to_numpy(advantages, "advantages").astype(np.float64)
    response_tokens = int(mask.sum())
    metrics = {"response_tokens": float(response_tokens),
               "adv_abs_mean": float(np.abs(adv[mask]).mean()) if response_tokens else 0.0}
    if tree_nodes is None:
        metrics["generated_tokens"] = float(response_tokens)
    else:
        nodes = to_numpy(tree_nodes, "tree_nodes").astype(np.int64)
        metrics["generated_tokens"] = float(_distinct_tokens(nodes, mask))
        metrics["branched_groups"] = _branched_share(nodes, mask, num_generations)
    steps = _steps_per_response(to_numpy(response_ids, "response_ids"), mask, step_options or {})
    if steps is not None:
        metrics["steps_per_response"] = steps
    return {PREFIX + key: value for key, value in metrics.items()}


def _distinct_tokens(nodes: np.ndarray, mask: np.ndarray) -> int:
    """Distinct (node, position) pairs among the tokens with a node: each shared token once; a token without
    a node (−1) counts as its own."""
    from treecredit.trees.explicit import node_token_counts

    _, distinct = node_token_counts(nodes, mask)
    return int(distinct + (mask & (nodes < 0)).sum())


def _branched_share(nodes: np.ndarray, mask: np.ndarray, size: int) -> float:
    from treecredit.trees.explicit import tree_branched

    groups = range(0, nodes.shape[0], size)
    branched = [tree_branched(nodes[g:g + size], mask[g:g + size]) for g in groups]
    return float(np.mean(branched)) if branched else 0.0


def _steps_per_response(ids: np.ndarray, mask: np.ndarray, options: dict) -> float | None:
    rows = mask.any(axis=1)
    if not options or not rows.any():
        return None
    if "tree_nodes" in options:
        nodes = to_numpy(options["tree_nodes"], "tree_nodes").astype(np.int64)
        counts = [len(np.unique(row[m & (row >= 0)])) for row, m in zip(nodes[rows], mask[rows])]
        return float(np.mean(counts))
    from treecredit.batch import make_token_batch
    from treecredit.steps import resolve_step_ends

    batch = make_token_batch(ids, mask, np.zeros(mask.shape[0]), np.zeros(mask.shape[0], dtype=np.int64))
    given = {k: (to_numpy(v, k) if k == "step_ends" and v is not None else v) for k, v in options.items()
             if k in ("step_ends", "step_tokens", "delimiter")}
    ends = resolve_step_ends(batch, **given, required=False)
    if ends is None:
        return None
    return float(ends[rows].sum(axis=1).mean())
