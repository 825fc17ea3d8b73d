"""TRL's trainer keywords under ``treecredit train``: ``trainer_state``, ``log_metric`` and ``log_extra``.

TRL's ``GRPOTrainer`` calls each reward function with ``trainer_state=`` (its ``TrainerState``: for reward
shaping by training progress), ``log_metric=`` (``log_metric(name, value)``: a scalar, averaged over the step
and logged beside the built-in metrics) and ``log_extra=`` (``log_extra(column, values)``: one value per
completion, a column of the completions table). The built-in trainer passes the same three
(:class:`TrainerKeywords`, attached to the task's :class:`~treecredit.rewards.RewardSet` by
:func:`attach`), to the functions that take them (a parameter of that name, or ``**kwargs``), so that a reward
written for TRL runs unchanged:

- ``trainer_state``: a :class:`RunState` (``global_step``, ``max_steps``, ``epoch``: the fields of TRL's
  state that a reward reads for progress);
- ``log_metric(name, value)``: the mean of a step's values is logged as ``reward_metric/<name>`` in that step's
  record of ``metrics.jsonl`` (an evaluation's values in the evaluation's record);
- ``log_extra(column, values)``: a line ``{"step", "kind", "column", "values", "completions"}`` in
  ``reward_extra.jsonl`` of the run folder, the values beside the completions of the call that logged them.

Values logged while the rewards are probed before any work (:meth:`RewardSet.probing`) are dropped. An agent
run (``--env``) calls no reward function (the env's step gives the rewards; ``--reward`` is refused there, saying
so), so none of the three arises there.
"""

from __future__ import annotations

import inspect
import json
import math
from collections.abc import Mapping, Set
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from treecredit._validation import fail


class LogMisuse(ValueError):
    """A ``log_metric``/``log_extra`` call that is wrong whatever the completions (a bug in the reward function):
    :class:`~treecredit.rewards.RewardSet` raises it to the user instead of calling the function again once per
    completion (until trial 37, 2026-12-03, that retry accepted ``log_extra('col', [1])`` for each completion, and
    the single value was logged beside both)."""


def _misuse(argument: str, problem: str, fix: str):
    try:
        fail(argument, problem, fix)
    except ValueError as error:
        raise LogMisuse(*error.args) from None

LogMark = tuple[dict[str, int], int]
"""What :meth:`TrainerKeywords.mark` gives: ``log_metric`` values logged per name, and ``log_extra`` lines."""
KEYWORDS = ("trainer_state", "log_metric", "log_extra")
"""The TRL keywords :class:`TrainerKeywords` passes (``completion_ids`` comes from the samplers)."""
METRIC_PREFIX = "reward_metric/"
"""What ``log_metric``'s names are logged under in ``metrics.jsonl`` (never clashing with the run's own)."""


@dataclass
class RunState:
    """What a reward function reads of ``trainer_state`` under ``treecredit train`` (TRL passes its
    ``transformers.TrainerState``; these are the fields of it that describe progress).

    Attributes:
        global_step: steps completed when the batch is scored (0 while the first step's completions are).
        max_steps: the run's ``--steps`` (0 when only ``--token_budget`` ends it).
        epoch: training problems drawn so far over the size of the task's training set (a float), or None for
            a task that generates its problems (no set to go through).
    """

    global_step: int = 0
    max_steps: int = 0
    epoch: float | None = None


class TrainerKeywords:
    """The three keywords of one run: :attr:`state`, and the logs that :meth:`take_metrics` and
    :meth:`write_extras` hand to the run's records."""

    def __init__(self, max_steps: int = 0, pool_size: int = 0, prompts_per_step: int = 0) -> None:
        self.state = RunState(max_steps=max_steps, epoch=0.0 if pool_size else None)
        self._pool, self._per_step = pool_size, prompts_per_step
        self._metrics: dict[str, list[float]] = {}
        self._extras: list[dict] = []
        self.completions: list = []  # the completions of the call under way (RewardSet sets them)

    def begin(self, step: int) -> None:
        """Before a step's sampling or an evaluation, with ``step`` steps completed: set :attr:`state`, and drop
        what was logged since the last record (a step the token budget set aside before training on it)."""
        self._metrics.clear()
        self._extras.clear()
        self.state.global_step = step
        if self._pool:
            self.state.epoch = step * self._per_step / self._pool

    def keywords(self, probing: bool = False) -> dict[str, Any]:
        """``{"trainer_state", "log_metric", "log_extra"}`` for a reward call; in a probe the logs are dropped."""
        if probing:
            return {"trainer_state": self.state, "log_metric": _dropped, "log_extra": _dropped}
        return {"trainer_state": self.state, "log_metric": self.log_metric, "log_extra": self.log_extra}

    def log_metric(self, name: str, value: float) -> None:
        """TRL's ``log_metric``: one scalar for this batch (averaged over the step). ``LogMisuse`` naming
        ``log_metric`` for a name that is not a non-empty str, or a value that is not a finite number."""
        if not isinstance(name, str) or not name:
            _misuse("log_metric", f"got the name {name!r}", "pass a non-empty str, e.g. log_metric('length', 12.0)")
        try:
            number = float(value)
        except (TypeError, ValueError):
            number = math.nan
        if isinstance(value, bool) or not math.isfinite(number):
            _misuse("log_metric", f"got {value!r} for {name!r}, not a finite number", "log one float per call")
        self._metrics.setdefault(name, []).append(number)

    def log_extra(self, column: str, values: list) -> None:
        """TRL's ``log_extra``: one value per completion of the call, kept beside those completions. ``ValueError``
        naming ``log_extra`` (a :class:`LogMisuse`) for a column that is not a non-empty str, values that are not a
        sequence (a str, a dict: until trial 37 logged as its keys, a set), or a sequence whose length is not the
        call's number of completions."""
        if not isinstance(column, str) or not column:
            _misuse("log_extra", f"got the column {column!r}", "pass a non-empty str, e.g. log_extra('judge', notes)")
        if isinstance(values, str | bytes | Mapping | Set) or not hasattr(values, "__len__"):  # (a dict: its keys)
            _misuse("log_extra", f"got {type(values).__name__} values for {column!r}",
                    "pass a list, one per completion")
        values, n = list(values), len(self.completions)
        if n and len(values) != n:  # (until 2026-12-03 written beside the completions as it was, without a word)
            _misuse("log_extra", f"values has {len(values)} item(s) for {column!r}, but the call scores {n} "
                 f"completion(s): one value per completion, in their order",
                 f"pass {n} values, e.g. log_extra({column!r}, [value_of(c) for c in completions])")
        self._extras.append({"column": column, "values": values, "completions": list(self.completions)})

    def mark(self) -> LogMark:
        """How much is logged so far (``log_metric`` values per name, ``log_extra`` lines): :meth:`forget_since`
        drops what is logged after it."""
        return {name: len(values) for name, values in self._metrics.items()}, len(self._extras)

    def forget_since(self, mark: LogMark) -> None:
        """Drop what was logged after ``mark`` (:meth:`mark`): a reward call that raised keeps none of its values
        (until 2026-12-03 a batch call's values stayed beside those of the calls once per completion that followed
        it)."""
        counts, extras = mark
        for name in list(self._metrics):
            kept = self._metrics[name][:counts.get(name, 0)]
            if kept:
                self._metrics[name] = kept
            else:
                del self._metrics[name]
        del self._extras[extras:]

    def take_metrics(self) -> dict[str, float]:
        """``{"reward_metric/<name>": mean}`` of the values logged since the last take (then forgotten)."""
        out = {f"{METRIC_PREFIX}{name}": sum(v) / len(v) for name, v in self._metrics.items()}
        self._metrics.clear()
        return out

    def write_extras(self, folder, step: int, kind: str) -> None:
        """Append the ``log_extra`` columns logged since the last write to ``<folder>/reward_extra.jsonl``."""
        from treecredit.training.metrics import json_safe

        if not self._extras:
            return
        with (Path(folder) / "reward_extra.jsonl").open("a", encoding="utf-8") as handle:
            for extra in self._extras:
                line = json.dumps(json_safe({"step": step, "kind": kind, **extra}), ensure_ascii=False, default=str)
                handle.write(line + "\n")
        self._extras.clear()


def log_into(run: TrainerKeywords | None, record: dict, folder) -> None:
    """Add the ``log_metric`` means logged since :meth:`TrainerKeywords.begin` to ``record`` (a train or eval
    record of ``metrics.jsonl``, before it is written) and write the ``log_extra`` columns beside it."""
    if run is not None:
        record.update(run.take_metrics())
        run.write_extras(folder, record["step"], record["kind"])


def _dropped(*_: Any, **__: Any) -> None:
    """A probe's ``log_metric`` / ``log_extra``: nothing is logged before any work."""


def accepted(fn, keywords: dict) -> dict:
    """The part of ``keywords`` that ``fn`` takes: all with ``**kwargs``, else those it names (none when its
    signature cannot be read), so a function written before these keywords were passed is called as before."""
    if not keywords:
        return keywords
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return {}
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params):
        return keywords
    names = {p.name for p in params}
    return {k: v for k, v in keywords.items() if k in names}


def attach(task, max_steps: int, prompts_per_step: int) -> TrainerKeywords | None:
    """Give ``task``'s reward functions (its ``_reward_set``, a :class:`~treecredit.rewards.RewardSet`; None
    for a task without one) the keywords of a run of ``max_steps`` steps of ``prompts_per_step`` prompts."""
    reward_set = getattr(task, "_reward_set", None)
    if reward_set is None or not hasattr(reward_set, "trainer_keywords"):
        return None
    pool = len(getattr(task, "train_problems", None) or ())
    reward_set.trainer_keywords = TrainerKeywords(max_steps, pool, prompts_per_step)
    return reward_set.trainer_keywords
