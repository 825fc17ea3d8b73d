"""What a training run measures: rollout statistics, advantage statistics, held-out evaluation, logs.

- pass@1: mean final-verifier reward of one response per held-out problem (greedy and sampled);
- step accuracy: share of complete steps the task's partial verifier accepts (n/a, JSON null, for a task
  without one: a dataset without ``step_checker``, most reasoning-gym generators);
- step credit share: share of trained tokens whose advantage differs from the mean advantage of its
  response (0 for any outcome estimator such as GRPO, whose credit is constant along a response);
- branch points per group: tree nodes with ≥ 2 children, per prompt (only when the rollout has a tree).
"""

from __future__ import annotations

import json
import math
import weakref
from pathlib import Path


def rollout_metrics(rollout, task, problems, raw_rewards) -> dict:
    """Reward, accuracy, response length and step accuracy of a ``RolloutBatch``.

    ``raw_rewards`` ``(B,)``: the step's rewards before :func:`~treecredit.rewards.failed.neutralise_failed_rewards`
    (NaN where the reward failed). ``reward`` (mean) and ``accuracy`` (share > 0.5) are over the scored rows
    only, a failed reward being no 0 and not the value imputed for the baseline; both NaN (written as JSON null)
    when no row was scored. ``step_accuracy`` is NaN (null) when the task has no partial verifier."""
    import torch

    from treecredit.tasks.base import step_accuracy_share

    correct = total = 0
    for row, text in enumerate(rollout.response_texts):
        good, n = task.step_accuracy(problems[int(rollout.problem_index[row])], text)
        correct, total = correct + good, total + n
    lengths = rollout.response_mask.sum(1).double()
    scored = raw_rewards[~torch.isnan(raw_rewards)]
    none = scored.numel() == 0
    return {"reward": float("nan") if none else reward_sum(scored) / scored.numel(),
            "accuracy": float("nan") if none else float((scored > 0.5).double().mean()),
            "response_length": float(lengths.mean()), "step_accuracy": step_accuracy_share(task, correct, total)}


def as_written(value) -> float:
    """A number as the shortest decimal that its dtype reads back as the same number: a float32 reward of
    0.7375 is 0.7375, not 0.737499952316284 (its exact float64 widening); other numbers as they are."""
    import numpy as np

    number = value.item() if hasattr(value, "item") else float(value)
    dtype = getattr(value, "dtype", None)
    if dtype is not None and str(dtype).endswith("float32") and math.isfinite(number):
        return float(str(np.float32(number)))  # NumPy prints a float32 in its shortest round-trip form
    return float(number)


def reward_sum(rewards) -> float:
    """The sum, in float64, of the finite ``rewards`` (a float32 tensor or array) as written
    (:func:`as_written`): rewards of 0.8 over 15 rows average 0.8, not 0.8000000119 (float32 noise); NaN (a
    failed reward) counts 0."""
    import numpy as np

    values = rewards.detach().cpu().numpy() if hasattr(rewards, "detach") else np.asarray(rewards)
    return math.fsum(as_written(v) for v in values.reshape(-1) if math.isfinite(float(v)))


def advantage_metrics(advantages, mask, tree_nodes=None, group_ids=None) -> dict:
    """Step-credit share, non-zero share and spread of ``advantages (B, T)`` under ``mask``."""
    m = mask.float()
    n = max(1, int(mask.sum()))  # shares as Python floats (float64): 8/15, not float32's 0.5333333611
    row_mean = (advantages * m).sum(1, keepdim=True) / m.sum(1, keepdim=True).clamp(min=1)
    differs = ((advantages - row_mean).abs() > 1e-6) & mask
    out = {"adv_nonzero_share": int(((advantages.abs() > 1e-8) & mask).sum()) / n,
           "adv_step_credit_share": int(differs.sum()) / n,
           "adv_abs_mean": float((advantages.abs().double() * m.double()).sum()) / n}
    if tree_nodes is not None and group_ids is not None:
        out["branch_points_per_group"] = branch_points_per_group(tree_nodes, group_ids)
    return out


def branch_points_per_group(tree_nodes, group_ids) -> float:
    """Mean over groups of the number of tree nodes (or the root) with ≥ 2 distinct children."""
    children: dict = {}
    for row in range(tree_nodes.shape[0]):
        parent = ("root", int(group_ids[row]))
        for node in dict.fromkeys(int(x) for x in tree_nodes[row].tolist() if int(x) >= 0):
            children.setdefault(parent, set()).add(node)
            parent = node
    groups = {int(g) for g in group_ids.tolist()}
    branching = sum(1 for kids in children.values() if len(kids) >= 2)
    return branching / max(1, len(groups))


class MetricsWriter:
    """Appends one JSON object per line to ``metrics.jsonl`` and, optionally, TensorBoard scalars.

    ``tensorboard``: True writes events to ``<folder>/tensorboard`` (the package must be installed; the
    run's pre-flight check says so), None writes them when tensorboard is installed, False never.
    Tags are namespaced by record kind (:func:`board_scalars`).
    """

    def __init__(self, folder: Path, *, keep_until_step: int | None = None, tensorboard: bool | None = None) -> None:
        self.path = Path(folder) / "metrics.jsonl"
        keep_records_until(self.path, keep_until_step)
        if keep_until_step is None:
            self.path.write_text("")
        self.board = None
        self._board_thread = None
        if tensorboard is not False:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:
                if tensorboard:
                    raise
            else:
                purge = None if keep_until_step is None else keep_until_step + 1  # drop events past the resume
                self.board = SummaryWriter(str(Path(folder) / "tensorboard"), purge_step=purge)
                self._board_thread = quiet_board_thread(self.board)

    def write(self, record: dict) -> None:
        """Append ``record``; a non-finite number (a NaN mean of failed rewards, say) is written as
        JSON ``null`` (strict JSON readers refuse ``NaN``) and left out of TensorBoard.

        Raises the ``OSError`` (a full disk, say) of a TensorBoard write that failed in the writer's background
        thread since the last call (that thread prints nothing: :func:`quiet_board_thread`), so that the run
        stops with its one-line error (:func:`~treecredit.training.out_folder.write_errors`)."""
        record = json_safe(record)
        with self.path.open("a") as handle:
            handle.write(json.dumps(record, allow_nan=False) + "\n")
        if self.board is not None:
            self._raise_board_failure()
            for tag, value in board_scalars(record).items():
                self.board.add_scalar(tag, value, record["step"])

    def close(self) -> None:
        """Flush and close the TensorBoard events; raises a write of them that failed in the background."""
        if self.board is not None:
            board, self.board = self.board, None
            board.close()
            self._raise_board_failure()

    def _raise_board_failure(self) -> None:
        failure = getattr(self._board_thread, "exception", None)
        if failure is not None:
            self.board = None  # closed as far as it can be: its thread is gone
            raise failure


_QUIET_THREADS: weakref.WeakSet = weakref.WeakSet()
"""The TensorBoard writer threads whose uncaught exception :func:`_quiet_hook` does not print (their
``exception`` attribute keeps it; the writer raises it in the main thread)."""


def quiet_board_thread(board):
    """The background thread of a ``SummaryWriter`` (``board``), made quiet: a write that fails there (an
    ``OSError``: a full disk) no longer prints a raw "Exception in thread ..." traceback in the middle of a run
    (:data:`threading.excepthook`); the thread keeps it as its ``exception``, which the writer raises at its
    next call in the main thread. None (nothing changed) where this tensorboard has no such thread."""
    import threading

    thread = getattr(getattr(getattr(getattr(board, "file_writer", None), "event_writer", None),
                             "_async_writer", None), "_worker", None)
    if not isinstance(thread, threading.Thread) or not hasattr(thread, "exception"):
        return None
    _QUIET_THREADS.add(thread)
    if getattr(threading.excepthook, "_quiet_previous", None) is None:
        previous = threading.excepthook

        def hook(args):
            if args.thread in _QUIET_THREADS:
                _QUIET_THREADS.discard(args.thread)
                return
            previous(args)

        hook._quiet_previous = previous  # type: ignore[attr-defined]
        threading.excepthook = hook
    return thread


def json_safe(value):
    """``value`` with every non-finite float (NaN, ±inf), also inside lists and dicts, replaced by None."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {key: json_safe(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item) for item in value]
    return value


def board_scalars(record: dict) -> dict[str, float]:
    """TensorBoard tags of one record: ``train/<metric>`` for a train record (counters included);
    ``eval/<metric>`` for an evaluation record (its ``eval_`` prefix dropped; counters are in train/)."""
    kind = record.get("kind", "train")
    out = {}
    for key, value in record.items():
        if key in ("step", "kind") or isinstance(value, bool) or not isinstance(value, (int, float)):
            continue
        if not math.isfinite(value):  # n/a (a step accuracy without a step verifier): no point
            continue
        if kind == "eval":
            if key.startswith("eval_"):
                out["eval/" + key[len("eval_"):]] = value
        else:
            out[f"{kind}/{key}"] = value
    return out


def keep_records_until(path, step: int | None) -> None:
    """Drop the records of a JSON-lines file past ``step`` (a resumed run rewrites them); None: no change. The
    records kept are kept as written (their lines unchanged: non-ASCII text stays as its writer wrote it)."""
    path = Path(path)
    if step is None or not path.exists():
        return
    kept = [line for line in _record_lines(path) if json.loads(line)["step"] <= step]
    path.write_text("".join(line + "\n" for line in kept), encoding="utf-8")


def _record_lines(path) -> list[str]:
    """The lines of a JSON-lines file (UTF-8) that hold a record (blank lines left out), in order."""
    return [line for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]


def read_metrics(path) -> list[dict]:
    """The records of a ``metrics.jsonl`` (or ``samples.jsonl``: UTF-8) file, in order."""
    return [json.loads(line) for line in _record_lines(path)]


PENDING = "pending_step_tokens"
"""The key :func:`mark_set_aside` adds to the evaluation record of a run's last step when the run's next step was
set aside for passing its token budget (its generated tokens; the checkpoint holds the same number)."""


def mark_set_aside(path, step: int, step_tokens: int) -> None:
    """Add :data:`PENDING` = ``step_tokens`` to the (last) evaluation record of ``step`` in the ``metrics.jsonl``
    at ``path`` (rewritten whole, through a temporary file), so that a reader of the metrics alone can tell that
    a run which ended below its token budget is finished (:func:`set_aside_tokens`). No such record: no change."""
    path = Path(path)
    records = read_metrics(path)
    at_step = [r for r in records if r["kind"] == "eval" and r["step"] == step]
    if not at_step:
        return
    at_step[-1][PENDING] = int(step_tokens)
    _rewrite(path, records)


def set_aside_tokens(records: list[dict], step: int) -> int:
    """The generated tokens of the step set aside after ``step`` that :func:`mark_set_aside` noted in
    ``records`` (0: none noted)."""
    return max((int(r.get(PENDING) or 0) for r in records if r.get("kind") == "eval" and r.get("step") == step),
               default=0)


def _rewrite(path: Path, records: list[dict]) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text("".join(json.dumps(json_safe(r), allow_nan=False) + "\n" for r in records),
                         encoding="utf-8")
    temporary.replace(path)


def flag_earlier_closings(records: list[dict], eval_every: int, path: Path | None = None) -> list[dict]:
    """``records`` (a run's ``metrics.jsonl``, in order) with :data:`~treecredit.training.report.CLOSING` set
    on each evaluation that a run started with its present budget would not have made: one before the run's
    last step (so it closed the run at an earlier, smaller budget, and the run was resumed past it) at a step
    that is neither 0 nor a multiple of ``eval_every`` (the schedule of
    :func:`~treecredit.training.evaluation.due`; ``eval_every`` 0: no step between). Scheduled evaluations are
    kept, since a fresh run makes them too (unless ``eval_time_share`` skips one, which depends on wall time).
    ``path``: the run's ``metrics.jsonl``, rewritten with the flags (whole, through a temporary file) when one is
    new, so that the record stays there for provenance and says why the report leaves it out."""
    from treecredit.training.report import CLOSING

    last = max((r["step"] for r in records), default=0)
    new = False
    for record in records:
        step = record["step"]
        if record["kind"] == "eval" and 0 < step < last and not (eval_every > 0 and step % eval_every == 0):
            new = new or not record.get(CLOSING)
            record[CLOSING] = True
    if new and path is not None and path.exists():
        _rewrite(path, records)
    return records
