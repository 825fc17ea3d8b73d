"""The project's error shape (``argument: problem. Fix: fix.``): a message written by fail() splits back."""

import numpy as np
import pytest

import treecredit as tc
from treecredit._validation import fail, split_fix


def test_a_message_splits_into_its_problem_and_fix():
    with pytest.raises(ValueError) as caught:
        fail("steps", "is -1. It must be 1 or more", "pass --steps 1...")
    assert split_fix(str(caught.value)) == ("steps: is -1. It must be 1 or more", "pass --steps 1")
    assert split_fix("KeyError: 'x'.") == ("KeyError: 'x'", "")  # no fix: the whole message, final period off
    assert split_fix("a: b. Fix: c. Fix: d.") == ("a: b", "c. Fix: d")  # the first Fix part starts the fix


# review42 #6: complex numbers and non-integer tree indices are refused, naming the argument


def _tokens(**extra):
    args = dict(response_ids=np.array([[1, 2], [1, 3]]), response_mask=np.ones((2, 2), int),
                rewards=np.array([1.0, 0.0]), group_ids=[0, 0])
    args.update(extra)
    return args


def test_complex_rewards_and_values_are_refused_naming_the_argument():
    with pytest.raises(ValueError, match=r"^rewards: has dtype complex128, expected real numbers"):
        tc.compute_advantages("grpo", **_tokens(rewards=np.array([1 + 5j, 0])))
    with pytest.raises(ValueError, match=r"^mc_values: has dtype complex128, expected real numbers"):
        tc.compute_advantages("vine", **_tokens(mc_values=np.zeros((2, 2), complex)), step_tokens=1)
    with pytest.raises(ValueError, match=r"^prompt_values: has dtype complex64, expected real numbers"):
        tc.compute_advantages("vine", **_tokens(mc_values=np.zeros((2, 2)), prompt_values=np.zeros(2, np.complex64)),
                              step_tokens=1)
    with pytest.raises(ValueError, match=r"^rewards: has dtype complex128, expected real numbers"):
        tc.compute_turn_advantages("rtmc", group_ids=[0, 0], episode_ids=[0, 1], turn_index=[0, 0],
                                   state_sigs=[0, 0], action_sigs=[0, 1], rewards=np.array([1j, 0]))


@pytest.mark.parametrize("argument, values", [("node_parent", [-1, 0.9, 0.2]), ("node_start", [0, 2.7, 2.2]),
                                              ("node_end", [2.0, 3.5, 3.0]), ("leaf_nodes", [1.8, 2.0])])
def test_tree_nodes_from_parents_refuses_non_integer_values(argument, values):
    from treecredit.trees import tree_nodes_from_parents

    args = dict(node_parent=[-1, 0, 0], node_start=[0, 2, 2], node_end=[2, 3, 4], leaf_nodes=[1, 2])
    assert tree_nodes_from_parents(**args).tolist() == [[0, 0, 1, -1], [0, 0, 2, 2]]
    args[argument] = values
    with pytest.raises(ValueError, match=f"^{argument}: has dtype float64, expected integers"):
        tree_nodes_from_parents(**args)
