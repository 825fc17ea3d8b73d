"""pack_forest's rows (index arrays into the forest's per-node lists) equal each leaf's path laid out token by
token: ids, compact node ids, log-probabilities, uniforms and lengths, with empty and split nodes."""

import numpy as np

from treecredit.sampling.tree_pack import _RowTable
from treecredit.sampling.tree_table import SampledForest


def random_forest(rng) -> SampledForest:
    forest = SampledForest()
    for group in range(int(rng.integers(1, 4))):
        open_nodes = [forest.add_node(group, -1) for _ in range(int(rng.integers(1, 3)))]
        for _ in range(int(rng.integers(0, 8))):
            parent = open_nodes[int(rng.integers(len(open_nodes)))]
            n = int(rng.integers(0, 5))  # empty nodes too
            forest.tokens[parent] += rng.integers(3, 50, n).tolist()
            forest.logprobs[parent] += (-rng.random(n)).tolist()
            forest.uniforms[parent] += rng.random(n).tolist()
            open_nodes.append(forest.add_node(group, parent))
        for node in open_nodes:
            if not forest.children[node] or rng.random() < 0.5:
                n = int(rng.integers(0, 4))
                forest.tokens[node] += rng.integers(3, 50, n).tolist()
                forest.logprobs[node] += (-rng.random(n)).tolist()
                forest.uniforms[node] += rng.random(n).tolist()
        if len(forest.tokens[open_nodes[0]]) > 2:
            forest.split(open_nodes[0], 0)  # the tail is a new node created after the others
    return forest


def reference_rows(forest, paths, pad):
    compact: dict = {}
    for path in paths:
        for node in path:
            compact.setdefault(node, len(compact))
    rows = {k: [] for k in ("ids", "nodes", "logprobs", "uniforms")}
    for path in paths:
        rows["ids"].append([t for n in path for t in forest.tokens[n]])
        rows["nodes"].append([compact[n] for n in path for _ in forest.tokens[n]])
        rows["logprobs"].append([x for n in path for x in forest.logprobs[n]])
        rows["uniforms"].append([x for n in path for x in forest.uniforms[n]])
    T = max(len(r) for r in rows["ids"])
    fill = {"ids": pad, "nodes": -1, "logprobs": 0.0, "uniforms": 0.0}
    padded = {k: np.array([r + [fill[k]] * (T - len(r)) for r in v]) for k, v in rows.items()}
    return padded, [len(r) for r in rows["ids"]]


def test_rows_equal_the_paths_token_by_token():
    for seed in range(60):
        forest = random_forest(np.random.default_rng(seed))
        paths = [forest.path(leaf) for leaf in forest.leaves()]
        if not any(forest.tokens[n] for path in paths for n in path):
            continue
        table = _RowTable(forest, paths)
        want, lengths = reference_rows(forest, paths, pad=0)
        assert table.lengths.tolist() == lengths and table.width == max(lengths)
        assert np.array_equal(table.rows(table.tokens, 0), want["ids"])
        assert np.array_equal(table.rows(table.compact, -1), want["nodes"])
        for key in ("logprobs", "uniforms"):
            got = table.rows(table.column(getattr(forest, key), np.float64), 0.0)
            assert got.dtype == np.float64 and np.array_equal(got, want[key])
