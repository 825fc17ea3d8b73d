"""A rollout forest as flat arrays: one tree per group, every node a span of response tokens.

Conventions (written once, used by every builder and estimator):

- ``_node`` indexes nodes. Nodes ``0 .. n_groups−1`` are the virtual roots (root of group g is node g:
  the prompt, an empty token span, visited by every response of the group). Other nodes follow.
- A node is a span ``[node_start, node_end)`` of token positions, the same span in every response
  that passes through it (responses are right-padded, so positions line up along a shared prefix).
- ``_seg`` indexes *path segments*: each response's root-to-last-node path, one segment per node on
  it, root first, stored response after response (CSR by ``row_ptr``). The non-root segments of a
  response tile ``[0, length)`` of its tokens exactly, so per-node values reach tokens by one
  ``np.repeat`` (no per-token Python loop, no accumulated rounding).
- ``node_count`` = |D(s)|, the responses whose path passes through s (a response ending inside the
  tree, a prefix of another, counts for every node on its path and is *terminal* at its last node).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from treecredit._validation import check_shape, fail, to_numpy


@dataclass(frozen=True, eq=False)
class Forest:
    """A forest of rollout trees (one per group) as flat arrays; see the module docstring.

    Attributes:
        kind: ``"token"`` (token-prefix trie), ``"step"`` (step trie) or ``"explicit"`` (sampled tree).
        n_groups: number of groups (= number of roots).
        node_parent: ``(N,)`` parent node, −1 for roots.
        node_depth: ``(N,)`` 0 for roots, parent's depth + 1 otherwise.
        node_group: ``(N,)`` group of each node.
        node_start, node_end: ``(N,)`` token span ``[start, end)``; roots have ``0, 0``.
        node_count: ``(N,)`` |D(s)|, responses through the node.
        node_reward_sum: ``(N,)`` Σ r_i over the responses through the node.
        child_ptr, child_index: children in CSR form: the children of s are
            ``child_index[child_ptr[s]:child_ptr[s+1]]``.
        seg_row, seg_node, seg_start, seg_end: ``(S,)`` path segments, response after response.
        row_ptr: ``(B+1,)`` the segments of response i are ``row_ptr[i]:row_ptr[i+1]`` (root first).
        lengths: ``(B,)`` response lengths (one past the last unmasked token).
        rewards: ``(B,)`` the rewards the node sums were built from.
        response_ids: ``(B, T)`` the token ids (kept by reference for rendering).
        group_ids: the caller's group id of each dense group ``0 .. n_groups−1`` (ints or strings, in order of
            first appearance), when the forest came from :func:`treecredit.build_tree`; None otherwise (then
            groups are named by their dense numbers).
    """

    kind: str
    n_groups: int
    node_parent: np.ndarray
    node_depth: np.ndarray
    node_group: np.ndarray
    node_start: np.ndarray
    node_end: np.ndarray
    node_count: np.ndarray
    node_reward_sum: np.ndarray
    child_ptr: np.ndarray
    child_index: np.ndarray
    seg_row: np.ndarray
    seg_node: np.ndarray
    seg_start: np.ndarray
    seg_end: np.ndarray
    row_ptr: np.ndarray
    lengths: np.ndarray
    rewards: np.ndarray
    response_ids: np.ndarray = field(repr=False)
    group_ids: tuple | None = field(default=None, repr=False)

    @property
    def n_nodes(self) -> int:
        return int(self.node_parent.size)

    @property
    def shape(self) -> tuple[int, int]:
        return self.response_ids.shape  # type: ignore[return-value]

    @property
    def visit_counts(self) -> np.ndarray:
        """``(N,)`` |D(s)|: responses through each node."""
        return self.node_count

    @property
    def node_values(self) -> np.ndarray:
        """``(N,)`` V(s) = mean reward of the responses through s (the leaf mean)."""
        return self.node_reward_sum / np.maximum(self.node_count, 1)

    @property
    def n_children(self) -> np.ndarray:
        return np.diff(self.child_ptr)

    @property
    def row_last_node(self) -> np.ndarray:
        """``(B,)`` the last node on each response's path (its root for an empty response)."""
        return self.seg_node[self.row_ptr[1:] - 1]

    def children(self, node: int) -> np.ndarray:
        """The ids of ``node``'s children (``0 ≤ node < n_nodes``; ids below ``n_groups`` are the roots).

        Raises:
            ValueError: naming ``node``, for anything else.
        """
        if isinstance(node, bool) or not isinstance(node, int | np.integer) or not 0 <= node < self.n_nodes:
            roots = "0" if self.n_groups == 1 else f"0 to {self.n_groups - 1}"
            fail("node", f"is {node!r}, not a node id of this forest", f"pass an int from 0 to {self.n_nodes - 1} "
                 f"(the roots: {roots}; branch_points() lists the nodes that fork)")
        return self.child_index[self.child_ptr[node]:self.child_ptr[node + 1]]

    def node_mean(self, per_response: np.ndarray) -> np.ndarray:
        """``(N,)`` mean of ``per_response`` over the responses through each node."""
        sums = np.bincount(self.seg_node, weights=per_response[self.seg_row], minlength=self.n_nodes)
        return sums / np.maximum(self.node_count, 1)

    def node_std(self, per_response: np.ndarray, ddof: int = 1) -> np.ndarray:
        """``(N,)`` std of ``per_response`` over the responses through each node: Bessel-corrected (``ddof=1``,
        0 for one response) or the population std (``ddof=0``)."""
        mean = self.node_mean(per_response)
        dev = per_response[self.seg_row] - mean[self.seg_node]
        ss = np.bincount(self.seg_node, weights=dev * dev, minlength=self.n_nodes)
        return np.sqrt(ss / np.maximum(self.node_count - ddof, 1))

    def spread(self, node_values: np.ndarray) -> np.ndarray:
        """``(B, T)`` float32: every token gets the value of the node it lies in; 0 beyond the length."""
        return spread_segments(self.shape, self.seg_row, self.seg_start, self.seg_end,
                               np.asarray(node_values)[self.seg_node])

    def token_nodes(self) -> np.ndarray:
        """``(B, T)`` int64: the node of every token, −1 beyond each response's length."""
        return spread_segments(self.shape, self.seg_row, self.seg_start, self.seg_end, self.seg_node + 1,
                               dtype=np.int64) - 1

    def branch_points(self) -> list[tuple[int, int, list[int]]]:
        """``(node, token position, children)`` for every node with two or more children.

        The token position is where the children's spans begin (the first token that differs).
        """
        nodes = np.flatnonzero(self.n_children >= 2)
        return [(int(s), int(self.node_end[s]), self.children(int(s)).tolist()) for s in nodes]

    def node_token_values(self, token_values: np.ndarray) -> np.ndarray:
        """``(N,)`` the value of ``token_values (B, T)`` on the first token of each node (0 for roots).

        Read from the first response through the node; meant for estimators that give every token of a
        node one value (spo, treerl, treerpo), e.g. ``forest.render(g, node_labels=forest.node_token_values(adv))``.
        """
        values = to_numpy(token_values, "token_values")
        check_shape(values, self.shape, "token_values", "(B, T) of the forest's batch")
        out = np.zeros(self.n_nodes)
        seg = np.flatnonzero(self.seg_end > self.seg_start)
        nodes, first = np.unique(self.seg_node[seg], return_index=True)  # the first response through each
        out[nodes] = values[self.seg_row[seg[first]], self.seg_start[seg[first]]]
        return out

    def group_number(self, group) -> int:
        """The dense number (``0 .. n_groups−1``, the roots' node ids) of ``group``: one of the caller's
        ``group_ids`` when the forest came from :func:`treecredit.build_tree` (:attr:`group_ids`), else a dense
        number.

        Raises:
            ValueError: naming ``group``, with the ids this forest holds, for any other value.
        """
        if self.group_ids is not None:
            for number, gid in enumerate(self.group_ids):
                if type(gid) is type(group) and gid == group or (
                        isinstance(gid, int) and isinstance(group, (int, np.integer))
                        and not isinstance(group, (bool, np.bool_)) and gid == int(group)):
                    return number
            shown = ", ".join(map(repr, self.group_ids[:8])) + (", ..." if len(self.group_ids) > 8 else "")
            fail("group", f"{group!r} is not a group id of this forest (its group_ids, in order of first "
                 f"appearance: {shown})", f"pass one of the group_ids given to build_tree, e.g. "
                 f"render({self.group_ids[0]!r})" if self.group_ids else "build the forest from a non-empty batch")
        if isinstance(group, (bool, np.bool_)) or not isinstance(group, (int, np.integer)) \
                or not 0 <= group < self.n_groups:
            fail("group", f"{group!r} is not in [0, {self.n_groups})", "pass a dense group number")
        return int(group)

    def render(self, group=None, *, node_labels: np.ndarray | None = None, max_tokens: int = 12,
               decode=None) -> str:
        """A readable text drawing of one group's tree (see :func:`treecredit.trees.render.render_group`).

        ``group``: one of the ``group_ids`` given to :func:`treecredit.build_tree` (ints or strings, as given;
        :attr:`group_ids` lists them); for a forest built otherwise, a dense number ``0 .. n_groups−1``; None
        (default): the first group. ``ValueError`` naming ``group`` (and the forest's ids) for one not in the
        forest."""
        from treecredit.trees.render import render_group

        number = 0 if group is None else self.group_number(group)
        return render_group(self, number, node_labels=node_labels, max_tokens=max_tokens,
                            decode=decode)


def spread_segments(shape, seg_row, seg_start, seg_end, seg_values, *, dtype=np.float32) -> np.ndarray:
    """``(B, T)`` array: ``seg_values[j]`` on tokens ``[seg_start[j], seg_end[j])`` of row ``seg_row[j]``.

    Segments must be sorted by (row, start), and each row's segments must tile ``[0, end of its last)``
    without gaps; the rest of the row is 0.
    """
    B, T = shape
    widths = (seg_end - seg_start).astype(np.int64)
    covered = np.bincount(seg_row, weights=widths, minlength=B).astype(np.int64)
    row_ptr = np.searchsorted(seg_row, np.arange(B + 1))
    # one zero-valued padding piece after each row's last segment
    values = np.insert(np.asarray(seg_values, dtype=dtype), row_ptr[1:], 0)
    widths = np.insert(widths, row_ptr[1:], T - covered)
    return np.repeat(values, widths).reshape(B, T)


def assemble_forest(kind, batch, entries: list, n_local: int) -> Forest:
    """Build a :class:`Forest` from each response's non-root path entries.

    ``entries`` is the list ``[row, node, start, end]`` of arrays sorted by (row, start); ``node`` numbers
    non-root nodes ``0..n_local−1``; the parent of an entry is the previous entry of the same row, or the
    row's group root. The list is emptied as its arrays are copied (so their memory can go early).
    """
    B, _ = batch.shape
    G = batch.n_groups
    first_of_row = np.searchsorted(entries[0], np.arange(B))
    zeros = np.zeros(B, dtype=np.int64)
    seg_row = np.insert(entries[0], first_of_row, np.arange(B))
    entries[0] = None
    entries[1] += G
    seg_node = np.insert(entries[1], first_of_row, batch.group_index)
    entries[1] = None
    seg_start = np.insert(entries[2], first_of_row, zeros)
    entries[2] = None
    seg_end = np.insert(entries[3], first_of_row, zeros)
    entries.clear()
    row_ptr = np.searchsorted(seg_row, np.arange(B + 1))
    n_nodes = G + n_local

    is_child = np.ones(seg_row.size, dtype=bool)
    is_child[row_ptr[:-1]] = False
    children_segs = np.flatnonzero(is_child)
    node_parent = np.full(n_nodes, -1, dtype=np.int64)
    node_parent[seg_node[children_segs]] = seg_node[children_segs - 1]
    node_depth = np.zeros(n_nodes, dtype=np.int64)
    node_depth[seg_node] = np.arange(seg_row.size) - row_ptr[seg_row]
    node_group = np.empty(n_nodes, dtype=np.int64)
    node_group[:G] = np.arange(G)
    node_group[seg_node] = batch.group_index[seg_row]
    node_start = np.zeros(n_nodes, dtype=np.int64)
    node_end = np.zeros(n_nodes, dtype=np.int64)
    node_start[seg_node] = seg_start
    np.maximum.at(node_end, seg_node, seg_end)  # a row that ends inside its last node stops early
    node_count = np.bincount(seg_node, minlength=n_nodes).astype(np.int64)
    node_reward_sum = np.bincount(seg_node, weights=batch.rewards[seg_row], minlength=n_nodes)

    non_root = np.arange(G, n_nodes)
    by_parent = np.argsort(node_parent[non_root], kind="stable")
    child_index = non_root[by_parent]
    child_ptr = np.zeros(n_nodes + 1, dtype=np.int64)
    np.cumsum(np.bincount(node_parent[non_root], minlength=n_nodes), out=child_ptr[1:])
    return Forest(
        kind=kind, n_groups=G, node_parent=node_parent, node_depth=node_depth, node_group=node_group,
        node_start=node_start, node_end=node_end, node_count=node_count, node_reward_sum=node_reward_sum,
        child_ptr=child_ptr, child_index=child_index, seg_row=seg_row, seg_node=seg_node,
        seg_start=seg_start, seg_end=seg_end, row_ptr=row_ptr, lengths=batch.lengths,
        rewards=batch.rewards, response_ids=batch.response_ids,
    )
