"""TreeCreditGRPOTrainer(sampler="tree"): tree rollouts inside TRL on CPU, tree_nodes reaching the loss.

Also the tripwire that fails loudly if TRL's loss stops using (B, T) advantages per token.
"""

import sys
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("trl")
datasets = pytest.importorskip("datasets")

sys.path.insert(0, str(Path(__file__).parent))

from test_trl import LETTER_IDS, NUM_GENERATIONS, PER_DEVICE_BATCH, _tiny_model, _tokenizer, count_a, count_letters  # noqa: E402

import treecredit  # noqa: E402
from treecredit.integrations.trl import TreeCreditGRPOTrainer  # noqa: E402

TREE = {"children": 2, "depth": 1, "every": 2}  # two roots per group, each forking in two after 2 tokens


class TreeRecordingTrainer(TreeCreditGRPOTrainer):
    """Records the generation batch, the tree it came from and the loss inputs."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.generated, self.loss_inputs = [], []

    def _rollout_options(self, output, all_ids, all_mask):
        options = super()._rollout_options(output, all_ids, all_mask)
        self.generated.append({"completion_ids": output["completion_ids"].clone(),
                               "completion_mask": output["completion_mask"].clone(),
                               **{k: torch.as_tensor(v).clone() for k, v in options.items()}})
        return options

    def _generate_and_score_completions(self, inputs):
        output = super()._generate_and_score_completions(inputs)
        self.generated[-1]["advantages"] = output["advantages"].clone()
        return output

    def _compute_loss(self, model, inputs):
        self.loss_inputs.append({k: v.clone() if isinstance(v, torch.Tensor) else v for k, v in inputs.items()})
        return super()._compute_loss(model, inputs)


TRL_DEFAULT = object()
"""A setting passed as TRL_DEFAULT is left out of GRPOConfig(...), i.e. at TRL's default."""


def _args(tmp_path, **overrides):
    from trl import GRPOConfig

    settings = dict(output_dir=str(tmp_path), use_cpu=True, bf16=False, per_device_train_batch_size=PER_DEVICE_BATCH,
                    num_generations=NUM_GENERATIONS, max_completion_length=6, max_steps=1, learning_rate=1e-3,
                    beta=0.0, report_to="none", save_strategy="no", seed=0, temperature=1.5,
                    dataloader_num_workers=0)
    return GRPOConfig(**{k: v for k, v in {**settings, **overrides}.items() if v is not TRL_DEFAULT})


def _train(tmp_path, estimator="tempo", max_steps=1, reward=count_letters, args=None, **kwargs):
    torch.set_num_threads(1)
    tokenizer = _tokenizer()
    dataset = datasets.Dataset.from_dict({"prompt": ["1+2=", "ab", "3+4=", "ba", "5+6=", "cd", "7+8=", "dc"]})
    trainer = TreeRecordingTrainer(model=_tiny_model(tokenizer), reward_funcs=reward,
                                   args=args or _args(tmp_path, max_steps=max_steps), train_dataset=dataset,
                                   processing_class=tokenizer, estimator=estimator, **kwargs)
    trainer.train()
    return trainer


def check_tree(ids, mask, nodes, group_size):
    """Equal node ids ⇒ equal tokens at equal positions; nodes never cross groups; some group branches."""
    branched = False
    groups = np.arange(ids.shape[0]) // group_size
    seen: dict = {}
    for row in range(ids.shape[0]):
        for t in np.flatnonzero(mask[row]):
            key = (int(nodes[row, t]), int(t))
            assert nodes[row, t] >= 0
            token, group = seen.setdefault(key, (int(ids[row, t]), groups[row]))
            assert token == ids[row, t] and group == groups[row], "a tree node holds different tokens"
    for g in set(groups):
        rows = np.flatnonzero(groups == g)
        first = nodes[rows, 0]
        branched |= len(set(first.tolist())) < len(rows)  # two leaves share their first node
    assert branched, "no group shares a prefix: the sampler did not branch"


def test_tree_rollouts_reach_the_loss_as_the_estimator_returned_them(tmp_path):
    trainer = _train(tmp_path, sampler="tree", branching="fixed", branching_options=TREE)
    generated = trainer.generated[0]
    ids, mask, nodes = generated["completion_ids"], generated["completion_mask"], generated["tree_nodes"]
    assert ids.shape[0] == PER_DEVICE_BATCH  # TRL got num_generations completions per prompt
    check_tree(ids.numpy(), mask.numpy().astype(bool), nodes.numpy(), NUM_GENERATIONS)
    rewards = torch.tensor(count_letters(ids.tolist()))
    groups = torch.arange(ids.shape[0]) // NUM_GENERATIONS
    expected = treecredit.compute_advantages("tempo", response_ids=ids, response_mask=mask, rewards=rewards,
                                             group_ids=groups, tree_nodes=nodes)
    torch.testing.assert_close(generated["advantages"], expected)
    assert generated["advantages"].abs().sum() > 0, "no reward spread: weak test"
    seen = trainer.loss_inputs[0]
    for row_ids, adv in zip(seen["completion_ids"], seen["advantages"]):
        same = (ids == row_ids).all(dim=1)
        assert same.any()
        torch.testing.assert_close(generated["advantages"][same], adv.expand(int(same.sum()), -1))


def test_tree_rollouts_of_a_float32_model_run_under_trls_default_mixed_precision(tmp_path):
    # TRL's default bf16 wraps the model's forward in autocast; the tree sampler used to mix a bfloat16
    # cache with float32 decoding ("Expected query, key, and value to have the same dtype").
    args = _args(tmp_path, bf16=TRL_DEFAULT)
    assert args.bf16, "TRL's default is no longer bf16: this test no longer tests mixed precision"
    trainer = _train(tmp_path, sampler="tree", branching="fixed", branching_options=TREE, args=args)
    generated = trainer.generated[0]
    assert next(trainer.model.parameters()).dtype == torch.float32
    check_tree(generated["completion_ids"].numpy(), generated["completion_mask"].numpy().astype(bool),
               generated["tree_nodes"].numpy(), NUM_GENERATIONS)
    assert "_original_forward" in trainer.model.__dict__, "accelerate did not wrap forward: weak test"
    assert trainer.model.forward is not trainer.model._original_forward, "TRL's autocast wrapper was not put back"


def test_own_precision_runs_the_plain_forward_without_autocast_and_puts_the_wrapper_back():
    from treecredit.integrations.trl_tree import own_precision

    model = torch.nn.Linear(2, 2)
    plain = model.forward
    model._original_forward = plain

    def wrapped(x):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            return plain(x)
    model.forward = wrapped
    x = torch.ones(1, 2)
    assert model(x).dtype == torch.bfloat16
    with torch.autocast("cpu", dtype=torch.bfloat16), own_precision(model) as same:
        assert same is model and model(x).dtype == torch.float32
        assert (model.weight @ x.T).dtype == torch.float32  # an outer autocast is off too
    assert model.forward is wrapped
    with pytest.raises(KeyError), own_precision(model):
        raise KeyError("boom")
    assert model.forward is wrapped


def test_step_pattern_gives_step_ends_to_estimators_without_a_tree(tmp_path):
    trainer = _train(tmp_path, estimator="ibpo", step_pattern="a", reward=count_a)
    generated = trainer.generated[0]
    ids, mask = generated["completion_ids"], generated["completion_mask"]
    ends = treecredit.step_ends_from_text(ids, _tokenizer(), "a", response_mask=mask)
    np.testing.assert_array_equal(generated["step_ends"].numpy(), ends)
    rewards = torch.tensor(count_a(ids.tolist()))
    expected = treecredit.compute_advantages("ibpo", response_ids=ids, response_mask=mask, rewards=rewards,
                                             group_ids=torch.arange(ids.shape[0]) // NUM_GENERATIONS, step_ends=ends)
    torch.testing.assert_close(generated["advantages"], expected)


def test_server_mode_is_accepted_and_its_colocate_only_settings_are_not_checked(tmp_path):
    from treecredit.integrations._trl_checks import tree_sampler

    args = _args(tmp_path)
    args.__dict__.update({"use_vllm": True, "vllm_mode": "server", "vllm_tensor_parallel_size": 2})
    sampler = tree_sampler(args, "fixed", dict(TREE), None, {})
    assert sampler.max_new_tokens == 6 and sampler.temperature == 1.5


@pytest.mark.parametrize("overrides,kwargs,match", [
    ({"use_vllm": True, "vllm_enable_sleep_mode": True}, {"sampler": "tree"}, "vllm_enable_sleep_mode: "),
    ({"use_vllm": True, "vllm_tensor_parallel_size": 2}, {"sampler": "tree"}, "vllm_tensor_parallel_size: "),
    ({"top_k": 5}, {"sampler": "tree"}, "top_k: "),
    ({"temperature": 0.0}, {"sampler": "tree"}, r"temperature: is 0\.0; tree rollouts sample"),  # not a later 1/0
    ({}, {"sampler": "beam"}, "sampler: "),
    ({"num_generations": 8}, {"sampler": "tree", "branching_options": {"children": 3, "depth": 2}},
     r"num_generations: is 8; .*children\*\*depth = 3\*\*2 = 9 .*Fix: pass num_generations as a multiple of 9"),
    ({"num_generations_eval": 3}, {"sampler": "tree", "branching_options": {"children": 2, "depth": 1}},
     r"num_generations_eval: is 3; .*= 2"),
    ({}, {"sampler": "tree", "branching": "entropy", "branching_options": {"chains": 5}},
     r"num_generations: is 4, below branching_options chains=5"),
    ({}, {"sampler": "tree", "branching": "nope"}, "branching: "),
    ({}, {"branching": "adaptive"}, "branching: .*sampler='iid' would ignore them"),
    ({}, {"branching_options": {"chains": 4}}, "branching: .*sampler='iid' would ignore them"),
])
def test_what_the_tree_sampler_cannot_honour_is_refused_before_any_model(tmp_path, overrides, kwargs, match):
    from trl import GRPOConfig

    try:
        args = _args(tmp_path, **overrides)
    except Exception:  # this TRL validates the setting itself (e.g. vLLM not importable)
        args = GRPOConfig.__new__(GRPOConfig)
        args.__dict__.update({"temperature": 1.0, "top_p": 1.0, "max_completion_length": 6, "top_k": 0,
                              "min_p": None, "repetition_penalty": 1.0, **overrides})
    with pytest.raises(ValueError, match=match):
        TreeCreditGRPOTrainer(model=None, args=args, estimator="grpo", **kwargs)


def test_trls_loss_uses_per_token_advantages(tmp_path):
    # Tripwire: TRL's maintainers do not plan finer-grained advantages (trl issue 7182, PR 7331). If a TRL
    # release stops using a (B, T) advantage token by token, this fails: row-constant (B, T) advantages
    # must give the loss of the (B,) ones, and changing one token's advantage must change the loss.
    trainer = _train(tmp_path, "grpo", reward=count_a)
    inputs = dict(trainer.loss_inputs[0])
    mask = inputs["completion_mask"].bool()
    per_row = torch.linspace(-1.0, 1.0, mask.shape[0])
    trainer.model.eval()

    def loss(advantages):
        return float(trainer._compute_loss(trainer.model, {**inputs, "advantages": advantages}).detach())

    row_constant = per_row[:, None].expand(mask.shape).clone()
    assert loss(row_constant) == pytest.approx(loss(per_row), rel=1e-5, abs=1e-7)
    row, t = [int(i) for i in torch.nonzero(mask)[0]]
    changed = row_constant.clone()
    changed[row, t] += 5.0
    assert abs(loss(changed) - loss(row_constant)) > 1e-6, "TRL's loss ignored a per-token advantage"


@pytest.mark.slow
def test_two_processes_keep_each_trees_leaves_in_one_group(tmp_path):
    # torchrun, 2 CPU processes x 2 rows, num_generations=4: one group (one tree) split over the processes.
    import os
    import subprocess

    here = Path(__file__).parent
    env = {**os.environ, "PYTHONPATH": str(here.parents[1] / "src"), "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2",
                    str(here / "trl_two_processes.py"), str(tmp_path), "tempo", "tree"], check=True, env=env,
                   cwd=tmp_path, capture_output=True, timeout=300)
    ranks = [torch.load(tmp_path / f"rank{r}.pt") for r in (0, 1)]
    gathered = [r["generated"][0] for r in ranks]
    # every process gathered the same all-rows tree_nodes; its own rows are its slice
    torch.testing.assert_close(gathered[0]["tree_nodes"], gathered[1]["tree_nodes"])
    nodes = gathered[0]["tree_nodes"]
    width = nodes.shape[1]

    def pad(x, value=0):
        return torch.nn.functional.pad(x, (0, width - x.shape[1]), value=value)

    ids = torch.cat([pad(g["completion_ids"]) for g in gathered])
    mask = torch.cat([pad(g["completion_mask"]) for g in gathered])
    check_tree(ids.numpy(), mask.numpy().astype(bool), nodes.numpy(), 4)
    assert len({int(n) >> 32 for n in nodes[nodes >= 0]}) == 1, "one process grew the whole tree"
    rewards = torch.tensor(count_letters(ids.tolist()))
    assert rewards.std() > 0, "no reward spread: weak test"
    expected = treecredit.compute_advantages("tempo", response_ids=ids, response_mask=mask, rewards=rewards,
                                             group_ids=torch.zeros(4, dtype=torch.long), tree_nodes=nodes)
    for rank, g in enumerate(gathered):
        t = g["completion_ids"].shape[1]
        torch.testing.assert_close(g["advantages"], expected[2 * rank:2 * rank + 2, :t])


TARGETS = {"1+2=": "a", "ab": "b", "3+4=": "c", "ba": "d", "5+6=": "e", "cd": "f", "7+8=": "g", "dc": "h"}
ADAPTIVE = {"chains": 2, "rounds": 2, "max_children": 2}


def _train_with_target(tmp_path, reward, branching, options):
    torch.set_num_threads(1)
    tokenizer = _tokenizer()
    dataset = datasets.Dataset.from_dict({"prompt": list(TARGETS), "target": list(TARGETS.values())})
    trainer = TreeRecordingTrainer(model=_tiny_model(tokenizer), reward_funcs=reward, args=_args(tmp_path),
                                   train_dataset=dataset, processing_class=tokenizer, estimator="tempo",
                                   sampler="tree", branching=branching, branching_options=options, step_pattern=" ")
    trainer.train()
    return trainer


def _target_letters(calls):
    from test_trl import VOCAB

    def reward(prompts, completions, completion_ids, target, **kwargs):
        calls.append((list(prompts), list(target), len(completions)))
        # in [0, 1], as adaptive branching assumes: the share of letters, 1 if the target letter occurs
        return [1.0 if any(VOCAB[t] == x for t in ids) else sum(t in LETTER_IDS for t in ids) / max(len(ids), 1)
                for ids, x in zip(completion_ids, target)]
    return reward


@pytest.mark.parametrize("branching,options", [("entropy", {"chains": 2, "forks": 1, "children": 2}),
                                               ("adaptive", ADAPTIVE)])
def test_entropy_and_adaptive_trees_grow_inside_trl(tmp_path, branching, options):
    # adaptive forks at step ends only: a space closes a step here
    trainer = _train(tmp_path, sampler="tree", branching=branching, branching_options=options, step_pattern=" ")
    generated = trainer.generated[0]
    check_tree(generated["completion_ids"].numpy(), generated["completion_mask"].numpy().astype(bool),
               generated["tree_nodes"].numpy(), NUM_GENERATIONS)


def test_adaptive_branching_scores_leaves_with_trls_reward_functions_while_trees_grow(tmp_path):
    calls: list = []
    trainer = _train_with_target(tmp_path / "scored", _target_letters(calls), "adaptive", ADAPTIVE)
    assert len(calls) >= 2, "the reward function was not called while the trees grew (only TRL's scoring)"
    for prompts, targets, _ in calls:  # each leaf was scored with its own prompt's dataset row
        assert targets == [TARGETS[p] for p in prompts]
    # the rewards steer the trees: the same seed with rewards that are all 0 grows other trees
    zeros = _train_with_target(tmp_path / "zeros", lambda completions, **kw: [0.0] * len(completions),
                               "adaptive", ADAPTIVE)
    first, other = trainer.generated[0], zeros.generated[0]
    assert not (torch.equal(first["completion_ids"], other["completion_ids"])
                and torch.equal(first["tree_nodes"], other["tree_nodes"])), "adaptive branching ignored the rewards"


def test_adaptive_branching_gives_reward_functions_the_sampled_ids(tmp_path):
    # was: while the trees grew, completion_ids was the decoded text encoded again, not the ids sampled; this
    # tokenizer decodes with a space between tokens, so the re-encoded ids held a space token between each
    calls: list = []

    def record(prompts, completions, completion_ids, **kwargs):
        calls.append((list(completions), [list(ids) for ids in completion_ids]))
        return [sum(t in LETTER_IDS for t in ids) / max(len(ids), 1) for ids in completion_ids]

    trainer = _train_with_target(tmp_path, record, "adaptive", ADAPTIVE)
    generated = trainer.generated[0]
    sampled = {tuple(row[mask.bool()].tolist()) for row, mask in zip(generated["completion_ids"],
                                                                     generated["completion_mask"])}
    growth = [(text, ids) for texts, batch in calls[:-1] for text, ids in zip(texts, batch)]  # the last: TRL's
    assert len(calls) >= 2 and growth, "the reward function was not called while the trees grew"
    assert all(tuple(ids) in sampled for _, ids in growth), "a leaf was scored with ids that were not sampled"
    tokenizer = trainer.processing_class
    assert any(tokenizer.encode(text, add_special_tokens=False) != ids for text, ids in growth), \
        "decode then encode gives the sampled ids back here: weak test"
    for text, ids in growth:  # and with its text as TRL decodes it
        assert text == tokenizer.decode(ids, skip_special_tokens=True)


@pytest.mark.parametrize("reward", ["some/reward-model", torch.nn.Linear(1, 1)])
def test_adaptive_branching_refuses_reward_functions_it_cannot_call_during_sampling(tmp_path, reward):
    with pytest.raises(ValueError, match="reward_funcs: .*adaptive"):
        TreeCreditGRPOTrainer(model=None, reward_funcs=reward, args=_args(tmp_path), estimator="tempo",
                              sampler="tree", branching="adaptive")


def test_adaptive_branching_awaits_async_reward_functions_as_trl_does(tmp_path):
    # TRL's GRPOTrainer awaits async def reward functions on its own event loop; adaptive branching scores the
    # leaves with them there too, and grows the same trees as with the same function written synchronously
    calls: list = []
    score = _target_letters(calls)

    async def async_score(prompts, completions, completion_ids, target, **kwargs):
        return score(prompts, completions, completion_ids, target, **kwargs)

    awaited = _train_with_target(tmp_path / "async", async_score, "adaptive", ADAPTIVE)
    assert len(calls) >= 2, "the async reward function was not called while the trees grew"
    plain = _train_with_target(tmp_path / "sync", _target_letters([]), "adaptive", ADAPTIVE)
    for name in ("completion_ids", "tree_nodes"):
        assert torch.equal(awaited.generated[0][name], plain.generated[0][name])


def test_a_tree_that_did_not_branch_is_warned_about():
    from treecredit.integrations.trl import _warn_if_no_branch

    apart = torch.tensor([[0, 0, 1, -1], [2, 2, 3, 3]])  # every token its own (node, position)
    with pytest.warns(UserWarning, match="did not branch.*step_pattern"):
        assert _warn_if_no_branch(apart, "\n\n")
    shared = torch.tensor([[0, 0, 1, -1], [0, 0, 3, 3]])  # the first two tokens are one segment
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not _warn_if_no_branch(shared, "\n\n")


@pytest.mark.parametrize("branching, advice, not_advised", [
    ("fixed", r"pass step_pattern=TEXT .*; or pass branching_options=\{'every': K\}", None),
    ("adaptive", r"pass step_pattern=TEXT that the completions write\.$", "every"),
    ("entropy", r"highest entropy\)\. To fix: check the branching options\.$", "step_pattern=TEXT"),
])
def test_the_no_branch_advice_follows_the_strategy(branching, advice, not_advised):
    """The same per-strategy advice as `treecredit train` (tasks.tree_branch_fixes), in TRL's own words:
    entropy trees do not fork at step_pattern, and only fixed trees take every=K."""
    from treecredit.integrations.trl import _warn_if_no_branch

    apart = torch.tensor([[0, 0, 1, -1], [2, 2, 3, 3]])
    with pytest.warns(UserWarning, match=advice) as caught:
        assert _warn_if_no_branch(apart, "\n\n", branching)
    assert f"the {branching!r} strategy" in str(caught[0].message)
    assert not_advised is None or not_advised not in str(caught[0].message).split("To fix:")[1]
