"""Choosing and building the forest an estimator needs, and the public :func:`build_tree`."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from treecredit._validation import check_choice, fail, to_numpy
from treecredit.batch import TokenBatch, align_padding, make_token_batch
from treecredit.steps import resolve_step_ends
from treecredit.trees.explicit import build_explicit
from treecredit.trees.forest import Forest
from treecredit.trees.trie import build_trie

KINDS = ("token", "step", "explicit")


def forest_for(batch: TokenBatch, *, tree_nodes: Any = None, step_ends: Any = None, delimiter: Any = None,
               step_tokens: Any = None, require_steps: bool = False) -> Forest:
    """The forest an estimator works on, chosen by the options given.

    ``tree_nodes`` → the explicit sampled tree; else a step option → the step trie; else the token trie
    (or, with ``require_steps``, an error asking for a step option or ``tree_nodes``).
    """
    has_steps = any(v is not None for v in (step_ends, delimiter, step_tokens))
    if tree_nodes is not None:
        if has_steps:
            fail("tree_nodes", "was given together with a step option (step_ends / delimiter / step_tokens)",
                 "pass either the sampled tree (tree_nodes) or step boundaries, not both")
        return build_explicit(batch, tree_nodes)
    if not has_steps and require_steps:
        fail("step_ends", "this estimator needs steps and none were given",
             "pass tree_nodes=(B, T) sampled node ids, or one of step_ends=(B, T) mask, "
             "delimiter=<token id(s)>, step_tokens=<block size>")
    ends = resolve_step_ends(batch, step_ends=step_ends, delimiter=delimiter, step_tokens=step_tokens,
                             required=False)
    return build_trie(batch, ends)


def build_tree(kind: str, *, response_ids, response_mask, rewards, group_ids, tree_nodes: Any = None,
               step_ends: Any = None, delimiter: Any = None, step_tokens: Any = None,
               padding_side: str | None = None) -> Forest:
    """Build the rollout forest of a batch, to inspect it: values, visit counts, branch points, a drawing.

    Args:
        kind: ``"token"`` (compressed token-prefix trie, P2T), ``"step"`` (step trie: needs one of
            ``step_ends`` / ``delimiter`` / ``step_tokens``) or ``"explicit"`` (needs ``tree_nodes``).
        response_ids, response_mask, rewards, group_ids, padding_side: as for
            :func:`treecredit.compute_advantages`. With ``padding_side="left"`` the forest's token positions
            count from each response's first token (the right-padded layout). ``render(group)`` takes these
            ``group_ids`` (``Forest.group_ids`` lists them in order of first appearance).
        tree_nodes: ``(B, T)`` int, for ``kind="explicit"``: ``tree_nodes[i, t]`` is the id of the sampled segment
            in which token t of row i was generated, −1 on padding; each row's ids are a root-to-leaf path (one
            contiguous run per id, in depth order), and equal ids in different rows are one segment generated
            once (same group, positions, parent and tokens). Anything else raises ``ValueError`` naming it.
        step_ends, delimiter, step_tokens: one of them for ``kind="step"`` (as for the step estimators).
    Returns:
        a :class:`treecredit.trees.Forest`: ``node_values`` (leaf mean V(s)), ``visit_counts`` |D(s)|,
        ``branch_points()``, ``children(node)`` (CSR ``child_ptr`` / ``child_index``), ``token_nodes()``
        and ``render(group)``.
    """
    forest = _build(kind, response_ids, response_mask, rewards, group_ids, tree_nodes, step_ends, delimiter,
                    step_tokens, padding_side)
    return replace(forest, group_ids=first_ids(group_ids, forest.n_groups))


def first_ids(group_ids: Any, n_groups: int) -> tuple:
    """The caller's id of each dense group (:func:`~treecredit.batch.dense_group_index`'s numbering: order of first
    appearance), as Python ints or strings."""
    if n_groups == 0:
        return ()
    values = to_numpy(group_ids, "group_ids") if not isinstance(group_ids, (list, tuple)) else np.asarray(group_ids)
    if values.dtype.kind == "f":  # integer floats, as dense_group_index reads them
        values = values.astype(np.int64)
    _, first = np.unique(values, return_index=True)
    return tuple(v.item() if hasattr(v, "item") else v for v in values[np.sort(first)])


def _build(kind, response_ids, response_mask, rewards, group_ids, tree_nodes, step_ends, delimiter, step_tokens,
           padding_side) -> Forest:
    check_choice(kind, KINDS, "kind")
    arrays = {"tree_nodes": tree_nodes, "step_ends": step_ends}
    ids, mask, arrays, _ = align_padding(response_ids, response_mask, arrays, padding_side)
    tree_nodes, step_ends = arrays["tree_nodes"], arrays["step_ends"]
    batch = make_token_batch(ids, mask, rewards, group_ids)
    if kind == "explicit":
        if tree_nodes is None:
            fail("tree_nodes", "is required for kind='explicit'", "pass tree_nodes=(B, T) sampled node ids")
        return forest_for(batch, tree_nodes=tree_nodes, step_ends=step_ends, delimiter=delimiter,
                          step_tokens=step_tokens)
    if tree_nodes is not None:
        fail("tree_nodes", f"is only used with kind='explicit', not {kind!r}", "drop tree_nodes or use kind='explicit'")
    if kind == "token":
        if any(v is not None for v in (step_ends, delimiter, step_tokens)):
            fail("kind", "'token' takes no step option", "use kind='step' to branch at step ends")
        return build_trie(batch)
    if all(v is None for v in (step_ends, delimiter, step_tokens)):
        fail("kind", "'step' builds the step trie, and no step option was given",
             "pass one of step_ends=(B, T) mask, delimiter=<token id(s)>, step_tokens=<block size>; or use "
             "kind='token'")
    return forest_for(batch, step_ends=step_ends, delimiter=delimiter, step_tokens=step_tokens)
