"""Inputs that trainers really produce: never NaN, never a raw crash, every layout and dtype (issue 8)."""

import contextlib
import warnings

import numpy as np
import pytest
import torch

import treecredit
from treecredit import compute_advantages, compute_turn_advantages
from treecredit.registry import get_estimator

TOKEN = treecredit.estimators("token")
TURN = treecredit.estimators("turn")
TREE = ["tempo", "spo", "treerl", "treepo", "treerpo"]  # the estimators that read tree_nodes

IDS = np.array([[1, 2, 3, 4], [1, 2, 5, 0], [1, 2, 3, 0], [7, 8, 0, 0], [1, 2, 3, 4]])
MASK = (IDS > 0).astype(int)
REWARDS = np.array([1.0, 0.0, 1.0, 0.0, 0.0])
GROUPS = np.array([0, 0, 0, 0, 1])


def needs(name, shape, given=()):
    """The options an estimator cannot run without, for a batch of ``shape`` (beyond those ``given``)."""
    spec = get_estimator(name)
    out = {}
    for need in spec.requires:
        if "steps" in need.split("|") and not ("tree" in need.split("|") and "tree_nodes" in given):
            out["step_tokens"] = 1
        if need == "mc_values":
            out["mc_values"] = np.full(shape, 0.5)
    return out


def run(name, ids=IDS, mask=MASK, rewards=REWARDS, groups=GROUPS, **options):
    return compute_advantages(name, response_ids=ids, response_mask=mask, rewards=rewards, group_ids=groups,
                              **{**needs(name, np.shape(ids), options), **options})


TURNS = dict(group_ids=[0, 0, 0, 0, 1], episode_ids=[0, 0, 1, 2, 3], turn_index=[0, 1, 0, 0, 0],
             state_sigs=["s", "t", "s", "s", "s"], action_sigs=["a", "b", "a", "c", "a"],
             rewards=np.array([0.0, 1.0, 0.0, 0.0, 1.0]))


# --- epsilon = 0: 0/0 is 0 everywhere it occurs ------------------------------------------------------
def test_issue_example_epsilon_zero_gives_zero_not_nan():
    with pytest.warns(UserWarning):
        out = compute_advantages("grpo", response_ids=[[1]], response_mask=[[1]], rewards=[1.0], group_ids=[0],
                                 epsilon=0.0)
    assert out.tolist() == [[0.0]]


@pytest.mark.parametrize("name", [n for n in TOKEN if "epsilon" in get_estimator(n).options])
def test_epsilon_zero_on_constant_groups_and_groups_of_one(name):
    extra = {"norm_by_std": True} if "norm_by_std" in get_estimator(name).options else {}
    if name == "treerpo":
        extra = {"scale": "std", "tau": 0.0}
    constant = run(name, rewards=np.full(5, 1.0), epsilon=0.0, **extra)
    assert (constant == 0).all()
    binary_ends = run(name, rewards=np.array([1.0, 1.0, 1.0, 0.0, 1.0]), epsilon=0.0, **extra)
    assert np.isfinite(binary_ends).all()
    assert (binary_ends[4] == 0).all() or name == "treepo"  # group 1 has one response (treepo whitens)
    if name == "treerpo":  # μ(1 − μ) = 0 at a node whose leaves all agree
        assert np.isfinite(run(name, rewards=np.array([1.0, 0.0, 1.0, 0.0, 1.0]), epsilon=0.0)).all()


@pytest.mark.parametrize("name", [n for n in TURN if "epsilon" in get_estimator(n, level="turn").options])
def test_turn_level_epsilon_zero(name):
    data = {**TURNS, "rewards": np.zeros(5)}
    assert (compute_turn_advantages(name, epsilon=0.0, **data) == 0).all()
    out = compute_turn_advantages(name, epsilon=0.0, **TURNS)
    assert np.isfinite(out).all() and out[4] == 0  # episode 3 is alone in its group


# --- a fully masked row is a defined case on every structure -----------------------------------------
@pytest.mark.parametrize("name", TREE)
def test_fully_masked_row_with_tree_nodes_gives_zeros(name):
    out = run(name, ids=np.array([[5]]), mask=np.array([[0]]), rewards=np.array([1.0]), groups=[0],
              tree_nodes=np.array([[-1]]))
    assert out.tolist() == [[0.0]]
    nodes = np.array([[0, 0, 1, 2], [0, 0, 3, -1], [0, 0, 1, -1], [4, 5, -1, -1], [6, 6, 6, 6]])
    mask = MASK.copy()
    mask[2] = 0
    out = run(name, mask=mask, tree_nodes=nodes)
    assert np.isfinite(out).all() and (out[2] == 0).all()


# --- options are checked even on an empty batch, by name ---------------------------------------------
def _bad_values(level):
    for name in treecredit.estimators(level):
        spec = get_estimator(name, level=level)
        for option, default in spec.defaults:
            if isinstance(default, bool):
                yield name, level, option, "no"
            elif isinstance(default, (int, float)):
                yield name, level, option, "x"
            elif isinstance(default, str):
                yield name, level, option, 3


@pytest.mark.parametrize("name, level, option, value", list(_bad_values("token")) + list(_bad_values("turn")))
def test_bad_option_values_named_even_on_an_empty_batch(name, level, option, value):
    with pytest.raises(ValueError, match=f"^{option}: "):
        if level == "token":
            empty = np.zeros((0, 3), int)
            compute_advantages(name, response_ids=empty, response_mask=empty, rewards=np.zeros(0),
                               group_ids=np.zeros(0, int), **{**needs(name, (0, 3)), option: value})
        else:
            compute_turn_advantages(name, group_ids=[], episode_ids=[], turn_index=np.zeros(0, int), state_sigs=[],
                                    action_sigs=[], rewards=np.zeros(0), **{option: value})


@pytest.mark.parametrize("name, option, value", [("grpo", "epsilon", -1.0), ("treerpo", "scale", "huge"),
                                                 ("treepo", "weights", "many"), ("rtmc", "kappa", -1.0)])
def test_out_of_range_options_refused_on_an_empty_batch(name, option, value):
    with pytest.raises(ValueError, match=f"^{option}: "):
        if name == "rtmc":
            compute_turn_advantages(name, group_ids=[], episode_ids=[], turn_index=np.zeros(0, int), state_sigs=[],
                                    action_sigs=[], rewards=np.zeros(0), **{option: value})
        else:
            empty = np.zeros((0, 3), int)
            compute_advantages(name, response_ids=empty, response_mask=empty, rewards=np.zeros(0),
                               group_ids=np.zeros(0, int), **{**needs(name, (0, 3)), option: value})


def test_numpy_scalars_and_zero_d_tensors_are_numbers():
    a = run("grpo", epsilon=np.float32(1e-6), norm_by_std=np.bool_(True))
    b = run("grpo", epsilon=torch.tensor(1e-6), norm_by_std=True)
    np.testing.assert_allclose(a, b)


# --- dtypes: bf16 / fp16 in, the float32 answer out --------------------------------------------------
@pytest.mark.parametrize("name", TOKEN)
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_half_precision_torch_inputs_give_the_float32_answer(name, dtype):
    rewards = torch.tensor([1.0, 0.0, 1.0, 0.0, 0.5])
    ref = run(name, ids=torch.tensor(IDS), mask=torch.tensor(MASK), rewards=rewards)
    opts = {k: (torch.tensor(v, dtype=dtype) if k == "mc_values" else v) for k, v in needs(name, IDS.shape).items()}
    got = run(name, ids=torch.tensor(IDS), mask=torch.tensor(MASK, dtype=dtype), rewards=rewards.to(dtype), **opts)
    assert got.dtype == torch.float32 and got.device == ref.device
    torch.testing.assert_close(got, ref)


def test_bf16_issue_example_and_turn_level():
    got = compute_advantages("grpo", response_ids=torch.tensor([[1], [2]]), response_mask=torch.ones(2, 1),
                             rewards=torch.tensor([1.0, 0.0], dtype=torch.bfloat16), group_ids=[0, 0])
    ref = compute_advantages("grpo", response_ids=torch.tensor([[1], [2]]), response_mask=torch.ones(2, 1),
                             rewards=torch.tensor([1.0, 0.0]), group_ids=[0, 0])
    assert torch.equal(got, ref)
    turn = compute_turn_advantages("rtmc", **{**TURNS, "rewards": torch.tensor(TURNS["rewards"], dtype=torch.bfloat16)})
    np.testing.assert_allclose(turn.numpy(), compute_turn_advantages("rtmc", **TURNS), rtol=1e-6)


# --- left padding: refused by default, handled with padding_side="left" -------------------------------
LEFT_IDS = np.array([[0, 5, 6, 7], [5, 6, 8, 9], [0, 0, 5, 4]])
LEFT_MASK = np.array([[0, 1, 1, 1], [1, 1, 1, 1], [0, 0, 1, 1]])
RIGHT_IDS = np.array([[5, 6, 7, 0], [5, 6, 8, 9], [5, 4, 0, 0]])
RIGHT_MASK = np.array([[1, 1, 1, 0], [1, 1, 1, 1], [1, 1, 0, 0]])
LEFT = dict(response_ids=LEFT_IDS, response_mask=LEFT_MASK, rewards=[1.0, 0.0, 0.0], group_ids=[0, 0, 0])


def test_issue_example_left_padding():
    with pytest.raises(ValueError, match="^response_mask: looks left-padded.*padding_side='left'"):
        compute_advantages("tempo", **LEFT)
    out = compute_advantages("tempo", **LEFT, padding_side="left")
    np.testing.assert_allclose(out[0, 1:], [1.155, 1.443, 2.021], atol=1e-3)
    assert out[0, 0] == 0 and (out[2, :2] == 0).all()


@pytest.mark.parametrize("name", TOKEN)
def test_left_padding_equals_right_padding_moved(name):
    def shift_left(a, pad):  # right-padded layout -> left-padded
        return np.stack([np.roll(row, p) for row, p in zip(a, pad)])
    pad = np.array([1, 0, 2])
    opts = needs(name, RIGHT_IDS.shape)
    right = compute_advantages(name, response_ids=RIGHT_IDS, response_mask=RIGHT_MASK, rewards=[1.0, 0.0, 0.0],
                               group_ids=[0, 0, 0], **opts)
    left_opts = {k: (shift_left(v, pad) if np.ndim(v) == 2 else v) for k, v in opts.items()}
    left = compute_advantages(name, **LEFT, padding_side="left", **left_opts)
    np.testing.assert_array_equal(left, shift_left(right, pad))
    left_t = compute_advantages(name, **{**LEFT, "response_ids": torch.tensor(LEFT_IDS)}, padding_side="left",
                                **left_opts)
    np.testing.assert_array_equal(left_t.numpy(), left)


def test_build_tree_follows_padding_side():
    with pytest.raises(ValueError, match="^response_mask: looks left-padded"):
        treecredit.build_tree("token", **LEFT)
    left = treecredit.build_tree("token", **LEFT, padding_side="left")
    right = treecredit.build_tree("token", response_ids=RIGHT_IDS, response_mask=RIGHT_MASK, rewards=[1.0, 0.0, 0.0],
                                  group_ids=[0, 0, 0])
    assert left.render(0) == right.render(0)


def test_left_padded_tree_nodes_and_step_ends_move_with_the_rows():
    nodes_right = np.array([[0, 1, 1, -1], [0, 2, 2, 2], [3, 3, -1, -1]])
    right = compute_advantages("treerpo", response_ids=RIGHT_IDS, response_mask=RIGHT_MASK, rewards=[1.0, 0.0, 0.0],
                               group_ids=[0, 0, 0], tree_nodes=nodes_right, scale="none")
    nodes_left = np.array([[-1, 0, 1, 1], [0, 2, 2, 2], [-1, -1, 3, 3]])
    left = compute_advantages("treerpo", **LEFT, padding_side="left", tree_nodes=nodes_left, scale="none")
    np.testing.assert_array_equal(left[0, 1:], right[0, :3])
    np.testing.assert_array_equal(left[2, 2:], right[2, :2])


def test_padding_side_right_trusts_the_layout_and_bad_values_are_named():
    full = dict(response_ids=[[1, 2], [1, 3]], response_mask=[[0, 1], [1, 1]], rewards=[1.0, 0.0], group_ids=[0, 0])
    with pytest.raises(ValueError, match="^response_mask: looks left-padded"):
        compute_advantages("tempo", **full)
    assert np.isfinite(compute_advantages("tempo", **full, padding_side="right")).all()
    with pytest.raises(ValueError, match="^padding_side: "):
        compute_advantages("tempo", **full, padding_side="middle")
    # right-padded batches of different lengths are never mistaken for left padding
    compute_advantages("tempo", response_ids=RIGHT_IDS, response_mask=RIGHT_MASK, rewards=[1.0, 0, 0],
                       group_ids=[0, 0, 0])


def test_left_padding_is_found_when_a_row_ends_in_a_masked_tool_token():
    # was: the check read the last column, so one row ending in a masked tool token hid the left padding of
    # all the others and spo silently returned plain Dr. GRPO (no shared prefix found)
    ids = np.array([[0, 0, 5, 6, 7], [0, 5, 6, 8, 9], [0, 0, 5, 6, 7], [0, 5, 6, 8, 9]])
    mask = np.array([[0, 0, 1, 1, 1], [0, 1, 1, 1, 1], [0, 0, 1, 1, 1], [0, 1, 1, 1, 0]])
    batch = dict(response_ids=ids, response_mask=mask, rewards=[1.0, 0.0, 0.0, 1.0], group_ids=[0, 0, 1, 1])
    with pytest.raises(ValueError, match="^response_mask: looks left-padded.*padding_side='left'"):
        compute_advantages("spo", **batch)
    with pytest.raises(ValueError, match="^response_mask: looks left-padded"):
        treecredit.build_tree("token", **batch)
    out = compute_advantages("spo", **batch, padding_side="left")
    assert (out[0, 2:4] == 0).all() and (out[1, 1:3] == 0).all()  # the shared prefix 5 6 gets no credit
    assert out[0, 4] > 0 and (out[1, 3:] < 0).all()
    # right padding with a response that begins with a masked tool token: most rows start on the first column.
    # With these ids no padding id repeats at the rows' ends, so the mask alone reads it: a tie, read as
    # right-padded, with the warning (asserted: it was left unasserted); a repeated pad id tells it, unwarned
    right = np.array([[0, 1, 1, 0, 0], [1, 1, 1, 1, 1], [1, 1, 0, 0, 0], [1, 1, 1, 0, 0]])
    with pytest.warns(UserWarning, match="^response_mask: the padding side cannot be told"):
        compute_advantages("spo", **{**batch, "response_mask": right})
    padded = np.array([[4, 5, 6, 0, 0], [5, 6, 8, 9, 7], [5, 6, 0, 0, 0], [5, 6, 8, 0, 0]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        compute_advantages("spo", **{**batch, "response_ids": padded, "response_mask": right})


@pytest.mark.parametrize("big", [1e300, 1e39, 1e31])
def test_rewards_too_large_to_compute_with_are_refused_naming_rewards(big):
    # was: ±1e300 silently gave a group 0 (std overflow); ±1e39 blamed the built-in dr_grpo ("guard its divisions")
    rewards = np.array([big, -big, 1.0, 0.0, 0.0])
    for name in TOKEN:
        with pytest.raises(ValueError, match=r"^rewards: reach 1e\+(300|39|31) in magnitude.*Fix: rescale the rewards"):
            run(name, rewards=rewards)
    for name in TURN:
        with pytest.raises(ValueError, match=r"^rewards: reach .*Fix: rescale the rewards"):
            compute_turn_advantages(name, **{**TURNS, "rewards": rewards})
    for name in TOKEN:  # up to the limit: finite advantages from every estimator
        scale = {"scale": "std"} if name == "treerpo" else {}
        assert np.isfinite(run(name, rewards=rewards / big * 1e30, **scale)).all()


# --- group ids -----------------------------------------------------------------------------------
@pytest.mark.parametrize("groups", [[1, "1"], np.array([1, "1"], dtype=object), [0, 1.5]])
def test_mixed_group_id_types_refused_by_both_apis(groups):
    with pytest.raises(ValueError, match="^group_ids: "):
        compute_advantages("grpo", response_ids=[[1], [2]], response_mask=[[1], [1]], rewards=[1.0, 0.0],
                           group_ids=groups)
    with pytest.raises(ValueError, match="^group_ids: "):
        compute_turn_advantages("grpo", group_ids=groups, episode_ids=[0, 1], turn_index=[0, 0], state_sigs=[1, 2],
                                action_sigs=[1, 2], rewards=[1.0, 0.0])


def test_numpy_integer_and_string_lists_are_fine():
    a = run("grpo", groups=[np.int64(0)] * 4 + [np.int64(1)])
    b = run("grpo", groups=["a"] * 4 + ["b"])
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", TOKEN)
def test_warning_when_no_group_has_two_responses(name):
    if "mc_values" in get_estimator(name).requires:
        run(name, groups=np.arange(5))  # Monte Carlo values give credit without a group: no warning
        return
    with pytest.warns(UserWarning, match="^group_ids: no group has two responses"):
        out = run(name, groups=np.arange(5))
    assert (out == 0).all() or name == "treepo"  # treepo whitens over the batch


def test_turn_level_warning_when_no_group_has_two_episodes():
    with pytest.warns(UserWarning, match="no group has two episodes"):
        compute_turn_advantages("gigpo", **{**TURNS, "group_ids": [0, 0, 1, 2, 3]})


# --- a multi-turn leaf that ends in masked observation tokens inside a shared node -------------------
TOOL_IDS = np.array([[1, 2, 9, 9, 3, 4], [1, 2, 9, 9, 0, 0], [1, 2, 9, 9, 5, 6]])
TOOL_MASK = np.array([[1, 1, 0, 0, 1, 1], [1, 1, 0, 0, 0, 0], [1, 1, 0, 0, 1, 1]])
TOOL_NODES = np.array([[0, 0, 0, 0, 1, 1], [0, 0, 0, 0, -1, -1], [0, 0, 0, 0, 2, 2]])


@pytest.mark.parametrize("name", TREE)
def test_leaf_ending_in_masked_tool_tokens_inside_a_shared_node_is_accepted(name):
    batch = dict(response_ids=TOOL_IDS, response_mask=TOOL_MASK, rewards=[1.0, 0.0, 0.0], group_ids=[0, 0, 0])
    out = compute_advantages(name, **batch, tree_nodes=TOOL_NODES)
    cut = TOOL_NODES.copy()
    cut[1, 2:] = -1  # the same row with its observation tokens marked as padding
    np.testing.assert_array_equal(out, compute_advantages(name, **batch, tree_nodes=cut))
    if name == "spo":  # V(node 1) − V(node 0) = 1 − 1/3
        np.testing.assert_allclose(out[0, 4:], [2 / 3, 2 / 3], rtol=1e-6)
    forest = treecredit.build_tree("explicit", **batch, tree_nodes=TOOL_NODES)
    assert forest.node_end.tolist() == [0, 4, 6, 6]


def test_a_node_that_really_differs_in_end_is_still_refused():
    nodes = np.array([[0, 0, 0, 0, 1, 1], [0, 0, 0, 2, 2, 2], [0, 0, 0, 0, 3, 3]])
    ids = np.array([[1, 2, 9, 9, 3, 4], [1, 2, 9, 9, 3, 4], [1, 2, 9, 9, 5, 6]])
    with pytest.raises(ValueError, match="^tree_nodes: node id 0 has a different end position"):
        compute_advantages("spo", response_ids=ids, response_mask=np.ones((3, 6)), rewards=[1.0, 0.0, 0.0],
                           group_ids=[0, 0, 0], tree_nodes=nodes)


# --- huge token ids ----------------------------------------------------------------------------------
def test_uint64_ids_beyond_int64_refused_not_wrapped():
    ids = np.array([[2**64 - 1, 1], [2**63, 2]], dtype=np.uint64)  # 2**64 - 1 would wrap to -1, the padding marker
    for name in ("tempo", "ibpo"):
        with pytest.raises(ValueError, match="^response_ids: .*beyond int64.*np.unique"):
            compute_advantages(name, response_ids=ids, response_mask=np.ones((2, 2)), rewards=[1.0, 0.0],
                               group_ids=[0, 0])
    with pytest.raises(ValueError, match="^tree_nodes: .*beyond int64"):
        compute_advantages("spo", response_ids=[[1, 2]], response_mask=[[1, 1]], rewards=[1.0], group_ids=[0],
                           tree_nodes=np.array([[2**63, 2**63]], dtype=np.uint64))
    with pytest.raises(ValueError, match="^delimiter: .*beyond int64"):
        compute_advantages("tempo", response_ids=[[1, 2]], response_mask=[[1, 1]], rewards=[1.0], group_ids=[0],
                           delimiter=np.array([2**63], dtype=np.uint64))


@pytest.mark.parametrize("option", [{}, {"step_tokens": 1}, {"step_ends": np.eye(3, dtype=int)}])
def test_ids_near_int64_max_build_the_same_tries(option):
    big = 2**63 - 10
    ids = np.array([[big, big + 1, 5], [big, big + 1, 6], [big, 7, 8]], dtype=np.uint64)
    small = np.array([[100, 101, 5], [100, 101, 6], [100, 7, 8]])
    kw = dict(response_mask=np.ones((3, 3)), rewards=[1.0, 0.0, 0.0], group_ids=[0, 0, 0], **option)
    for name in ("tempo", "spo", "ibpo"):
        np.testing.assert_array_equal(compute_advantages(name, response_ids=ids, **kw),
                                      compute_advantages(name, response_ids=small, **kw))


@pytest.mark.parametrize("mask, tie", [
    ([[0, 1, 1, 0, 0], [1, 1, 1, 1, 1]], True),  # half the rows reach the last column
    ([[0, 1, 1, 0, 0], [0, 1, 1, 1, 0], [0, 1, 0, 0, 0], [0, 1, 1, 0, 0]], False),  # none reaches it
    ([[0, 1, 1, 1, 0]], False),  # one row, stopping short of it
    ([[1, 1, 1, 1, 1], [0, 1, 1, 1, 1], [1, 1, 1, 0, 0], [0, 1, 1, 0, 0]], True),
])
@pytest.mark.filterwarnings("ignore:group_ids. no group has two responses")
def test_right_padding_with_masked_header_tokens_is_not_taken_for_left_padding(mask, tie):
    # was (9f8e34a): "as many rows end on the last column as start on the first" counted 0 >= 0 and 1 >= 1 as
    # left padding, so right-padded batches whose responses begin with a masked header token were refused.
    # These ids repeat no padding id, so the mask alone reads the side: where it ties, the batch is read as
    # right-padded with the warning (asserted: it was left unasserted)
    mask = np.array(mask)
    B, T = mask.shape
    ids = (np.arange(B * T).reshape(B, T) % 7) + 1
    batch = dict(response_ids=ids, response_mask=mask, rewards=np.linspace(0.0, 1.0, B), group_ids=[0] * B)
    for call in (lambda: compute_advantages("spo", **batch), lambda: treecredit.build_tree("token", **batch),
                 lambda: treecredit.step_ends_from_text(ids, _CharTokenizer(), "a", mask)):
        with pytest.warns(UserWarning, match="^response_mask: the padding side cannot be told") if tie else \
                contextlib.nullcontext():
            call()


class _CharTokenizer:
    def decode(self, ids):
        return "".join("ab"[i % 2] for i in ids)
