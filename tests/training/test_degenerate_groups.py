"""Steps that train nothing are said: tree groups that are copies of one response (one-line answers whose only
step end is their last), advantages all 0 step after step; a comparison marks an arm that never had one."""

from types import SimpleNamespace

import torch

from treecredit.training.degenerate_groups import (
    COPIES_KEY,
    STEPS_IN_A_ROW,
    DegenerateGroupsWatch,
    copied_group_share,
)
from treecredit.training.report import summarise, write_report


def _rollout(texts, tree=True):
    groups = torch.tensor([i // 2 for i in range(len(texts))])
    return SimpleNamespace(response_texts=texts, group_ids=groups,
                           tree_nodes=torch.zeros(len(texts), 3, dtype=torch.long) if tree else None)


def test_copied_groups_are_measured_and_said_once_with_the_fix():
    # was: a tree run on one-line answers had adv_nonzero_share 0.0 on every step and said nothing
    assert copied_group_share(["a\n", "a\n", "b\n", "c\n"], torch.tensor([0, 0, 1, 1])) == 0.5
    said = []
    watch = DegenerateGroupsWatch(said.append, "tree", 2)
    copies = _rollout(["    return a + 1\n"] * 2 + ["    return a - 3\n"] * 2)
    assert watch.metrics(copies) == {COPIES_KEY: 1.0} and watch.metrics(_rollout(["x"] * 4, tree=False)) == {}
    for step in range(1, 2 * STEPS_IN_A_ROW + 2):
        watch.after_step({"step": step, "adv_nonzero_share": 0.0, **watch.metrics(copies)})
    assert len(said) == 1
    assert said[0].startswith(f"warning: steps 1-{STEPS_IN_A_ROW}: 100% of the groups of the tree sampler are 2 "
                              "copies of one response")
    said.clear()
    watch = DegenerateGroupsWatch(said.append, "tree", 2)  # most groups copies, and no advantage left
    for step, share in enumerate([0.75, 0.5, 0.75], 1):
        watch.after_step({"step": step, "adv_nonzero_share": 0.0, COPIES_KEY: share})
    assert len(said) == 1 and "67% of the groups" in said[0]
    assert "--task-option delimiter=' '" in said[0] and "--sampler iid" in said[0]


def test_zero_advantages_in_a_row_are_said_once_and_a_break_restarts_the_count():
    said = []
    watch = DegenerateGroupsWatch(said.append, "iid", 8)
    shares = [0.0] * (STEPS_IN_A_ROW - 1) + [0.2] + [0.0] * (STEPS_IN_A_ROW + 3)
    for step, share in enumerate(shares, 1):
        watch.after_step({"step": step, "adv_nonzero_share": share})
    assert len(said) == 1 and said[0].startswith(f"warning: steps {STEPS_IN_A_ROW + 1}-{2 * STEPS_IN_A_ROW}: "
                                                 "every advantage is 0")


def _records(final, share):
    evals = [{"kind": "eval", "step": s, "generated_tokens": t, "eval_sampled_pass1": p, "eval_greedy_pass1": p,
              "eval_step_accuracy": None} for s, t, p in ((0, 0, 0.1), (2, 100, final))]
    trains = [{"kind": "train", "step": s, "generated_tokens": t, "elapsed_s": 5.0 * s, "flops": 1.0,
               "adv_step_credit_share": 0.0, "adv_nonzero_share": share} for s, t in ((1, 50), (2, 100))]
    return [evals[0], trains[0], trains[1], evals[1]]


def test_the_comparison_marks_an_arm_whose_advantages_were_all_zero(tmp_path):
    # was: reported as an ordinary arm
    runs = {"grpo": {0: _records(0.3, 0.5), 1: _records(0.3, 0.0)}, "treerl": {0: _records(0.1, 0.0),
                                                                                1: _records(0.1, 0.0)}}
    summary = summarise(runs, 100)
    assert summary["estimators"]["treerl"]["no_advantage"] and not summary["estimators"]["grpo"]["no_advantage"]
    text = write_report(tmp_path, summary, {}).read_text()
    assert "| treerl (no advantage) | 2 |" in text and "| grpo | 2 |" in text
    assert "every advantage of every step of treerl was 0" in text
