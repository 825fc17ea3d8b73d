"""Rollout trees the obvious way: a node is the set of responses that share a token's prefix.

For each response i and token t < length, ``node_of[i][t]`` is a hashable node key; ``members[key]`` is the
set of responses through that node and ``parent[key]`` its parent key (``ROOT`` for the prompt). The
compressed trie node of token t is identified with D = the set of responses sharing y_i[:t+1] (token trie)
or sharing every step up to the end of t's step (step trie); along one path these sets shrink, so equal
sets are one node. The explicit tree keys nodes by their sampled id.
"""

from __future__ import annotations

ROOT = "root"


def lengths_of(response_mask) -> list[int]:
    out = []
    for row in response_mask:
        n = 0
        for t, m in enumerate(row):
            if m:
                n = t + 1
        out.append(n)
    return out


def group_tree(rows, response_ids, lengths, *, step_ends=None, tree_nodes=None):
    """(node_of, members, parent) for the responses ``rows`` of one group (see the module docstring)."""
    node_of: dict[int, list] = {}
    if tree_nodes is not None:
        for i in rows:
            node_of[i] = [("sampled", int(tree_nodes[i][t])) for t in range(lengths[i])]
    else:
        trie: dict = {}
        through: dict[int, list] = {}
        for i in rows:  # an uncompressed trie, one node per (prefix, token)
            here, path = 0, []
            for t in range(lengths[i]):
                item = (int(response_ids[i][t]), bool(step_ends[i][t]) if step_ends is not None else None)
                here = trie.setdefault((here, item), len(trie) + 1)
                through.setdefault(here, []).append(i)
                path.append(here)
            node_of[i] = path
        for i in rows:
            path = node_of[i]
            keys = []
            for t in range(lengths[i]):
                e = t
                if step_ends is not None:
                    while not step_ends[i][e]:
                        e += 1
                keys.append(frozenset(through[path[e]]))
            node_of[i] = keys
    members: dict = {ROOT: set(rows)}
    parent: dict = {}
    for i in rows:
        prev = ROOT
        for key in node_of[i]:
            members.setdefault(key, set()).add(i)
            if key != prev:
                parent[key] = prev
            prev = key
    return node_of, members, parent


def last_node(node_of, i):
    return node_of[i][-1] if node_of[i] else ROOT
