import pytest
import torch

from treecredit.training.metrics import advantage_metrics, branch_points_per_group
from treecredit.training.report import mean_ci, tokens_to_reach


def test_advantage_metrics_step_credit_share():
    mask = torch.tensor([[True, True, True, False], [True, True, False, False]])
    outcome = torch.tensor([[0.5, 0.5, 0.5, 0.0], [-0.5, -0.5, 0.0, 0.0]])
    m = advantage_metrics(outcome, mask)
    assert m["adv_step_credit_share"] == 0.0 and m["adv_nonzero_share"] == 1.0
    stepped = torch.tensor([[1.0, 1.0, -0.5, 0.0], [0.0, 0.0, 0.0, 0.0]])
    m = advantage_metrics(stepped, mask)
    # row 0: mean 0.5, every token differs from it (3 tokens); row 1 constant → 3 of 5 trained tokens
    assert m["adv_step_credit_share"] == pytest.approx(3 / 5)
    assert m["adv_nonzero_share"] == pytest.approx(3 / 5)


def test_branch_points_per_group():
    # group 0: root → node 0 → {1, 2}: one branch point; group 1: root → {3, 4}: one (at the root)
    nodes = torch.tensor([[0, 0, 1, 1], [0, 0, 2, -1], [3, 3, -1, -1], [4, 4, 4, -1]])
    groups = torch.tensor([0, 0, 1, 1])
    assert branch_points_per_group(nodes, groups) == 1.0
    assert advantage_metrics(torch.zeros(4, 4), nodes >= 0, nodes, groups)["branch_points_per_group"] == 1.0


def test_confidence_interval_and_tokens_to_reach():
    mean, half = mean_ci([1.0, 2.0, 3.0])
    assert mean == 2.0 and half == pytest.approx(4.303 * 1.0 / 3 ** 0.5, rel=1e-4)  # exact t(2) = 4.30265
    assert mean_ci([5.0])[1] == 0.0  # one seed: no spread, interval of width 0
    grid = torch.linspace(0, 100, 5).numpy()
    assert tokens_to_reach(grid, [0.1, 0.2, 0.5, 0.6, 0.7], 0.5) == 50.0
    assert tokens_to_reach(grid, [0.1, 0.2, 0.3, 0.3, 0.3], 0.5) is None


def test_tensorboard_tags_are_namespaced_by_record_kind(tmp_path):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from treecredit.training.metrics import MetricsWriter, board_scalars

    writer = MetricsWriter(tmp_path, tensorboard=True)
    writer.write({"kind": "eval", "step": 0, "generated_tokens": 0, "eval_sampled_pass1": 0.25})
    writer.write({"kind": "train", "step": 1, "generated_tokens": 40, "reward": 0.5, "flag": True})
    writer.write({"kind": "eval", "step": 1, "generated_tokens": 40, "eval_sampled_pass1": 0.5})
    writer.close()
    assert board_scalars({"kind": "eval", "step": 1, "generated_tokens": 4, "eval_greedy_pass1": 1.0}) == {
        "eval/greedy_pass1": 1.0}
    events = EventAccumulator(str(tmp_path / "tensorboard"))
    events.Reload()
    assert sorted(events.Tags()["scalars"]) == ["eval/sampled_pass1", "train/generated_tokens", "train/reward"]
    assert [(e.step, e.value) for e in events.Scalars("eval/sampled_pass1")] == [(0, 0.25), (1, 0.5)]
    assert [(e.step, e.value) for e in events.Scalars("train/reward")] == [(1, 0.5)]


def test_non_finite_metrics_are_written_as_json_null(tmp_path):
    import json

    from treecredit.training.metrics import MetricsWriter, read_metrics

    writer = MetricsWriter(tmp_path, tensorboard=False)
    writer.write({"kind": "train", "step": 1, "reward": float("nan"), "loss": float("inf"),
                  "per_arm": [1.0, float("-inf")], "ok": 0.5})
    writer.close()
    line = (tmp_path / "metrics.jsonl").read_text().strip()
    assert "NaN" not in line and "Infinity" not in line
    json.loads(line, parse_constant=lambda name: pytest.fail(f"non-standard JSON constant {name}"))
    assert read_metrics(tmp_path / "metrics.jsonl") == [
        {"kind": "train", "step": 1, "reward": None, "loss": None, "per_arm": [1.0, None], "ok": 0.5}]


def _rollout(rewards, group_ids):
    from types import SimpleNamespace

    n = len(rewards)
    return SimpleNamespace(rewards=torch.tensor(rewards), group_ids=torch.tensor(group_ids), row_weights=None,
                           shape=(n, 3), response_texts=["2"] * n, problem_index=torch.zeros(n, dtype=torch.long),
                           response_mask=torch.ones(n, 3, dtype=torch.bool))


def test_rollout_metrics_average_the_scored_rewards_not_the_values_imputed_for_failed_ones():
    import math

    from treecredit.rewards.failed import neutralise_failed_rewards
    from treecredit.tasks import ArithmeticTask
    from treecredit.training.metrics import rollout_metrics

    task = ArithmeticTask()
    problems = task.held_out_problems(__import__("numpy").random.default_rng(0), 1)
    nan = float("nan")
    rollout = _rollout([1.0, nan, nan, 0.0, 0.0, 1.0], [0, 0, 0, 1, 1, 1])
    raw = rollout.rewards.clone()
    assert neutralise_failed_rewards(rollout) == 2  # group 0's failed rows get its valid mean, 1.0
    assert float(rollout.rewards.mean()) == pytest.approx(4 / 6)  # what a mean over the imputed rows says
    m = rollout_metrics(rollout, task, problems, raw)
    assert m["reward"] == 0.5 and m["accuracy"] == 0.5  # over the 4 scored rows only
    assert m["response_length"] == 3.0
    rollout = _rollout([nan, nan], [0, 0])
    raw = rollout.rewards.clone()
    neutralise_failed_rewards(rollout)
    m = rollout_metrics(rollout, task, problems, raw)
    assert math.isnan(m["reward"]) and math.isnan(m["accuracy"])  # nothing scored: null, not 0


def test_sample_records_read_failures_from_the_raw_rewards_only():
    from treecredit.rewards.failed import neutralise_failed_rewards
    from treecredit.training.samples import sample_records

    nan = float("nan")
    rollout = _rollout([0.25, nan, 0.75, 1.0], [0, 1, 2, 3])
    rollout.prompt_texts = ["a", "b", "c", "d"]
    rollout.row_weights = torch.tensor([1.0, 1.0, 0.0, 1.0])  # row 2: a replayed row of weight 0, scored
    raw = rollout.rewards.clone()
    neutralise_failed_rewards(rollout)
    records = sample_records(rollout, 3, raw)
    assert [(r["reward"], r["reward_failed"]) for r in records] == [(0.25, False), (None, True), (0.75, False),
                                                                   (1.0, False)]
    with pytest.raises(TypeError):  # one source of failures: no fallback guessing them from row weights
        sample_records(rollout, 3)
    raw = torch.tensor([0.7375, 1.2, 0.1, 0.2], dtype=torch.float32)  # float32 rewards, written as read
    assert [r["reward"] for r in sample_records(rollout, 3, raw)] == [0.7375, 1.2, 0.1, 0.2]
    assert float(raw[0]) != 0.7375  # the plain widening would have written 0.737499952...


def test_groups_of_one_in_a_run_are_blamed_on_the_cutoff_not_on_group_ids():
    """The API tells a caller to fix its group ids; in a run the trainer sets them, and only --cutoff prunes a
    group down to one response (a trial saw the API's hint under --cutoff any). Other warnings pass as they are."""
    import warnings

    import numpy as np

    from treecredit.api import warn_if_no_pairs
    from treecredit.training.config import TrainConfig
    from treecredit.training.estimator_inputs import groups_of_one_named

    with pytest.warns(UserWarning) as seen:
        with groups_of_one_named(TrainConfig(sampler="tree", cutoff="any")):
            warn_if_no_pairs(np.array([1, 1]), "responses")
            warnings.warn("something else", UserWarning, stacklevel=1)
    texts = [str(w.message) for w in seen]
    assert texts[0].startswith("cutoff: --cutoff any pruned every group of this step down to one response")
    assert "group id" not in texts[0] and texts[1] == "something else"
