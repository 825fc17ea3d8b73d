"""A readable text drawing of one group's tree, so a user can see why a token got its credit."""

from __future__ import annotations

import numpy as np


def render_group(forest, group: int, *, node_labels: np.ndarray | None = None, max_tokens: int = 12,
                 decode=None) -> str:
    """One line per node, indented by depth, children under their parent::

        root  n=4  V=0.500
        ├─ [0:2) n=3 V=0.667  tokens 1 2
        │  ├─ [2:3) n=2 V=1.000  tokens 3  (ends responses [2])
        ...

    ``n`` is |D(s)| (responses through the node), ``V`` the leaf mean of their rewards, the span the token
    positions of the node; ``node_labels`` (N,) adds a column (e.g. a per-node advantage, see
    ``Forest.node_token_values``); ``decode`` (a function from a list of token ids to text) shows the
    node's tokens as text instead of ids.
    """
    if not 0 <= group < forest.n_groups:
        raise ValueError(f"group: {group} is not in [0, {forest.n_groups}). Fix: pass a dense group number.")
    if node_labels is not None:
        node_labels = _checked_labels(forest, node_labels)
    values = forest.node_values
    ends_here: dict[int, list[int]] = {}
    last_nodes = forest.row_last_node
    for row in np.flatnonzero(forest.seg_node[forest.row_ptr[:-1]] == group):  # rows of this group
        ends_here.setdefault(int(last_nodes[row]), []).append(int(row))

    def describe(node: int) -> str:
        start, end = int(forest.node_start[node]), int(forest.node_end[node])
        head = "root" if forest.node_parent[node] < 0 else f"[{start}:{end})"
        text = f"{head}  n={int(forest.node_count[node])}  V={values[node]:.3f}"
        if node_labels is not None:
            text += f"  A={float(node_labels[node]):+.3f}"
        if end > start:
            row = _a_row_through(forest, node)
            toks = forest.response_ids[row, start:min(end, start + max_tokens)].tolist()
            more = " …" if end - start > max_tokens else ""
            shown = repr(decode(toks)) if decode is not None else " ".join(map(str, toks))
            text += "  tokens " + shown + more
        if node in ends_here:
            text += f"  (ends responses {ends_here[node]})"
        return text

    lines = [describe(group)]

    def walk(node: int, prefix: str) -> None:
        kids = forest.children(node).tolist()
        for n, kid in enumerate(kids):
            last = n == len(kids) - 1
            lines.append(prefix + ("└─ " if last else "├─ ") + describe(kid))
            walk(kid, prefix + ("   " if last else "│  "))

    walk(group, "")
    return "\n".join(lines)


def _a_row_through(forest, node: int) -> int:
    return int(forest.seg_row[np.flatnonzero(forest.seg_node == node)[0]])


def _checked_labels(forest, node_labels) -> np.ndarray:
    """``node_labels`` as a float ``(N,)`` array, one per node, or the ``ValueError`` naming it (token values
    such as advantages, ``(B, T)``, go through ``Forest.node_token_values`` first)."""
    from treecredit._validation import fail, to_numpy

    labels = to_numpy(node_labels, "node_labels")
    n = forest.n_nodes
    if labels.ndim != 1 or labels.shape[0] != n:
        shape = tuple(int(d) for d in labels.shape)
        tokens = " (one per token, such as advantages)" if labels.ndim == 2 else ""
        fail("node_labels", f"has shape {shape}{tokens}, but takes one value per node of the forest: ({n},)",
             "pass forest.node_token_values(<(B, T) token values>), e.g. "
             "forest.render(g, node_labels=forest.node_token_values(adv))")
    try:
        return labels.astype(float)
    except (TypeError, ValueError):
        fail("node_labels", f"holds {labels.dtype} values, not numbers", "pass one number per node")
