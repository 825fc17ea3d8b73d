"""pack_rows' trie (rows sorted, each sharing its longest common prefix with the row before) and plan_blocks'
keys (the block's nodes and its first node's ancestors) equal a token-by-token trie and the union of every
query's ancestor path: same nodes in the same order, parents, subtree ends, predictors, sources and blocks."""

import numpy as np
import pytest
import torch

from treecredit.models.packing import _common_prefix, pack_rows, response_lengths


def reference_pack(prompts, ids, lengths, groups, block):
    """The layout by inserting each row token by token into a trie (rows in lexicographic order, tries in order of
    each key's first row), with ancestors collected by walking up from every query of a block."""
    order: dict = {}
    for row, key in enumerate(groups):
        order.setdefault(key, []).append(row)
    token, depth, parent, end, predictors = [], [], [], [], []
    source = torch.full(ids.shape, -1, dtype=torch.long)
    for rows in order.values():
        seqs = {r: list(prompts[r]) + ids[r, : lengths[r]].tolist() for r in rows}
        first, children, paths = len(token), {}, {}
        for r in sorted(rows, key=lambda r: seqs[r]):
            node, path = -1, []
            for d, tok in enumerate(seqs[r]):
                if (node, tok) not in children:
                    children[(node, tok)] = len(token)
                    token.append(tok)
                    depth.append(d)
                    parent.append(node)
                node = children[(node, tok)]
                path.append(node)
            paths[r] = path
        size = [1] * (len(token) - first)
        for i in range(len(token) - 1, first - 1, -1):
            if parent[i] >= 0:
                size[parent[i] - first] += size[i - first]
        end += [first + i + s for i, s in enumerate(size)]
        used = sorted({n for r in rows for n in paths[r][len(prompts[r]) - 1: -1]})
        column = {n: len(predictors) + u for u, n in enumerate(used)}
        predictors += used
        for r in rows:
            preds = paths[r][len(prompts[r]) - 1: -1]
            source[r, : len(preds)] = torch.tensor([column[n] for n in preds], dtype=torch.long)
    nodes = len(token)
    pad = -nodes % block
    token, depth, parent = token + [0] * pad, depth + [0] * pad, parent + [-1] * pad
    end += list(range(nodes + 1, nodes + pad + 1))
    keys = []
    for start in range(0, len(token), block):
        seen: set = set()
        for q in range(start, start + block):
            while q >= 0:
                seen.add(q)
                q = parent[q]
        keys.append(sorted(seen))
    return token, depth, end, predictors or [0], source, keys


def random_rows(rng):
    """Rows with few token values (many shared prefixes), duplicated rows, rows that are prefixes of others,
    empty responses, and rows of one key with different prompts."""
    vocab = int(rng.integers(3, 6))
    n_groups = int(rng.integers(1, 4))
    prompts, rows, groups = [], [], []
    for g in range(n_groups):
        own = [[1] + rng.integers(3, 3 + vocab, size=int(rng.integers(0, 4))).tolist() for _ in range(2)]
        for _ in range(int(rng.integers(1, 9))):
            prompts.append(own[int(rng.integers(2))] if rng.random() < 0.3 else own[0])
            rows.append(rng.integers(3, 3 + vocab, size=int(rng.integers(0, 7))).tolist())
            groups.append(g)
    rows.append(list(rows[0]))  # a duplicate row
    prompts.append(prompts[0])
    groups.append(groups[0])
    T = max(1, max(map(len, rows)))
    ids = torch.zeros((len(rows), T), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = torch.tensor(r, dtype=torch.long)
    lengths = [len(r) if rng.random() < 0.8 else int(rng.integers(0, len(r) + 1)) for r in rows]
    return prompts, ids, lengths, groups


@pytest.mark.parametrize("block", [1, 3, 8, 32])
def test_trie_and_blocks_equal_a_token_by_token_trie(block):
    for seed in range(40):
        prompts, ids, lengths, groups = random_rows(np.random.default_rng(seed))
        packed = pack_rows(prompts, ids, torch.tensor(lengths), torch.tensor(groups), 0, block=block)
        token, depth, end, predictors, source, keys = reference_pack(prompts, ids, lengths, groups, block)
        assert packed.ids[0].tolist() == token and packed.positions[0].tolist() == depth
        assert packed.attend.end.tolist() == end
        assert packed.logits_at[0].tolist() == predictors
        assert torch.equal(packed.source, source)
        for b, want in enumerate(keys):
            got = packed.attend.key_index[b][packed.attend.mask[b].any(0)].tolist()
            assert sorted(set(packed.attend.key_index[b].tolist())) == want and sorted(set(got)) == want


def test_tree_rows_as_the_samplers_give_them():
    """A tree's leaves (shared segments) and i.i.d. rows from one vocabulary: the same as the reference."""
    from test_packing import random_tree_rows

    for seed in range(10):
        for tree in (True, False):
            prompts, ids, mask, groups = random_tree_rows(np.random.default_rng(seed), 6, 3, 8, 9, tree=tree)
            lengths = response_lengths(mask)
            packed = pack_rows(prompts, ids, lengths, groups, 0, block=8)
            token, depth, end, _, source, _ = reference_pack(prompts, ids, lengths.tolist(), groups.tolist(), 8)
            assert packed.ids[0].tolist() == token and packed.attend.end.tolist() == end
            assert torch.equal(packed.source, source)


def test_common_prefix():
    assert _common_prefix([], []) == 0 and _common_prefix([1, 2], []) == 0
    assert _common_prefix([1, 2, 3], [1, 2, 3]) == 3 and _common_prefix([1, 2], [1, 2, 3]) == 2
    for n in range(1, 12):
        for cut in range(n):
            a = list(range(n))
            b = a[:cut] + [-1] + a[cut + 1:]
            assert _common_prefix(a, b) == cut == _common_prefix(b, a)
