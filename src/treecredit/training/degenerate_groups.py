"""Steps that train nothing because their groups hold no difference: said once a run.

A tree sampler forks at step ends. When the answers have one step end only, at their very end (one-line code
answers whose step delimiter is the newline), every leaf of a group continues the same text: the group is
``group_size`` copies of one response, its rewards are equal, and every advantage is 0 (``adv_nonzero_share``
0.0, while ``branch_points_per_group`` may still read 1.0: the fork after the last step adds only empty
continuations). Any run whose advantages are all 0 step after step trains nothing either (every group all
right or all wrong). :class:`DegenerateGroupsWatch` says each case once, after :data:`STEPS_IN_A_ROW` steps in a
row, with the fix; :data:`COPIES_KEY` is the per-step share of groups that are copies, in ``metrics.jsonl``. A step
in which every reward failed (a reward function raised) has all-zero advantages for that reason, which
:class:`~treecredit.rewards.failed.AllFailedWatch` says: it is not counted as a step of equal rewards (until
2026-12-03 such steps also got "every advantage is 0 ... Fix: a larger --group-size").
"""

from __future__ import annotations

from collections.abc import Callable

STEPS_IN_A_ROW = 3
"""Steps in a row with copied groups (or all-zero advantages) before the run says so."""

COPIES_KEY = "tree_copied_groups"
"""The share of a tree step's groups whose responses are all the same text (absent for an i.i.d. sampler)."""


def copied_group_share(response_texts: list[str], group_ids) -> float:
    """The share of groups (``group_ids``, one per row) whose rows' ``response_texts`` are all the same."""
    texts: dict[int, set[str]] = {}
    for text, group in zip(response_texts, group_ids.tolist() if hasattr(group_ids, "tolist") else group_ids):
        texts.setdefault(int(group), set()).add(text)
    return sum(len(seen) == 1 for seen in texts.values()) / max(1, len(texts))


class DegenerateGroupsWatch:
    """Counts steps in a row whose groups are all copies (a tree run) or whose advantages are all 0, and calls
    ``log`` (one line) once per case when :data:`STEPS_IN_A_ROW` are reached."""

    def __init__(self, log: Callable[[str], None], sampler: str, group_size: int) -> None:
        self.log, self.sampler, self.group_size = log, sampler, group_size
        self.copies = self.zeros = 0
        self.shares: list[float] = []
        self.said: set[str] = set()

    def metrics(self, rollout) -> dict:
        """``{COPIES_KEY: share}`` for a rollout with a tree (``tree_nodes``), else {}."""
        if getattr(rollout, "tree_nodes", None) is None or rollout.group_ids is None:
            return {}
        return {COPIES_KEY: copied_group_share(list(rollout.response_texts), rollout.group_ids)}

    def after_step(self, record: dict, all_failed: bool = False) -> None:
        """Take a written train ``record`` (:data:`COPIES_KEY`, ``adv_nonzero_share``, ``step``); ``all_failed``:
        every reward of the step failed, so its advantages are 0 for that reason (it ends a run of zero steps)."""
        copied = record.get(COPIES_KEY)
        zero = record.get("adv_nonzero_share") == 0 and not all_failed
        # every group a copy, or most of them while no advantage is left: the tree forks only after the answer
        copies = copied is not None and (copied >= 1.0 or (copied >= 0.5 and zero))
        self.copies, self.shares = (self.copies + 1, self.shares + [copied]) if copies else (0, [])
        self.zeros = self.zeros + 1 if zero else 0
        if self.copies >= STEPS_IN_A_ROW and "copies" not in self.said:
            self.said.update(("copies", "zeros"))
            share = sum(self.shares) / len(self.shares)
            self.log(f"warning: steps {record['step'] - self.copies + 1}-{record['step']}: {share:.0%} of the groups "
                     f"of the {self.sampler} sampler are {self.group_size} copies of one response ({COPIES_KEY} in "
                     "metrics.jsonl: the answers have no step end before their last, so the tree forks only after "
                     "the answer), so their advantages are 0 and they teach nothing (adv_nonzero_share "
                     f"{record.get('adv_nonzero_share')}). Fix: a step delimiter that splits the answers into steps "
                     "(--task-option delimiter=' ' for one-line answers), or --sampler iid. Said once")
        elif self.zeros >= STEPS_IN_A_ROW and "zeros" not in self.said:
            self.said.add("zeros")
            self.log(f"warning: steps {record['step'] - self.zeros + 1}-{record['step']}: every advantage is 0 "
                     "(adv_nonzero_share 0.0 in metrics.jsonl): each group's rewards are all equal, so nothing is "
                     "learnt. Fix: a larger --group-size, problems the model solves sometimes (neither always nor "
                     "never), or a reward that tells answers apart. Said once")
