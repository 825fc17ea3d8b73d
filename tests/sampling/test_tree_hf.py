"""The tree sampler on a tiny random transformers model: KV reuse via DynamicCache changes no numbers."""

import numpy as np
import pytest
import torch

torch.set_num_threads(1)
transformers = pytest.importorskip("transformers")
tokenizers = pytest.importorskip("tokenizers")

from tree_helpers import check_tree_nodes, replay_row_from_scratch, sample_tree  # noqa: E402

from hf_tiny import local_tokenizer, tiny_llama_config  # noqa: E402
from treecredit.models import HFPolicy  # noqa: E402
from treecredit.tasks import CountdownTask  # noqa: E402


def tiny_llama():
    fast = local_tokenizer(chat_template=False)
    torch.manual_seed(0)
    model = transformers.AutoModelForCausalLM.from_config(tiny_llama_config(len(fast))).to(torch.float64).eval()
    return HFPolicy(model, fast, use_chat_template=False)


@pytest.mark.parametrize("branching, options", [("fixed", {"every": 3}), ("entropy", {"children": 1})])
def test_hf_tree_rows_equal_from_scratch_decoding(branching, options):
    policy = tiny_llama()
    task = CountdownTask()
    problems = task.generate(np.random.default_rng(0), 2)
    r = sample_tree(policy, task, problems, seed=1, max_new_tokens=12, branching=branching,
                    branching_options=options)
    check_tree_nodes(r)
    assert r.generated_tokens < int(r.response_mask.sum())
    for row in range(r.shape[0]):
        tokens, logps = replay_row_from_scratch(policy, r, row)
        assert tokens == r.response_ids[row, : len(tokens)].tolist()
        np.testing.assert_allclose(logps, r.extras["logprobs_f64"][row, : len(tokens)].numpy(), rtol=0, atol=1e-10)


@pytest.mark.parametrize("branching, options, cutoff", [("fixed", {}, "off"), ("entropy", {"children": 1}, "any"),
                                                        ("adaptive", {"rounds": 2}, "off")])
def test_hf_rounds_grow_the_tree_the_in_loop_decoder_grows(branching, options, cutoff):
    from reference_grow import reference_tree
    from test_segment_rounds import _same_rollout

    from treecredit.sampling.tree import TreeSampler

    policy = tiny_llama()
    task = CountdownTask()
    problems = task.generate(np.random.default_rng(0), 2)
    sampler = TreeSampler(max_new_tokens=12, branching=branching, branching_options=options, cutoff=cutoff)
    new = sampler.sample(policy, task, problems, 8, torch.Generator().manual_seed(4))
    seed = int(torch.randint(0, 2**62, (1,), generator=torch.Generator().manual_seed(4)))
    _same_rollout(new, reference_tree(sampler, policy, task, problems, 8, seed))


@pytest.mark.parametrize("branching, options", [("fixed", {"every": 3}), ("entropy", {"forks": 2, "children": 1})])
def test_hf_stream_grows_the_forest_rounds_grow(branching, options):
    """Continuous batching over a transformers cache (rows copied in, cut to a shorter prefix, columns
    dropped): the same forest as rounds."""
    from test_segment_rounds import _same_rollout

    from treecredit.sampling.tree import TreeSampler
    from treecredit.tasks import ArithmeticTask

    policy = tiny_llama()
    task = ArithmeticTask(min_operators=1, max_operators=3)
    problems = task.generate(np.random.default_rng(1), 3)
    a, b = (TreeSampler(max_new_tokens=12, branching=branching, branching_options=options, schedule=s).sample(
        policy, task, problems, 8, torch.Generator().manual_seed(2)) for s in ("rounds", "auto"))
    _same_rollout(b, a)
    assert b.extras["rounds"] == 1
