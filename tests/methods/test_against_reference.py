"""The fast estimators against the slow per-token reference loops on random branching groups."""

import numpy as np
import pytest

from treecredit import compute_advantages
from treecredit.batch import make_token_batch
from treecredit.reference.grpo import grpo_reference
from treecredit.reference.tree_estimators import (
    spo_reference,
    tempo_reference,
    treepo_reference,
    treerl_reference,
    treerpo_reference,
    vine_reference,
)
from treecredit.steps import resolve_step_ends
from treecredit.trees.synthetic import synthetic_batch

REFERENCES = {"tempo": tempo_reference, "spo": spo_reference, "treerl": treerl_reference,
              "treerpo": treerpo_reference, "treepo": treepo_reference}
PUBLIC = ("response_ids", "response_mask", "rewards", "group_ids")


def random_batch(seed):
    rng = np.random.default_rng(seed)
    data = synthetic_batch(rng, n_groups=3, group_size=int(rng.integers(1, 7)), n_tokens=int(rng.integers(1, 13)),
                           step=int(rng.integers(1, 4)), vocab=3, early_vocab=2, early_tokens=3,
                           tool_fraction=0.2 if seed % 2 else 0.0)
    if seed % 3 == 0:
        data["rewards"] = rng.random(data["rewards"].size)  # non-binary
    if seed % 5 == 0:  # duplicate a row: identical responses
        for key in ("response_ids", "response_mask", "tree_nodes", "mc_values"):
            data[key][1] = data[key][0]
        data["group_ids"][1] = data["group_ids"][0]
    return data


def tree_variants(data, rng):
    batch = make_token_batch(*(data[k] for k in PUBLIC))
    delimiter = int(rng.integers(0, 3))
    yield {}, {}
    yield {"delimiter": delimiter}, {"step_ends": resolve_step_ends(batch, delimiter=delimiter)}
    yield {"tree_nodes": data["tree_nodes"]}, {"tree_nodes": data["tree_nodes"]}


OPTIONS = {
    "tempo": [{}, {"norm_by_std": False}],
    "spo": [{}, {"norm_by_std": True}],
    "treerl": [{}, {"leave_one_out": True}],
    "treerpo": [{"scale": "std"}, {"scale": "none", "tau": 0.0}, {"scale": "bernoulli", "tau": 0.2}],
    "treepo": [{}, {"weights": "uniform", "whiten": False}],
}


@pytest.mark.parametrize("seed", range(30))
@pytest.mark.parametrize("name", sorted(REFERENCES))
def test_fast_equals_reference(name, seed):
    data = random_batch(seed)
    rng = np.random.default_rng(1000 + seed)
    public = {k: data[k] for k in PUBLIC}
    for tree_opts, ref_opts in tree_variants(data, rng):
        if name == "treerpo" and not tree_opts:
            continue
        for opts in OPTIONS[name]:
            if opts.get("scale") == "bernoulli" and data["rewards"].max() > 1:
                continue
            fast = compute_advantages(name, **public, **tree_opts, **opts)
            slow = REFERENCES[name](*(data[k] for k in PUBLIC), **ref_opts, **opts)
            np.testing.assert_allclose(fast, slow, rtol=1e-4, atol=1e-4, err_msg=f"{name} {tree_opts} {opts}")


@pytest.mark.parametrize("seed", range(20))
def test_vine_and_grpo_equal_reference(seed):
    data = random_batch(seed)
    public = {k: data[k] for k in PUBLIC}
    batch = make_token_batch(*(data[k] for k in PUBLIC))
    ends = resolve_step_ends(batch, step_tokens=2)
    prompt = np.random.default_rng(seed).random(batch.shape[0]) if seed % 2 else None
    fast = compute_advantages("vine", **public, step_tokens=2, mc_values=data["mc_values"], prompt_values=prompt)
    slow = vine_reference(*(data[k] for k in PUBLIC), step_ends=ends, mc_values=data["mc_values"],
                          prompt_values=prompt)
    np.testing.assert_allclose(fast, slow, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(compute_advantages("grpo", **public), grpo_reference(*(data[k] for k in PUBLIC)),
                               rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("seed", range(3))
def test_long_rows_equal_reference(seed):
    """Rows of 64+ tokens take the trie's per-row sentinel path and several compare blocks."""
    data = synthetic_batch(np.random.default_rng(seed), n_groups=3, group_size=4, n_tokens=150, step=40, vocab=3,
                           early_vocab=2, early_tokens=40)
    public = {k: data[k] for k in PUBLIC}
    for name in ("tempo", "treerl"):
        np.testing.assert_allclose(compute_advantages(name, **public),
                                   REFERENCES[name](*(data[k] for k in PUBLIC)), rtol=1e-4, atol=1e-4)
    batch = make_token_batch(*(data[k] for k in PUBLIC))
    for block in (40, 100):  # 100: the search for the last shared step end spans several windows
        np.testing.assert_allclose(compute_advantages("spo", **public, step_tokens=block),
                                   spo_reference(*(data[k] for k in PUBLIC),
                                                 step_ends=resolve_step_ends(batch, step_tokens=block)), atol=1e-5)
