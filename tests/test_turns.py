"""TurnBatch validation, the multi-turn state graph, discounted returns and spreading turn credit to tokens."""

import numpy as np
import pytest
import torch

import treecredit
from treecredit.turns import build_state_graph, discounted_returns, make_turn_batch, spread_turn_advantages

# Two episodes of one group reach state "C" by different paths: A -x-> B -y-> C and A -z-> D -w-> C.
TWO_PATHS = dict(
    group_ids=[0, 0, 0, 0, 0, 0],
    episode_ids=[10, 10, 10, 11, 11, 11],
    turn_index=[0, 1, 2, 0, 1, 2],
    state_sigs=["A", "B", "C", "A", "D", "C"],
    action_sigs=["x", "y", "stop", "z", "w", "stop"],
    rewards=[0.0, 0.0, 1.0, 0.0, 0.0, 0.0],
)


def test_state_reached_by_two_paths_is_one_node():
    g = build_state_graph(**TWO_PATHS)
    assert g.n_nodes == 4  # A, B, C, D
    node_c = g.turn_node[2]
    assert g.turn_node[5] == node_c and g.node_visits[node_c] == 2
    assert g.node_value[node_c] == 0.5
    assert list(g.state_signatures[g.node_state]) == ["A", "B", "C", "D"]
    # next-node links: B -> C and D -> C, the last turns lead nowhere
    assert g.turn_next_node[1] == node_c and g.turn_next_node[4] == node_c
    assert g.turn_next_node[2] == -1 and g.turn_next_node[5] == -1
    # edge "stop" at C has both visits, and Q̂ − V̂ = 0 there; at A the two actions differ by ±0.5
    stop = g.turn_edge[2]
    assert g.turn_edge[5] == stop and g.edge_visits[stop] == 2 and g.edge_advantage[stop] == 0.0
    np.testing.assert_allclose(g.edge_advantage[g.turn_edge[[0, 3]]], [0.5, -0.5])
    np.testing.assert_allclose(g.edge_value[g.turn_edge[[0, 3]]], [1.0, 0.0])


def test_same_signature_in_two_groups_is_two_nodes():
    g = build_state_graph(group_ids=[0, 1], episode_ids=[0, 1], turn_index=[0, 0], state_sigs=[7, 7],
                          action_sigs=[1, 1], rewards=[1.0, 0.0])
    assert g.n_nodes == 2 and list(g.node_group) == [0, 1] and list(g.node_visits) == [1, 1]


def test_discounted_returns_hand_computed_in_any_row_order():
    # episode 0 turns 0..2 rewards 1, 2, 4; episode 1 one turn reward 3; rows shuffled
    turns = make_turn_batch([0, 0, 0, 0], [0, 1, 0, 0], [2, 0, 0, 1], [1, 2, 3, 4], [0, 0, 0, 0],
                            [4.0, 3.0, 1.0, 2.0])
    np.testing.assert_allclose(discounted_returns(turns, 0.5), [4.0, 3.0, 1 + 0.5 * 2 + 0.25 * 4, 2 + 0.5 * 4])
    np.testing.assert_allclose(discounted_returns(turns, 1.0), [4.0, 3.0, 7.0, 6.0])


def test_signatures_of_many_kinds():
    turns = make_turn_batch([0] * 4, [0, 0, 0, 0], [0, 1, 2, 3], [1, "1", b"1", np.int64(1)],
                            np.array([b"a", b"b", b"a", b"c"]), [0.0] * 4)
    assert list(turns.state_index) == [0, 1, 2, 0]  # 1 and "1" and b"1" differ; np.int64(1) is 1
    assert list(turns.action_index) == [0, 1, 0, 2]
    t = make_turn_batch(torch.tensor([0, 0]), torch.tensor([3, 3]), torch.tensor([1, 0]),
                        torch.tensor([-5, 9]), torch.tensor([2, 2]), torch.tensor([0.0, 1.0]))
    assert list(t.state_index) == [0, 1] and t.rewards.dtype == np.float64


GOOD = dict(group_ids=[0, 0], episode_ids=[0, 0], turn_index=[0, 1], state_sigs=["a", "b"],
            action_sigs=["x", "y"], rewards=[0.0, 1.0])


@pytest.mark.parametrize("over, match", [
    (dict(rewards=[0.0, np.nan]), "rewards: contains NaN"),
    (dict(rewards=[[0.0, 1.0]]), "rewards: has shape"),
    (dict(group_ids=[0, 0, 0]), "group_ids: has 3 entries, expected N = 2"),
    (dict(episode_ids=[0, -1]), "episode_ids: contains negative"),
    (dict(group_ids=[0, 1]), "episode_ids: episode number 0 .* more than one group"),
    (dict(turn_index=[0, 0]), "turn_index: repeats"),
    (dict(turn_index=[0, 2]), "turn_index: episode number 0 has 2 turns but positions up to 2"),
    (dict(turn_index=[0.0, 1.0]), "turn_index: has dtype"),
    (dict(turn_index=[-1, 0]), "turn_index: contains negative"),
    (dict(state_sigs=np.array([0.5, 1.5])), "state_sigs: has dtype float64"),
    (dict(state_sigs=[0.5, 1.5]), "state_sigs: entry 0 is float"),
    (dict(state_sigs=["a", ("b",)]), "state_sigs: entry 1 is tuple"),
    (dict(action_sigs=["x"]), "action_sigs: has 1 entries"),
    (dict(group_ids=[0, "a"]), "group_ids: mixes"),
    # one outcome reward per episode instead of one per turn: rewards is the argument at fault
    (dict(rewards=[1.0]), r"rewards: has 1 entries but group_ids, .* have 2 \(one per turn\).*last turn"),
    (dict(gamma=1.5), r"gamma: is 1.5, a discount must be in \[0, 1\]"),
    (dict(gamma=-0.1), "gamma: is -0.1, must be a finite non-negative"),
])
def test_bad_input_names_the_argument(over, match):
    with pytest.raises(ValueError, match=match) as info:
        treecredit.compute_turn_advantages("rtmc", **{**GOOD, **over})
    assert "Fix:" in str(info.value)


def test_empty_batch():
    out = treecredit.compute_turn_advantages("rtmc", **{k: [] for k in GOOD})
    assert out.shape == (0,)
    g = build_state_graph(**{k: [] for k in GOOD})
    assert g.n_nodes == 0 and g.n_edges == 0


def test_spread_turn_advantages_onto_tokens():
    turn_adv = np.array([0.5, -1.0, 2.0])
    # row 0: prompt/obs (-1), turn 0 tokens, obs, turn 1 tokens, padding; row 1: turn 2
    ids = np.array([[-1, 0, 0, -1, 1, 1, -1], [2, 2, 2, -1, -1, -1, -1]])
    out = spread_turn_advantages(turn_adv, token_turn_ids=ids)
    expected = np.array([[0, 0.5, 0.5, 0, -1, -1, 0], [2, 2, 2, 0, 0, 0, 0]], dtype=np.float32)
    np.testing.assert_array_equal(out, expected)
    assert out.dtype == np.float32
    tout = treecredit.spread_turn_advantages(torch.tensor(turn_adv), token_turn_ids=torch.tensor(ids))
    assert isinstance(tout, torch.Tensor) and tout.dtype == torch.float32
    np.testing.assert_array_equal(tout.numpy(), expected)


@pytest.mark.parametrize("ids, match", [
    (np.array([[0, 3]]), "token_turn_ids: has values in \\[0, 3\\], outside \\[-1, 3\\)"),
    (np.array([[0, -2]]), "token_turn_ids: has values"),
    (np.array([[0.0, 1.0]]), "token_turn_ids: has dtype"),
])
def test_spread_bad_token_turn_ids(ids, match):
    with pytest.raises(ValueError, match=match):
        spread_turn_advantages(np.zeros(3), token_turn_ids=ids)


def test_spread_rejects_nan_turn_advantages():
    with pytest.raises(ValueError, match="turn_advantages: contains NaN"):
        spread_turn_advantages(np.array([np.nan]), token_turn_ids=np.zeros((1, 1), int))


@pytest.mark.parametrize("name", ["grpo", "rtmc", "gigpo"])
def test_torch_in_torch_out_for_turn_estimators(name):
    numpy_out = treecredit.compute_turn_advantages(name, **TWO_PATHS)
    torch_args = {k: torch.tensor(v) for k, v in TWO_PATHS.items() if k not in ("state_sigs", "action_sigs")}
    out = treecredit.compute_turn_advantages(name, state_sigs=TWO_PATHS["state_sigs"],
                                             action_sigs=TWO_PATHS["action_sigs"], **torch_args)
    assert isinstance(out, torch.Tensor) and out.dtype == torch.float32
    np.testing.assert_array_equal(out.numpy(), numpy_out)
