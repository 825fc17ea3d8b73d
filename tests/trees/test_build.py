"""build_tree: the public, inspectable builder, and its option errors."""

import numpy as np
import pytest

import treecredit
from treecredit import build_tree

IDS = np.array([[1, 2, 3], [1, 2, 4]])
ARGS = dict(response_ids=IDS, response_mask=np.ones_like(IDS), rewards=np.array([1.0, 0.0]), group_ids=np.zeros(2, int))


def test_build_tree_is_exported_and_light():
    assert treecredit.build_tree is build_tree
    f = build_tree("token", **ARGS)
    shared, left, right = f.token_nodes()[[0, 0, 1], [0, 2, 2]]
    assert f.visit_counts[[0, shared, left, right]].tolist() == [2, 2, 1, 1]
    np.testing.assert_allclose(f.node_values[[0, shared, left, right]], [0.5, 0.5, 1.0, 0.0])
    assert f.children(0).tolist() == [shared] and sorted(f.children(shared).tolist()) == sorted([left, right])
    assert f.n_children.sum() == 3 and f.child_ptr[-1] == 3
    assert f.branch_points() == [(shared, 2, f.children(shared).tolist())]


@pytest.mark.parametrize("kind, options, argument", [
    ("forest", {}, "kind"),
    ("token", {"delimiter": 0}, "kind"),
    ("token", {"tree_nodes": np.zeros((2, 3), int)}, "tree_nodes"),
    ("step", {}, "kind"),  # no step option: the kind, not an estimator, needs steps
    ("step", {"delimiter": 0, "step_tokens": 2}, "step_tokens"),
    ("step", {"step_tokens": 0}, "step_tokens"),
    ("step", {"step_ends": np.ones((2, 2))}, "step_ends"),
    ("explicit", {}, "tree_nodes"),
    ("explicit", {"tree_nodes": np.zeros((2, 2), int)}, "tree_nodes"),
    ("explicit", {"tree_nodes": np.zeros((2, 3)), }, "tree_nodes"),
    ("explicit", {"tree_nodes": np.zeros((2, 3), int), "step_tokens": 1}, "tree_nodes"),
])
def test_bad_options_name_the_argument(kind, options, argument):
    with pytest.raises(ValueError, match=f"^{argument}: .*Fix: "):
        build_tree(kind, **ARGS, **options)


def test_empty_batch_builds_an_empty_forest():
    f = build_tree("token", response_ids=np.zeros((0, 4), int), response_mask=np.zeros((0, 4), int),
                   rewards=np.zeros(0), group_ids=np.zeros(0, int))
    assert f.n_nodes == 0 and f.token_nodes().shape == (0, 4)


def test_a_step_tree_without_steps_names_the_kind_not_an_estimator():
    with pytest.raises(ValueError, match=r"^kind: 'step' builds the step trie, and no step option was given") as info:
        build_tree("step", **ARGS)
    assert "estimator" not in str(info.value)


@pytest.mark.parametrize("node", [999, 5, -1, 1.0, "0", True])
def test_a_node_that_is_not_in_the_forest_is_refused_naming_it(node):
    forest = build_tree("token", **ARGS)
    assert forest.n_nodes == 4
    with pytest.raises(ValueError, match=r"^node: is .*, not a node id of this forest\. Fix: pass an int from 0 to 3 "
                                         r"\(the roots: 0;"):
        forest.children(node)
    assert forest.children(np.int64(0)).tolist() == forest.children(0).tolist()


@pytest.mark.parametrize("shape", [(2, 2), (3, 3), (6,)])
def test_token_values_of_another_shape_are_refused_naming_them(shape):
    forest = build_tree("token", **ARGS)
    with pytest.raises(ValueError, match=r"^token_values: has shape .*expected \(B, T\) of the forest's batch = "
                                         r"\(2, 3\)"):
        forest.node_token_values(np.zeros(shape))
