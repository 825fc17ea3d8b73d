"""Several reward functions with weights, called TRL's way, with failures counted instead of fatal.

r(completion) = Σ_f w_f · r_f(completion) over the functions that returned a number. Following TRL, a
function returning None for a completion means "does not apply here" and is left out of the sum; when every
function returned None, or one raised or returned something other than a finite number (text such as ``"1"``,
NaN, ±inf: logged naming the function), the completion has no reward: :meth:`RewardSet.__call__` gives None
for it, which the trainer turns into a zero advantage (the row is counted in ``reward_failed``; an error is
logged, and completions that every function returned None for are said once per run).
A function that returns a list of the wrong length, or no list (a bare None too: a missing ``return``), is a
bug in it and raises ``ValueError``.
The first ``max_logged`` failures are logged (a warning each), then one line says that further ones are
only counted. A function whose batch call raised is called again once per completion; the first time, a warning
names it and the error (:meth:`RewardSet._note_fallback`). :meth:`RewardSet.probing` marks calls the functions
on a small batch before training (preflight).
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Sequence

from treecredit._validation import FixError, fail
from treecredit.rewards.builtin import BUILTIN_REWARDS
from treecredit.rewards.calls import FLOAT32_MAX, awaited, raised_note, returned_list, reward_number
from treecredit.rewards.calls import TRL_KEYWORDS as TRL_KEYWORDS  # (imported from here too)
from treecredit.rewards.load import make_reward
from treecredit.rewards.numeric import probe_refusal
from treecredit.rewards.trainer_keywords import LogMisuse, TrainerKeywords, accepted

log = logging.getLogger("treecredit.rewards")

PROBLEM_KEY = "treecredit_problem"
"""The column that carries each row's Problem to a task's own verifier (``--reward task``)."""
INTERNAL_COLUMNS = (PROBLEM_KEY,)
"""Columns treecredit passes for its own rewards only; a user's function never sees them."""


class RewardSet:
    """Weighted reward functions (specs, callables or ``(callable, weight)`` pairs).

    Attributes:
        failed: completions that got no reward so far; errors: the last few error messages.
    """

    def __init__(self, rewards: Sequence, *, argument: str = "reward", max_logged: int = 5) -> None:
        if not rewards:
            fail(argument, "no reward function was given",
                 "pass --reward math (or exact, numeric, code, module:function)")
        self.items: list[tuple[str, Callable, float]] = [make_reward(r, argument) for r in rewards]
        if all(weight < 0 for _, _, weight in self.items):
            import warnings

            written = ", ".join(f"{n}@{w:g}" for n, _, w in self.items)
            warnings.warn(f"{argument}: every weight is negative ({written}), "
                          "so training pushes the policy away from what the reward functions score; a penalty "
                          "usually goes beside a positive reward (e.g. --reward math --reward my:length_penalty@-0.1)",
                          UserWarning, stacklevel=2)
        self.argument = argument
        self.failed = 0
        self.calls = 0
        self.errors: list[str] = []
        self.max_logged = max_logged
        self.logged = 0
        # during probe(): function name → (failures, the last one's message, the TRL keywords it was missing)
        self._probing: dict | None = None
        self._answers_checked = False
        self._held_out = False  # within held_out(): an evaluation, where a failed reward trains nothing
        self.probe_failures = 0  # failures noted by the last probe (probing())
        self._fell_back: set[str] = set()  # functions whose batch call raised (_note_fallback said so once)
        self._none_noted: set[bool] = set()  # _note_none_applies said so (once in training, False; once held out, True)
        self._overflowed: dict[str, tuple] = {}  # in a probe: function → (a value beyond float32, its weight)
        self._sum_overflowed: float | None = None  # in a probe: a weighted sum beyond float32
        # TRL's trainer_state, log_metric, log_extra (a run's: trainer_keywords.attach)
        self.trainer_keywords: TrainerKeywords | None = None

    @property
    def names(self) -> list[str]:
        return [name for name, _, _ in self.items]

    def __call__(self, prompts: list[str], completions: list, *, completion_ids: list | None = None,
                 **columns) -> list[float | None]:
        """One weighted reward (float) or None per completion; ``columns`` are lists of the same length, and so
        is ``completion_ids`` (each completion's token ids, passed on as TRL's ``completion_ids`` when given).
        A function defined with ``async def`` is run to completion (TRL awaits them too)."""
        n = len(completions)
        if completion_ids is not None:
            columns = {**columns, "completion_ids": list(completion_ids)}
        own = columns  # internal columns (INTERNAL_COLUMNS) reach only functions marked takes_internal_columns
        public = {k: v for k, v in columns.items() if k not in INTERNAL_COLUMNS}
        totals: list[float | None] = [None] * n
        broken = [False] * n
        run = self.trainer_keywords
        keywords = {} if run is None else run.keywords(probing=self._probing is not None)
        if run is not None:
            run.completions = list(completions)  # what log_extra's values stand beside
        for name, fn, weight in self.items:
            columns = own if getattr(fn, "takes_internal_columns", False) else public
            refusal = (probe_refusal(fn, columns, n) if self._probing is not None and not self._answers_checked
                       else None)
            if refusal is not None:  # numeric, whose every answer probed is not one number: refused before any work
                raise refusal
            given = accepted(fn, keywords)  # a dataset column of the same name gives way, as under TRL
            logged = None if run is None else run.mark()
            try:  # one call for the whole batch, as TRL calls its reward_funcs
                values = awaited(fn(prompts=prompts, completions=completions, **{**columns, **given}))
            except LogMisuse:  # a bug in the reward function (trial37): calling it per completion would hide it
                raise
            except Exception as exc:  # noqa: BLE001 — a user's reward must never stop training
                if run is not None and logged is not None:  # what a call that raised logged is not kept (review36)
                    run.forget_since(logged)
                if n == 1:
                    self._note(*raised_note(name, exc, {**columns, **keywords}), raised_by=name, error=exc)
                    broken = [True]
                    continue
                values, raised, notes = self._call_each(name, fn, prompts, completions, columns, given)
                if run is not None:  # the next function's log_extra stands beside the whole batch again
                    run.completions = list(completions)
                broken = [b or r for b, r in zip(broken, raised)]
                self._note_fallback(name, exc, n, alone=not any(raised))
                for message, missing, error in notes:  # after the line that says why it was called again
                    self._note(message, missing, raised_by=name, error=error)
            values = returned_list(self.argument, name, values, n)
            for i, value in enumerate(values):
                if value is None:
                    continue
                number = reward_number(value)
                if number is not None and abs(weight * number) > FLOAT32_MAX:
                    if self._probing is not None:
                        self._overflowed.setdefault(name, (value, weight))
                    self._note(f"{name} returned {value!r} (weight {weight:g}), beyond the range of float32 "
                               f"(±{FLOAT32_MAX:.3g}, the dtype training holds rewards in)", raised_by=name)
                    broken[i] = True
                elif number is None:
                    self._note(f"{name} returned {value!r} ({type(value).__name__}), not a finite number",
                               raised_by=name)
                    broken[i] = True
                else:
                    totals[i] = (totals[i] or 0.0) + weight * number
        for i, total in enumerate(totals):  # each weighted value fits float32, their sum may not
            if total is not None and not broken[i] and abs(total) > FLOAT32_MAX:
                if self._probing is not None and self._sum_overflowed is None:
                    self._sum_overflowed = total
                self._note(f"the weighted sum of {', '.join(self.names)} is {total:.3g}, beyond the range of "
                           f"float32 (±{FLOAT32_MAX:.3g}, the dtype training holds rewards in)")
                broken[i] = True
        out = [None if bad else total for bad, total in zip(broken, totals)]
        if self._probing is None:
            self.calls += n
            self.failed += sum(v is None for v in out)
            self._note_none_applies(sum(t is None and not b for t, b in zip(totals, broken)), n)
        return out

    def _note_none_applies(self, count: int, n: int) -> None:
        """Say once per run in training and once in held-out evaluation (not in a probe) that every function
        returned None ("does not apply", TRL's convention) for ``count`` of a batch's ``n`` completions: such a
        completion has no reward, so it is skipped (no advantage; counted in ``reward_failed``) or, in an
        evaluation, not scored."""
        if not count or self._held_out in self._none_noted:
            return
        self._none_noted.add(self._held_out)
        who = "the reward function" if len(self.items) == 1 else "every reward function"
        happens = ("held-out completions not scored: counted in eval_*_reward_failed" if self._held_out else
                   "skipped: no reward, so no advantage, and counted in reward_failed in metrics.jsonl")
        log.warning("reward: %s (%s) returned None (does not apply, TRL's convention) for %d of the %d completions "
                    "of a batch: they are %s. Later ones are only counted; this is said once per run (%s). If a "
                    "completion should score 0, return 0.0 for it, not None", who, ", ".join(self.names), count, n,
                    happens, "for held-out evaluation; training's are said apart" if self._held_out else
                    "for training; held-out evaluation's are said apart")

    @contextlib.contextmanager
    def probing(self, n: int, *, solutions: bool, answers_checked: bool = False):
        """Within it, calls are a probe (preflight, before any training work) of ``n`` completions: nothing is counted
        or logged. A function that returns a wrong number of values or no list raises as always; on leaving, one that
        raised on every completion for want of a TRL keyword that only a run passes (``trainer_state``,
        ``log_metric``, ``log_extra``: this set has no run attached) is refused, naming it; one that raised on every
        completion for want of ``completion_ids`` alone gets a warning (not tried); when ``solutions`` (the
        completions were worked solutions, which a reward must be able to score), one that raised on every
        completion otherwise is refused too. ``probe_failures`` is then the number of failures (raised, or no finite
        number) the probe noted. ``answers_checked``: the task checked every row's answers before (``numeric``'s
        :func:`~treecredit.rewards.numeric.check_dataset_answers`, which refuses a dataset with no readable answer
        and warns about a few), so the probed rows' unreadable answers are not refused again: whether a run starts
        must not depend on which rows the probe draws."""
        self._probing, self._overflowed, self._sum_overflowed = {}, {}, None
        self._answers_checked = answers_checked
        try:
            yield self
            raised = dict(self._probing)
        finally:
            self._probing, self._answers_checked = None, False
        for name, (value, weight) in self._overflowed.items():
            fail(self.argument, f"{name} returned {value!r}{f' (at weight {weight:g})' if weight != 1 else ''}, "
                 f"beyond the range of float32 (±{FLOAT32_MAX:.3g}), the dtype training holds rewards in: it would "
                 "be infinite there", f"return rewards on a smaller scale from {name} (e.g. in [0, 1]), or divide "
                 "them by a constant")
        if self._sum_overflowed is not None:
            fail(self.argument, f"the weighted sum of {', '.join(self.names)} is {self._sum_overflowed:.3g} for a "
                 f"completion, beyond the range of float32 (±{FLOAT32_MAX:.3g}), the dtype training holds rewards "
                 "in, although each weighted value is within it: it would be infinite there",
                 "return rewards on a smaller scale (e.g. in [0, 1]), or lower the weights (@W)")
        self.probe_failures = sum(errors for errors, *_ in raised.values())
        for name, (errors, last, missing, error) in raised.items():
            if errors < n:
                continue
            if name in BUILTIN_REWARDS and isinstance(error, FixError):
                raise error  # a built-in's own refusal, with its own fix
            never = [k for k in missing if k != "completion_ids"]  # a run's keywords, and no run is attached
            if never:  # the call fails whatever the completion: refused with or without worked solutions
                defaults = " and ".join(f"{k} a default ({k}=None)" for k in never)
                fail(self.argument, f"{last}, on every one of the {n} completions",
                     f"give {defaults} and score without {'it' if len(never) == 1 else 'them'} outside a run "
                     f"(treecredit train passes {'it' if len(never) == 1 else 'them'}), or fix "
                     f"{name} (call it by hand as {name}(prompts=[...], completions=[...], **columns))")
            if missing:  # completion_ids only: the samplers pass them
                import warnings

                warnings.warn(f"{self.argument}: {name} was not tried before any work: it needs completion_ids "
                              "(each completion's token ids), which exist only once the model samples (the "
                              "completions scored before any work have none); training and evaluation pass them",
                              UserWarning, stacklevel=3)
                continue
            if solutions:
                kwargs = ("add **kwargs to its parameters (it is called with every dataset column as a keyword, "
                          "TRL's convention), or " if "unexpected keyword argument" in last else "")
                fail(self.argument, f"{last}, on every one of the {n} completions",
                     f"{kwargs}fix {name} (call it by hand as {name}(prompts=[...], completions=[...], **columns)); "
                     "a completion it cannot score should get None, not an error")

    @contextlib.contextmanager
    def held_out(self):
        """Within it, calls score a held-out evaluation: a failure is logged as a completion not scored
        (counted in ``eval_*_reward_failed``), not as a skipped training completion."""
        before, self._held_out = self._held_out, True
        try:
            yield self
        finally:
            self._held_out = before

    def _call_each(self, name: str, fn: Callable, prompts: list, completions: list, columns: dict,
                   keywords: dict):
        """After a batch call raised: ``fn`` once per completion, so that only the failing ones are lost
        (``keywords``: the trainer's, passed whole). Returns ``(values, raised, notes)``: one value and whether
        it raised per completion, and the ``(message, missing, error)`` of each that raised, for :meth:`_note`
        (after :meth:`_note_fallback`)."""
        values: list = []
        raised: list[bool] = []
        notes: list[tuple] = []
        run = self.trainer_keywords
        for i in range(len(completions)):
            if run is not None:
                run.completions = [completions[i]]
            logged = None if run is None else run.mark()
            try:
                out = awaited(fn(prompts=[prompts[i]], completions=[completions[i]],
                                 **{**{k: [v[i]] for k, v in columns.items()}, **keywords}))
            except LogMisuse:  # as in __call__
                raise
            except Exception as exc:  # noqa: BLE001 — as in __call__
                if run is not None and logged is not None:
                    run.forget_since(logged)
                notes.append((*raised_note(name, exc, {**columns, **keywords}), exc))
                values.append(None)
                raised.append(True)
                continue
            out = returned_list(self.argument, name, out, 1)
            values.append(out[0])
            raised.append(False)
        return values, raised, notes

    def _note_fallback(self, name: str, exc: Exception, n: int, *, alone: bool) -> None:
        """Say once per function (not in a probe) that its batch call raised and it was called once per
        completion instead: that costs ``n`` + 1 calls a batch, on every batch whose call raises."""
        if self._probing is not None or name in self._fell_back:
            return
        self._fell_back.add(name)
        why = ("each completion alone was scored: it seems to score one completion at a time; make it return one "
               "value per completion of the list it is given (TRL's convention)" if alone else
               "some completions raised alone too (warned separately)")
        log.warning("reward: %s raised %s: %s when called with %d completions at once, so it was called again once "
                    "per completion (%d calls instead of 1, on this and every later batch whose call raises); %s. "
                    "This is said once per run", name, type(exc).__name__, exc, n, n + 1, why)

    def _note(self, message: str, missing: tuple = (), raised_by: str = "", error: Exception | None = None) -> None:
        """Log ``message`` (or, in a probe, count it for ``raised_by`` with the TRL keywords it was
        ``missing``, :func:`~treecredit.rewards.calls.raised_note`, and the ``error`` it raised)."""
        if self._probing is not None:  # a probe counts raises per function and logs nothing
            if raised_by:
                count = self._probing.get(raised_by, (0, "", (), None))[0]
                self._probing[raised_by] = (count + 1, message, missing, error)
            return
        self.errors = (self.errors + [message])[-self.max_logged:]
        self.logged += 1
        if self.logged <= self.max_logged:
            log.warning("reward: %s (%s)", message, "held-out completion not scored: counted in "
                        "eval_*_reward_failed" if self._held_out else "completion skipped: no advantage")
        if self.logged == self.max_logged:
            log.warning("reward: %d failures shown; further ones are only counted (reward_failed in "
                        "metrics.jsonl)", self.max_logged)
