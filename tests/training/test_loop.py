import numpy as np
import pytest
import torch

import treecredit
from treecredit.training.estimator_inputs import estimator_options
from treecredit.training.loop import train
from treecredit.training.metrics import read_metrics

torch.set_num_threads(1)


def _strip(records):
    return [{k: v for k, v in r.items() if k != "elapsed_s"} for r in records]


def test_short_run_raises_reward_on_an_easy_task(tiny_config, warm_start_cache):
    records = train(tiny_config(cache_dir=warm_start_cache), log=lambda *a: None)
    rewards = [r["reward"] for r in records if r["kind"] == "train"]
    assert len(rewards) == 60
    first, last = sum(rewards[:15]) / 15, sum(rewards[-15:]) / 15
    assert last > first + 0.05, (first, last)
    evals = [r for r in records if r["kind"] == "eval"]
    assert [r["step"] for r in evals] == [0, 10, 20, 30, 40, 50, 60]
    for key in ("generated_tokens", "flops", "step_accuracy", "adv_step_credit_share", "response_length", "loss"):
        assert key in records[1]
    assert records[-1]["generated_tokens"] > records[1]["generated_tokens"] > 0


def test_resume_after_kill_matches_an_uninterrupted_run(tiny_config, tmp_path):
    full = train(tiny_config(steps=12, checkpoint_every=4, eval_every=4, out=str(tmp_path / "a")), log=lambda *a: None)
    cfg = tiny_config(steps=12, checkpoint_every=4, eval_every=4, out=str(tmp_path / "b"))
    train(cfg, stop_at_step=6, log=lambda *a: None)  # "killed" after step 6: last checkpoint at step 4
    assert max(r["step"] for r in read_metrics(tmp_path / "b" / "metrics.jsonl")) == 6
    resumed = train(cfg, resume=True, log=lambda *a: None)
    assert _strip(resumed) == _strip(full)


def test_same_seed_same_metrics_other_seed_differs(tiny_config, tmp_path):
    a = train(tiny_config(steps=3, out=str(tmp_path / "a")), log=lambda *a: None)
    b = train(tiny_config(steps=3, out=str(tmp_path / "b")), log=lambda *a: None)
    c = train(tiny_config(steps=3, seed=1, out=str(tmp_path / "c")), log=lambda *a: None)
    assert _strip(a) == _strip(b) and _strip(a) != _strip(c)


def test_token_budget_ends_the_run_at_the_last_step_that_fits(tiny_config):
    from pathlib import Path

    from treecredit.training.checkpoint import read_checkpoint

    config = tiny_config(steps=0, token_budget=600, warm_start_steps=0, eval_every=0, eval_problems=4)  # ≥ 8·8·8
    lines: list[str] = []
    records = train(config, log=lines.append)
    train_records = [r for r in records if r["kind"] == "train"]
    last = train_records[-1]["generated_tokens"]
    pending = read_checkpoint(Path(config.out) / "checkpoint.pt")["pending_step_tokens"]
    assert last <= 600 < last + pending  # the next step, sampled and set aside, would have passed the budget
    final = [r for r in records if r["kind"] == "eval"][-1]
    assert (final["step"], final["generated_tokens"]) == (train_records[-1]["step"], last)  # evaluated there
    assert any(line.startswith("token budget: the next step would generate") for line in lines)


def test_a_run_ended_by_its_budget_resumes_as_if_never_stopped(tiny_config, tmp_path):
    settings = dict(steps=0, warm_start_steps=0, eval_every=0, eval_problems=4, prompts_per_step=2, group_size=4)
    whole = train(tiny_config(token_budget=450, out=str(tmp_path / "whole"), **settings), log=lambda *a: None)
    train(tiny_config(token_budget=200, out=str(tmp_path / "part"), **settings), log=lambda *a: None)
    lines: list[str] = []
    again = train(tiny_config(token_budget=200, out=str(tmp_path / "part"), **settings), resume=True, log=lines.append)
    assert any("already finished" in line and "would pass the budget" in line for line in lines)
    more = train(tiny_config(token_budget=450, out=str(tmp_path / "part"), **settings), resume=True,
                 log=lambda *a: None)
    # the set-aside step is sampled again after the resume: the same training records as one run of 450
    assert _strip([r for r in more if r["kind"] == "train"]) == _strip([r for r in whole if r["kind"] == "train"])
    assert len(again) < len(more)


def test_a_budget_that_no_step_fits_in_is_refused(tiny_config):
    from pathlib import Path

    config = tiny_config(steps=0, token_budget=5, warm_start_steps=0, eval_problems=4)
    with pytest.raises(ValueError, match=r"^token_budget: is 5, below what one step can generate: 8 prompts × 8 "
                                         r"responses × 8 tokens = 512 tokens"):
        train(config, log=lambda *a: None)
    assert not Path(config.out).exists()  # refused in preflight, before the folder and the warm start


class _Rollout:
    step_ends = torch.zeros(2, 3, dtype=torch.bool)

    def available_options(self):
        return {"step_ends": self.step_ends}


class _Policy:
    def encode(self, text):
        return [7]


class _Task:
    delimiter = "="


def test_estimator_options_follow_what_the_estimator_accepts():
    spec = treecredit.get_estimator("grpo")
    assert estimator_options(spec, _Rollout(), _Policy(), _Task(), {}) == {}

    class Spec:
        options = ("delimiter", "tau")

    assert estimator_options(Spec, _Rollout(), _Policy(), _Task(), {"tau": 0.5}) == {"delimiter": [7], "tau": 0.5}
    Spec.options = ("step_ends", "delimiter")
    assert set(estimator_options(Spec, _Rollout(), _Policy(), _Task(), {})) == {"step_ends"}
    assert estimator_options(Spec, _Rollout(), _Policy(), _Task(), {"delimiter": [3]}) == {"delimiter": [3]}


def test_held_out_set_too_large_is_an_error(tiny_config):
    cfg = tiny_config(task_options={"min_operators": 1, "max_operators": 1, "max_operand": 1, "operators": "+"},
                      eval_problems=64, warm_start_steps=0)
    with pytest.raises(ValueError, match="^eval_problems: .*Fix"):
        train(cfg, log=lambda *a: None)


def test_resume_with_changed_settings_is_refused(tiny_config, warm_start_cache):
    def config(**overrides):
        return tiny_config(cache_dir=warm_start_cache, **overrides)

    train(config(steps=2), log=lambda *a: None)
    records = train(config(steps=3), resume=True, log=lambda *a: None)  # more steps: allowed
    assert [r["step"] for r in records if r["kind"] == "train"] == [1, 2, 3]
    with pytest.raises(ValueError, match=r"^resume: .*\['lr'\].*Fix"):
        train(config(steps=4, lr=0.5), resume=True, log=lambda *a: None)


class _CountingPolicy:
    """Log-probs from one parameter; records the rows of every minibatch it is asked for."""

    def __init__(self):
        self.module = torch.nn.Linear(1, 1)
        self.sizes = []

    def token_logprobs(self, prompts, ids, with_entropy=False, **layout):
        self.sizes.append(len(prompts))
        return self.module.weight.sum() * torch.zeros(ids.shape) - 1.0, None


class _Batch:
    def __init__(self, rows, width=3):
        self.shape = (rows, width)
        self.prompt_ids = [[1]] * rows
        self.response_ids = torch.ones(rows, width, dtype=torch.long)
        self.response_mask = torch.ones(rows, width, dtype=torch.bool)
        self.old_logprobs = -torch.ones(rows, width)
        self.group_ids = torch.arange(rows) // 2


@pytest.mark.parametrize("rows, minibatches, epochs", [(64, 9, 1), (64, 8, 2), (10, 3, 1), (5, 7, 1)])
def test_minibatches_are_exactly_as_many_as_asked_and_near_equal(tiny_config, rows, minibatches, epochs):
    from treecredit.training.loop import ppo_update

    policy = _CountingPolicy()
    config = tiny_config(minibatches=minibatches, epochs=epochs, minibatch_split="rows")
    optimizer = torch.optim.SGD(policy.module.parameters(), lr=0.0)
    ppo_update(policy, None, optimizer, _Batch(rows), torch.zeros(rows, 3), config, torch.Generator().manual_seed(0))
    # a tree that came out with fewer rows than minibatches: one row each, no empty minibatch
    expected = min(rows, minibatches) * epochs
    assert len(policy.sizes) == expected, policy.sizes
    assert sum(policy.sizes) == rows * epochs and max(policy.sizes) - min(policy.sizes) <= 1


def test_auto_split_takes_whole_groups_when_there_are_enough():
    from treecredit.training.loop import minibatch_rows

    group_ids = torch.arange(16) // 4  # 4 groups of 4 rows
    auto = minibatch_rows(group_ids, 2, "auto", torch.Generator().manual_seed(0))
    groups = minibatch_rows(group_ids, 2, "groups", torch.Generator().manual_seed(0))
    assert [r.tolist() for r in auto] == [r.tolist() for r in groups]
    assert all(len(set(group_ids[rows].tolist())) == 2 and len(rows) == 8 for rows in auto)
    few = minibatch_rows(group_ids, 5, "auto", torch.Generator().manual_seed(0))  # 5 minibatches, 4 groups
    assert [len(r) for r in few] == [len(r) for r in minibatch_rows(group_ids, 5, "rows", torch.Generator())]


def test_step_ends_come_from_the_text_when_the_rollout_has_none():
    """A delimiter written with context-dependent ids (as BPE does) is still found: the text decides."""

    class Policy:  # "=" is id 5 alone, but "==" inside a response is the single id 9
        pieces = {1: "a", 5: "=", 9: "==", 0: ""}

        def encode(self, text):
            return [5]

        def decode(self, ids):
            return "".join(self.pieces[int(i)] for i in ids)

    class Rollout:
        step_ends = None
        response_ids = torch.tensor([[1, 9, 1, 5, 1], [1, 1, 5, 0, 0]])
        response_mask = torch.tensor([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]], dtype=torch.bool)

        def available_options(self):
            return {}

    spec = treecredit.get_estimator("treerpo")
    ends = estimator_options(spec, Rollout(), Policy(), _Task(), {})["step_ends"]
    assert np.asarray(ends).astype(int).tolist() == [[0, 1, 0, 1, 0], [0, 0, 1, 0, 0]]

    class Unwritten:  # a delimiter no response writes: one warning, with the trainer's own fix (no BPE advice)
        name, delimiter = "arithmetic", "@"

    shown: set = set()
    with pytest.warns(UserWarning, match=r"no step boundary from the task's step delimiter '@' .*one step\. The "
                      r"responses \(the first one ends with 'a==a=a'\) write no step end\. Fix: "
                      r"the 'arithmetic' task's delimiter '@' is fixed") as said:
        estimator_options(spec, Rollout(), Policy(), Unwritten(), {}, shown=shown)
    assert "BPE" not in str(said[0].message) and "step_ends_from_text" not in str(said[0].message)
    import warnings

    with warnings.catch_warnings():  # said once per run: the same run's next batch says nothing
        warnings.simplefilter("error")
        estimator_options(spec, Rollout(), Policy(), Unwritten(), {}, shown=shown)


def test_a_tree_that_did_not_branch_is_warned_about():
    from types import SimpleNamespace

    from treecredit.training.estimator_inputs import warn_if_tree_did_not_branch

    mask = torch.ones(4, 3, dtype=torch.bool)
    chains = SimpleNamespace(tree_nodes=torch.arange(12).view(4, 3), response_mask=mask)  # 4 separate chains
    from treecredit.tasks import ArithmeticTask, DatasetTask

    with pytest.warns(UserWarning, match="did not branch.*'fixed' strategy.*'=' is fixed.*warm start.*every=K"):
        assert warn_if_tree_did_not_branch(chains, ArithmeticTask())  # no --task-option delimiter to give
    dataset = DatasetTask.__new__(DatasetTask)  # only its options matter here
    dataset.delimiter = "\n"
    with pytest.warns(UserWarning, match=r"'adaptive' strategy .*--task-option delimiter=TEXT") as caught:
        assert warn_if_tree_did_not_branch(chains, dataset, "adaptive")
    assert "every=K" not in str(caught[0].message)  # a fixed-strategy option
    tree = SimpleNamespace(tree_nodes=torch.tensor([[0, 1, 2], [0, 1, 3], [4, 5, 6], [4, 7, 8]]), response_mask=mask)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not warn_if_tree_did_not_branch(tree, ArithmeticTask())
    shown: set[str] = set()  # a run's: the warning once, though every step's tree did not branch
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert all(warn_if_tree_did_not_branch(chains, ArithmeticTask(), "fixed", shown) for _ in range(3))
    assert len(caught) == 1 and str(caught[0].message).endswith("(shown once per run)") and len(shown) == 1


@pytest.mark.parametrize("setting, on", [(False, False), (True, True), ("off", False), ("on", True),
                                         ("auto", False), ("auto-large", True)])
def test_compile_decode_reaches_the_sampler(tiny_config, tmp_path, monkeypatch, setting, on):
    # the compiled step's entry point, run eagerly and counted (compiling would take ~20 s here); "auto"
    # compiles from AUTO_MIN_PARAMS parameters on: not the tiny GPT, unless the line is lowered
    from treecredit.models import compiled_step

    calls = []

    def eager(fn, key, dynamic, *args, **kwargs):
        calls.append(key)
        return fn(*args)

    monkeypatch.setattr(compiled_step, "run", eager)
    if setting == "auto-large":
        setting = "auto"
        monkeypatch.setattr(compiled_step, "AUTO_MIN_PARAMS", 1)
    train(tiny_config(steps=1, eval_problems=4, warm_start_steps=0, compile_decode=setting, out=str(tmp_path / "r")),
          log=lambda *a: None)
    assert bool(calls) == on


@pytest.mark.parametrize("estimator,noted", [("grpo", True), ("tempo", False)])
def test_a_tree_run_with_a_sequence_estimator_says_the_tree_only_changes_sampling(tiny_config, tmp_path, estimator,
                                                                                 noted):
    lines = []
    train(tiny_config(steps=1, eval_problems=4, warm_start_steps=0, sampler="tree", estimator=estimator,
                      out=str(tmp_path / "r")), log=lines.append)
    said = [line for line in lines if "changes only which responses are sampled" in line]
    assert bool(said) == noted
    assert not said or "tempo" in said[0]


def test_an_estimator_error_mid_run_names_the_step_and_the_kept_checkpoint(tiny_config, monkeypatch):
    """What only a later step's data shows (e.g. a reward outside treerpo's [0, 1]) stops the run saying at which
    step, and that the run is kept as of its last checkpoint."""
    real, calls = treecredit.compute_advantages, []

    def second_batch_fails(*args, **kwargs):
        if len(kwargs["rewards"]) == 64:  # the training batches (8 prompts × 8), not pre-flight's test batch
            calls.append(1)
            if len(calls) == 2:
                from treecredit._validation import OutOfRange
                from treecredit.methods.treerpo import UNIT_REWARD_REMEDIES

                raise OutOfRange("rewards", "are outside [0, 1]", UNIT_REWARD_REMEDIES, seen=(0.0, 1.5))  # treerpo's
        return real(*args, **kwargs)

    monkeypatch.setattr(treecredit, "compute_advantages", second_batch_fails)
    with pytest.raises(ValueError, match=r"^rewards: at step 2 \(the run is kept as of its last checkpoint, step 1: "
                                         r"--resume continues it only with the same settings, so a fix that changes "
                                         r"them needs a new run \(--overwrite or another --out\)\): are outside "
                                         r"\[0, 1\]\. Fix: pass --estimator-option scale=std \(or scale=none; in "
                                         r"treecredit compare, the arm grpo\[scale=std\]\), or rewards in \[0, 1\]\.$"):
        train(tiny_config(steps=3, eval_problems=4, warm_start_steps=0, checkpoint_every=1), log=lambda *a: None)
    calls.clear()  # no checkpoint before step 2 (checkpoints only at the end): none is named
    with pytest.raises(ValueError, match=r"^rewards: at step 2 \(no checkpoint was saved yet: start the run again "
                                         r"with the fix \(--overwrite or another --out\)\): are outside"):
        train(tiny_config(steps=3, eval_problems=4, warm_start_steps=0, checkpoint_every=0), overwrite=True,
              log=lambda *a: None)
