"""Rollout forests as flat arrays: token trie, step trie and explicitly sampled trees.

See :mod:`treecredit.trees.forest` for the layout (parent index, depth, token span, visit count, reward
sums, path segments) and :func:`build_tree` for the public builder.
"""

from treecredit.trees.build import KINDS, build_tree, forest_for
from treecredit.trees.explicit import build_explicit, tree_nodes_from_parents
from treecredit.trees.forest import Forest, spread_segments
from treecredit.trees.trie import build_trie

__all__ = ["KINDS", "Forest", "build_explicit", "build_tree", "build_trie", "forest_for", "spread_segments",
           "tree_nodes_from_parents"]
