"""Explicit sampled trees: from tree_nodes, from parent pointers, and the errors for bad trees."""

import numpy as np
import pytest

from treecredit import build_tree
from treecredit.trees import tree_nodes_from_parents

# a sampled tree: node 0 = tokens [0,2) (top), node 1 = [2,4) child of 0, node 2 = [2,3) child of 0,
# node 3 = [4,5) child of 1, node 4 = [0,3) another top node; rows end at nodes 3, 2, 1, 4
PARENT = np.array([-1, 0, 0, 1, -1])
START = np.array([0, 2, 2, 4, 0])
END = np.array([2, 4, 3, 5, 3])
LEAVES = np.array([3, 2, 1, 4])
IDS = np.array([[5, 6, 7, 8, 9], [5, 6, 1, 0, 0], [5, 6, 7, 8, 0], [2, 2, 2, 0, 0]])
REWARDS = np.array([1.0, 0.0, 1.0, 0.0])


def explicit(tree_nodes, ids=IDS, rewards=REWARDS, groups=(0, 0, 0, 0)):
    mask = (tree_nodes >= 0).astype(int)
    return build_tree("explicit", response_ids=ids, response_mask=mask, rewards=rewards,
                      group_ids=np.array(groups), tree_nodes=tree_nodes)


def test_tree_nodes_from_parents_lays_out_root_to_leaf_paths():
    nodes = tree_nodes_from_parents(PARENT, START, END, LEAVES)
    expected = np.array([[0, 0, 1, 1, 3], [0, 0, 2, -1, -1], [0, 0, 1, 1, -1], [4, 4, 4, -1, -1]])
    np.testing.assert_array_equal(nodes, expected)
    assert tree_nodes_from_parents(PARENT, START, END, LEAVES, n_tokens=7).shape == (4, 7)


def test_explicit_forest_keeps_the_sampled_nodes():
    f = explicit(tree_nodes_from_parents(PARENT, START, END, LEAVES))
    assert f.kind == "explicit" and f.n_nodes == 1 + 5
    tok = f.token_nodes()
    assert f.node_count[tok[0, 0]] == 3 and f.node_values[tok[0, 0]] == pytest.approx(2 / 3)
    assert f.node_parent[tok[0, 4]] == tok[0, 2] and f.node_parent[tok[0, 2]] == tok[0, 0]
    assert f.node_parent[tok[3, 0]] == 0 and f.node_depth[tok[0, 4]] == 3
    # node 1 has one child (node 3) and row 2 ends at it; a token trie would have merged differently
    assert f.n_children[tok[0, 2]] == 1 and f.row_last_node[2] == tok[0, 2]


def test_sampled_ids_may_be_any_non_negative_ints():
    nodes = tree_nodes_from_parents(PARENT, START, END, LEAVES)
    renamed = np.where(nodes >= 0, nodes * 10 + 7, -1)
    a, b = explicit(nodes).token_nodes(), explicit(renamed).token_nodes()
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("change, message", [
    (lambda n: n.__setitem__((0, 3), 2), "different"),           # node 2 on two spans / parents
    (lambda n: n.__setitem__((0, 1), -1), "negative node id"),   # -1 inside a response
    (lambda n: n.__setitem__((3, 1), 0), "two separate runs"),   # node 4 interrupted by node 0
])
def test_inconsistent_trees_are_refused(change, message):
    nodes = tree_nodes_from_parents(PARENT, START, END, LEAVES)
    change(nodes)
    with pytest.raises(ValueError, match=f"tree_nodes: .*{message}"):
        explicit(nodes)


def test_same_node_with_different_tokens_or_groups_is_refused():
    nodes = tree_nodes_from_parents(PARENT, START, END, LEAVES)
    ids = IDS.copy()
    ids[1, 0] = 4
    with pytest.raises(ValueError, match="tree_nodes: node id 0 carries different tokens"):
        explicit(nodes, ids=ids)
    with pytest.raises(ValueError, match="tree_nodes: node id 0 has a different group"):
        explicit(nodes, groups=(0, 1, 0, 0))


def test_bad_parent_pointers_are_refused():
    with pytest.raises(ValueError, match="node_start"):
        tree_nodes_from_parents(PARENT, np.array([0, 1, 2, 4, 0]), END, LEAVES)
    with pytest.raises(ValueError, match="node_end"):
        tree_nodes_from_parents(PARENT, START, np.array([2, 4, 2, 5, 3]), LEAVES)
    with pytest.raises(ValueError, match="node_parent"):
        tree_nodes_from_parents(np.array([-1, 0, 0, 9, -1]), START, END, LEAVES)
    with pytest.raises(ValueError, match="n_tokens"):
        tree_nodes_from_parents(PARENT, START, END, LEAVES, n_tokens=3)


def test_tree_branched_looks_for_a_token_shared_by_two_rows():
    import numpy as np

    from treecredit.trees.explicit import tree_branched

    shared = np.array([[0, 0, 1, -1], [0, 0, 2, 2]])
    assert tree_branched(shared)
    assert not tree_branched(np.array([[0, 0, 1, -1], [3, 3, 2, 2]]))  # separate chains
    assert not tree_branched(np.array([[-1, -1], [-1, -1]]))  # no tokens
    mask = np.array([[0, 0, 1, 0], [0, 0, 1, 1]])  # the shared node's tokens are masked out
    assert not tree_branched(shared, mask)


def test_node_token_counts_counts_a_shared_token_once():
    import numpy as np

    from treecredit.trees.explicit import node_token_counts

    shared = np.array([[0, 0, 1, -1], [0, 0, 2, 2]])
    assert node_token_counts(shared) == (7, 5)  # node 0's two tokens are in both rows
    assert node_token_counts(shared, np.array([[0, 0, 1, 0], [0, 0, 1, 1]])) == (3, 3)
    assert node_token_counts(np.full((2, 3), -1)) == (0, 0)
