"""Token and step tries: hand-built groups, degenerate rows, and a forest equal to its groups one by one."""

import numpy as np
import pytest

from treecredit import build_tree
from treecredit.trees.synthetic import synthetic_batch

IDS = np.array([[1, 2, 3, 4], [1, 2, 5, 0], [1, 2, 3, 0], [7, 8, 0, 0], [1, 2, 3, 4]])
MASK = (IDS > 0).astype(int)
REWARDS = np.array([1.0, 0.0, 1.0, 0.0, 0.0])
GROUPS = np.array([0, 0, 0, 0, 1])


def tree(kind="token", ids=IDS, mask=MASK, rewards=REWARDS, groups=GROUPS, **options):
    return build_tree(kind, response_ids=ids, response_mask=mask, rewards=rewards, group_ids=groups, **options)


def spans(forest, group):
    """{(start, end): (count, value)} of a group's non-root nodes, and each row's path as spans."""
    nodes = np.flatnonzero((forest.node_group == group) & (forest.node_parent >= 0))
    return {(int(forest.node_start[s]), int(forest.node_end[s])): (int(forest.node_count[s]),
                                                                   float(forest.node_values[s])) for s in nodes}


def test_token_trie_by_hand():
    f = tree()
    assert f.n_groups == 2 and f.kind == "token"
    # group 0: [1 2] shared by rows 0,1,2; then [3] by rows 0,2 (row 2 ends there), [4] row 0, [5] row 1; [7 8] row 3
    nodes = np.flatnonzero((f.node_group == 0) & (f.node_parent >= 0))
    got = sorted((int(f.node_start[s]), int(f.node_end[s]), int(f.node_count[s])) for s in nodes)
    assert got == [(0, 2, 1), (0, 2, 3), (2, 3, 1), (2, 3, 2), (3, 4, 1)]
    assert f.node_count[0] == 4 and f.node_values[0] == pytest.approx(0.5)
    tok = f.token_nodes()
    assert tok[0, 0] == tok[1, 1] == tok[2, 0] and tok[0, 2] == tok[2, 2] != tok[1, 2]
    assert (tok[1, 3:] == -1).all() and f.node_values[tok[0, 0]] == pytest.approx(2 / 3)
    assert f.node_parent[tok[0, 3]] == tok[0, 2] and f.node_depth[tok[0, 3]] == 3
    assert f.row_last_node[2] == tok[0, 2]  # a prefix of another response ends at an internal node
    points = {node: (pos, sorted(kids)) for node, pos, kids in f.branch_points()}
    assert points[0] == (0, sorted([tok[0, 0], tok[3, 0]]))
    assert points[tok[0, 0]] == (2, sorted([tok[0, 2], tok[1, 2]]))
    assert sorted(f.children(int(tok[0, 0])).tolist()) == sorted([tok[0, 2], tok[1, 2]])
    # group 1 is one response: root plus one node
    assert spans(f, 1) == {(0, 4): (1, 0.0)}


def test_render_shows_counts_values_and_where_responses_end():
    text = tree().render(0)
    assert text.splitlines()[0].startswith("root  n=4  V=0.500")
    assert "[0:2)  n=3  V=0.667  tokens 1 2" in text
    assert "(ends responses [2])" in text
    with pytest.raises(ValueError, match="group"):
        tree().render(5)


def test_identical_responses_share_every_node_and_masked_rows_have_only_the_root():
    ids = np.array([[3, 4, 5], [3, 4, 5], [9, 9, 9]])
    mask = np.array([[1, 1, 1], [1, 1, 1], [0, 0, 0]])
    f = tree(ids=ids, mask=mask, rewards=np.array([1.0, 0.0, 1.0]), groups=np.zeros(3, int))
    assert spans(f, 0) == {(0, 3): (2, 0.5)}
    assert f.node_count[0] == 3  # the empty response still belongs to the group
    assert (f.token_nodes()[2] == -1).all() and f.row_last_node[2] == 0


def test_masked_tool_tokens_stay_in_the_prefix():
    ids = np.array([[1, 7, 2], [1, 8, 2]])
    mask = np.array([[1, 0, 1], [1, 0, 1]])
    f = tree(ids=ids, mask=mask, rewards=np.array([1.0, 0.0]), groups=np.zeros(2, int))
    got = sorted((int(f.node_start[s]), int(f.node_end[s]), float(f.node_values[s])) for s in range(1, f.n_nodes))
    assert got == [(0, 1, 0.5), (1, 3, 0.0), (1, 3, 1.0)]


def test_step_trie_branches_only_at_step_ends():
    ids = np.array([[1, 2, 0, 3, 4, 0], [1, 2, 0, 3, 5, 0], [1, 9, 0, 3, 4, 0]])
    mask = np.ones_like(ids)
    common = dict(ids=ids, mask=mask, rewards=np.array([1.0, 0.0, 1.0]), groups=np.zeros(3, int))
    steps = tree("step", delimiter=0, **common)
    assert steps.kind == "step"
    got = sorted((int(steps.node_start[s]), int(steps.node_end[s]), int(steps.node_count[s]))
                 for s in range(steps.n_groups, steps.n_nodes))
    assert got == [(0, 3, 2), (0, 6, 1), (3, 6, 1), (3, 6, 1)]  # row 2's two steps form one node
    tokens = tree(**common)
    got = sorted((int(tokens.node_start[s]), int(tokens.node_end[s]), int(tokens.node_count[s]))
                 for s in range(tokens.n_groups, tokens.n_nodes))
    assert got == [(0, 1, 3), (1, 4, 2), (1, 6, 1), (4, 6, 1), (4, 6, 1)]


def test_step_trie_compresses_single_child_chains():
    ids = np.array([[1, 0, 2, 0, 3, 0], [1, 0, 2, 0, 4, 0]])
    f = tree("step", ids=ids, mask=np.ones_like(ids), rewards=np.array([1.0, 0.0]), groups=np.zeros(2, int),
             delimiter=0)
    got = sorted((int(f.node_start[s]), int(f.node_end[s])) for s in range(f.n_groups, f.n_nodes))
    assert got == [(0, 4), (4, 6), (4, 6)]


def test_step_boundaries_that_differ_split_equal_tokens():
    ids = np.array([[1, 2, 3, 4], [1, 2, 3, 4]])
    ends = np.array([[0, 1, 0, 1], [1, 0, 0, 1]])
    f = tree("step", ids=ids, mask=np.ones_like(ids), rewards=np.array([1.0, 0.0]), groups=np.zeros(2, int),
             step_ends=ends)
    assert f.n_nodes == 3 and (f.node_parent[1:] == 0).all()


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("kind", ["token", "step"])
def test_forest_equals_its_groups_built_one_by_one(kind, seed):
    data = synthetic_batch(np.random.default_rng(seed), n_groups=4, group_size=5, n_tokens=10, step=2, vocab=3,
                           early_vocab=2)
    options = {"step_tokens": 2} if kind == "step" else {}
    public = {k: data[k] for k in ("response_ids", "response_mask", "rewards", "group_ids")}
    whole = build_tree(kind, **public, **options)
    whole_nodes = whole.token_nodes()
    for g in range(4):
        rows = data["group_ids"] == g
        part = build_tree(kind, **{k: v[rows] for k, v in public.items()}, **options)
        part_nodes = part.token_nodes()
        # same partition of tokens into nodes, with the same counts and values
        for node_whole, node_part in zip(whole_nodes[rows].ravel(), part_nodes.ravel()):
            assert (node_whole < 0) == (node_part < 0)
            if node_whole >= 0:
                assert whole.node_count[node_whole] == part.node_count[node_part]
                assert whole.node_values[node_whole] == pytest.approx(part.node_values[node_part])
        assert part.n_nodes - 1 == int(((whole.node_group == g) & (whole.node_parent >= 0)).sum())


def test_render_with_decoded_text_and_node_advantages():
    from treecredit import compute_advantages

    args = dict(response_ids=IDS, response_mask=MASK, rewards=REWARDS, group_ids=GROUPS)
    f = build_tree("token", **args)
    adv = compute_advantages("spo", **args)
    labels = f.node_token_values(adv)
    shared = f.token_nodes()[0, 0]
    assert labels[shared] == pytest.approx(2 / 3 - 0.5) and labels[0] == 0
    text = f.render(0, node_labels=labels, decode=lambda toks: "".join("abcdefghi"[t] for t in toks))
    assert "[0:2)  n=3  V=0.667  A=+0.167  tokens 'bc'" in text


def test_padding_that_looks_like_tokens_falls_back_to_sentinels(monkeypatch):
    from treecredit.trees import trie

    calls = []
    encode = trie._encode
    monkeypatch.setattr(trie, "_encode", lambda *args: calls.append(1) or encode(*args))
    # row 1 is [4] padded with 0s, byte-equal to row 0 (real 0s): the padded rows sort 0, 1, 2, putting the
    # one-token row 1 between rows 0 and 2, which share four tokens
    ids = np.array([[4, 0, 0, 0, 0], [4, 0, 0, 0, 0], [4, 0, 0, 0, 3]])
    mask = np.array([[1, 1, 1, 1, 1], [1, 0, 0, 0, 0], [1, 1, 1, 1, 1]])
    f = tree(ids=ids, mask=mask, rewards=np.array([1.0, 0.0, 1.0]), groups=np.zeros(3, int))
    assert calls, "the probe should have caught the misleading padding"
    got = sorted((int(f.node_start[s]), int(f.node_end[s]), int(f.node_count[s])) for s in range(1, f.n_nodes))
    assert got == [(0, 1, 3), (1, 4, 2), (4, 5, 1), (4, 5, 1)]
    calls.clear()
    tree(ids=ids, mask=np.ones_like(ids), rewards=np.array([1.0, 0.0, 1.0]), groups=np.zeros(3, int))
    assert not calls  # no padding: the ids are sorted in place


def test_step_trie_finds_a_shared_step_end_far_before_the_split():
    ids = np.ones((2, 210), dtype=int)
    ids[1, 200:] = 2
    ends = np.zeros_like(ids)
    ends[:, [5, 70]] = 1  # the last shared step end lies 130 tokens before the responses part
    f = tree("step", ids=ids, mask=np.ones_like(ids), rewards=np.array([1.0, 0.0]), groups=np.zeros(2, int),
             step_ends=ends)
    got = sorted((int(f.node_start[s]), int(f.node_end[s]), int(f.node_count[s])) for s in range(1, f.n_nodes))
    assert got == [(0, 71, 2), (71, 210, 1), (71, 210, 1)]


def test_one_large_group_matches_the_reference_loops():
    """The LCP-interval builder on one group of 400 rows with deep shared prefixes (issue 8, sizes)."""
    from treecredit import compute_advantages
    from treecredit.reference.tree_estimators import spo_reference, tempo_reference, treerl_reference

    rng = np.random.default_rng(3)
    B, T = 400, 12
    ids = rng.integers(0, 3, (B, T)) * (rng.random((B, T)) < 0.9)  # 3 symbols: long shared prefixes
    lengths = rng.integers(0, T + 1, B)
    mask = (np.arange(T)[None, :] < lengths[:, None]).astype(int)
    rewards = rng.random(B)
    groups = np.zeros(B, int)
    for name, reference in (("tempo", tempo_reference), ("spo", spo_reference), ("treerl", treerl_reference)):
        got = compute_advantages(name, response_ids=ids, response_mask=mask, rewards=rewards, group_ids=groups)
        np.testing.assert_allclose(got, reference(ids, mask, rewards, groups), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("groups,first,second", [([17, 17, 3, 3], 17, 3), (["b", "b", "a", "a"], "b", "a"),
                                                 (np.array([17.0, 17.0, 3.0, 3.0]), 17, 3)])
def test_render_takes_the_callers_group_ids(groups, first, second):
    # was: "group: 17 is not in [0, 2). Fix: pass a dense group number." for the user's own group id
    ids = np.array([[5, 6, 7], [5, 6, 8], [9, 9, 9], [9, 9, 1]])
    f = tree(ids=ids, mask=np.ones_like(ids), rewards=np.array([1.0, 0, 1, 0]), groups=groups)
    assert f.group_ids == (first, second)
    assert "tokens 5 6" in f.render(first) and "tokens 9 9" in f.render(second)
    assert f.render() == f.render(first)
    with pytest.raises(ValueError, match=r"^group: 0 is not a group id of this forest \(its group_ids, in order "
                                         r"of first appearance: .*\)\. Fix: pass one of the group_ids"):
        f.render(0)
