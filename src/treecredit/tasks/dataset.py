"""A task made of a user's dataset and reward functions (TRL's ``reward_funcs`` convention).

Each row gives a prompt (``prompt_column``), an answer (``answer_column``, handed to the rewards as the
``answer`` keyword; by default the ``answer`` column when there is one, else the dataset has no answers),
optionally a worked solution (``solution_column``, used by the supervised warm start; else the answer) and
a system prompt (``system_column`` per row, or ``system_prompt`` for all). Every column reaches the reward
functions as a keyword argument, as in TRL (except ``prompt``, which is the ``prompts`` argument, and a
column named like an argument: ``completions``, ``steps``, ``completion_ids``). The prompt shown to the model is
``template.format(prompt=<prompt column>, **row)`` (after the system message, as a conversation); the
rewards and the step checker get the prompt column as it is in the row, as in TRL, not the filled template.

A response ends at the model's end-of-sequence (``end=""``, the default) or at an ``end`` text; its
steps are separated by ``delimiter`` (a newline by default), which the step estimators and the
optional ``step_checker`` (``module:function`` called as ``fn(prompt, steps, **columns) -> list[bool]``,
one bool per complete step) use.

Held-out problems: the rows of ``held_out_path`` or of the split ``held_out_split`` when given, else
``held_out`` rows (a fraction if below 1, a count otherwise) drawn with ``split_seed``; training
problems are drawn from the other rows only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from treecredit._validation import fail
from treecredit.tasks.base import Problem
from treecredit.tasks.chat import ChatPrompt, with_system
from treecredit.tasks.dataset_cells import check_answer_cells, check_number_prompts
from treecredit.tasks.dataset_io import check_columns, data_fingerprint, load_rows
from treecredit.tasks.dataset_rows import (
    check_cells,
    check_conversation_options,
    check_numeric_answers,
    check_repr_conversations,
    check_rewards_have_columns,
    is_conversation,
    note_no_answers,
    refuse_empty_warm_start,
)
from treecredit.tasks.fixed import FixedProblemsTask, float_product_count, held_out_count, split_held_out


@dataclass
class DatasetTask(FixedProblemsTask):
    """Problems from a local dataset file or folder, scored by reward functions.

    Args:
        path: ``.jsonl``/``.json``, ``.parquet``, ``.csv`` or a ``save_to_disk`` folder.
        rewards: reward specs or callables (see :mod:`treecredit.rewards`); default ``["math"]``.
        prompt_column, answer_column, solution_column, system_column: column names ('' = none);
            ``answer_column`` None (default): ``answer`` if the dataset has it, else none.
        system_prompt: one system message for every row ('' = none; ``system_column`` wins).
        template: ``str.format`` template of the prompt; ``{prompt}`` and any column name.
        held_out: held-out rows: a fraction (< 1) or a count (≥ 1) of the dataset; a fraction holds out
            ``ceil(fraction × rows)`` rows, rounded by ``held_out_rule``.
        held_out_rule: how a fraction's count is rounded up (:data:`~treecredit.tasks.fixed.HELD_OUT_RULES`): 2
            (the default), the fraction as the decimal it is written as (0.07 of 100 is 7, 0.14 of 50 is 7); 1, the
            float product, which holds out one row more where that product lands just above a whole number (0.07 ×
            100 = 7.000000000000001 → 8 rows, 0.14 × 50 → 8): the rule of every run started before 2026-12-02,
            which ``treecredit train --resume`` keeps (``TrainConfig.held_out_rule``).
        held_out_path: a separate file of held-out rows (then ``held_out`` is ignored).
        split, held_out_split: splits of a saved ``DatasetDict`` folder.
        split_seed: seed of the held-out draw.
        delimiter, end: step delimiter and end marker ('' = the model's end of sequence).
        step_checker: ``module:function`` partial verifier, or '' for none.
        wrong_step_is_fatal: declare that a wrong step always means reward 0 (allows sound cutoff).
    """

    path: str = ""
    rewards: list = field(default_factory=lambda: ["math"])
    prompt_column: str = "prompt"
    answer_column: str | None = None
    solution_column: str = ""
    system_column: str = ""
    system_prompt: str = ""
    template: str = "{prompt}"
    held_out: float = 0.1
    held_out_rule: int = 2
    held_out_path: str = ""
    split: str = ""
    held_out_split: str = ""
    split_seed: int = 0
    delimiter: str = "\n"
    end: str = ""
    step_checker: str = ""
    wrong_step_is_fatal: bool = False

    name = "dataset"

    def __post_init__(self) -> None:
        from treecredit.rewards import RewardSet, load_function

        if not self.path:
            fail("dataset", "no path was given", "pass --dataset PATH (.jsonl, .parquet, .csv or a saved folder)")
        rows = load_rows(self.path, split=self.split, text_columns=self._text_columns())
        if not self.prompt_column:
            fail("prompt_column", "is empty", "pass --task-option prompt_column=<column with the prompts>")
        self.answer_column = self._answer_column(list(rows[0]))
        columns = {"prompt_column": self.prompt_column, "answer_column": self.answer_column,
                   "solution_column": self.solution_column, "system_column": self.system_column}
        check_columns(rows, columns)
        where = f"{self.path!r}" + (f" (split {self.split!r})" if self.split else "")
        check_cells(rows, columns, where)
        self._check_prompts(rows, where)
        answered = [(rows, where)]  # the files whose answers a reward reads, with how errors name them
        if self.held_out_path or self.held_out_split:
            argument = "held_out_path" if self.held_out_path else "held_out_split"
            held = load_rows(self.held_out_path or self.path, split=self.held_out_split, argument=argument,
                             text_columns=self._text_columns())
            where = (f"held-out file {self.held_out_path!r}" if self.held_out_path
                     else f"split {self.held_out_split!r} of {self.path!r}")
            check_columns(held, columns, argument=argument, where=where)
            check_cells(held, columns, f"{where} ({argument})")
            self._check_prompts(held, f"{where} ({argument})")
            answered.append((held, f"{where} ({argument})"))
            train = rows
        else:
            if len(rows) == 1 and _positive(self.held_out):  # any held_out > 0 takes the one row
                fail("held_out", f"is {self.held_out}, but {self.path!r} holds one row, which cannot be both "
                     "trained on and held out", "add rows to the dataset, or pass the held-out rows as a file of "
                     "their own: --task-option held_out_path=FILE (then held_out is not used)")
            count = held_out_count(self.held_out, len(rows), self.held_out_rule)
            held, train = split_held_out(rows, count, self.split_seed, 3)
            self._rule_moved_rows = len(held) != float_product_count(self.held_out, len(rows))
        self._train = [self._problem(i, row) for i, row in enumerate(train)]
        self._held_out = [self._problem(i, row) for i, row in enumerate(held)]
        self._reward_set = RewardSet(self.rewards, argument="reward")
        check_rewards_have_columns(self._reward_set.items, list(rows[0]),
                                   bool(self.answer_column) or "answer" in rows[0], self.rewards)
        refuse_empty_warm_start(self.path, list(rows[0]), bool(self.answer_column), bool(self.solution_column))
        answer_rewards = _answer_rewards(self._reward_set.items)
        for table, source in answered:
            check_answer_cells(table, self.answer_column, source, answer_rewards)
            check_numeric_answers(self._reward_set.items, table, self.answer_column, source)
        self._checker = load_function(self.step_checker, "step_checker") if self.step_checker else None
        self.step_checker_failures = 0
        chars = {c for p in self._train + self._held_out for c in p.prompt + p.solution}
        self.alphabet = "".join(sorted(chars - {"\n"})) + "\n"

    def _text_columns(self) -> list[str]:
        """The columns a CSV file's rows hold as text (:func:`~treecredit.tasks.dataset_io.load_rows`): the prompt,
        answer (``answer`` when not given), solution and system columns and the columns the template names, so that
        an answer ``007`` stays ``'007'`` (not ``7``) and ``1.50`` stays ``'1.50'`` (not ``1.5``)."""
        import string

        answer = "answer" if self.answer_column is None else self.answer_column
        named = [self.prompt_column, answer, self.solution_column, self.system_column]
        try:  # {name}, {name.attr}, {name[0]}: the column is the name
            named += [re.split(r"[.\[]", f)[0] for _, f, _, _ in string.Formatter().parse(self.template) if f]
        except (ValueError, TypeError):
            pass  # a template that cannot be parsed is refused with its fix when the prompts are made
        return [c for c in named if isinstance(c, str) and c]

    def _check_prompts(self, rows: list[dict], where: str) -> None:
        """Refuse text-prompt options for conversational prompts, and conversations saved as their repr."""
        check_conversation_options(rows, self.prompt_column, where, template=self.template,
                                   system_prompt=self.system_prompt, system_column=self.system_column)
        check_repr_conversations(rows, self.prompt_column, where)
        check_number_prompts(rows, self.prompt_column, where, self.template,
                             {self.answer_column, self.solution_column, self.system_column})

    def _answer_column(self, have: list[str]) -> str:
        """The answer column: the one given ('' = none), else ``answer`` when the dataset has it, else none
        (noted once: a dataset without answers, e.g. code with tests, is valid)."""
        given = self.answer_column
        if isinstance(given, (int, float)) and not isinstance(given, bool):
            return str(given)  # a number for a text option is its text, as for the other columns
        if given is not None and not isinstance(given, str):
            fail("answer_column", f"is {given!r} ({type(given).__name__}), must be text",
                 "pass --task-option answer_column=NAME, or answer_column= for a dataset without answers")
        if given is not None:
            return given
        if "answer" in have:
            return "answer"
        note_no_answers(self.path, have, solutions=bool(self.solution_column))
        return ""

    def _problem(self, index: int, row: dict) -> Problem:
        raw = row[self.prompt_column]
        if is_conversation(raw):  # TRL's conversational format: the messages go to the chat template
            return Problem(ChatPrompt.from_messages(raw), *self._answers(row), (index, raw, self._columns(row)))
        try:
            text = self.template.format(**{**row, "prompt": raw})
        except (KeyError, IndexError, ValueError) as exc:
            fail("template", f"{self.template!r} cannot be filled from a row ({type(exc).__name__}: {exc})",
                 f"use {{prompt}} and column names among {list(row)}")
        cell = row[self.system_column] if self.system_column else None  # a null cell (CSV's empty one): none
        system = self.system_prompt if cell is None else str(cell)
        return Problem(with_system(text, system), *self._answers(row), (index, raw, self._columns(row)))

    def _answers(self, row: dict) -> tuple[str, str]:
        """``(solution + end, answer)`` of a row."""
        answer = "" if not self.answer_column or row[self.answer_column] is None else str(row[self.answer_column])
        cell = row[self.solution_column] if self.solution_column else None
        solution = answer if cell is None else str(cell)  # a row without a worked solution: its answer
        return solution + self.end, answer

    def _columns(self, row: dict) -> dict:
        """Every column as a keyword, as TRL passes them (never over the call's own arguments)."""
        columns = {k: v for k, v in row.items() if k not in ("prompt", "prompts", "completions", "steps",
                                                               "completion_ids")}
        if self.answer_column:
            columns["answer"] = row[self.answer_column]
        return columns

    def rewards_of(self, problems: list[Problem], responses: list[str],
                   completion_ids: list | None = None) -> list[float | None]:
        """Rewards of a batch of (problem, response) pairs in one call of each reward function (given
        ``completion_ids``, each response's token ids, the functions get them as TRL's ``completion_ids``)."""
        keys = sorted({k for p in problems for k in p.data[2]})
        columns = {k: [p.data[2].get(k) for p in problems] for k in keys}
        completions = [[{"role": "assistant", "content": r}] if is_conversation(p.data[1]) else r
                       for p, r in zip(problems, responses)]  # TRL: conversational prompt, conversational completion
        return self._reward_set([p.data[1] for p in problems], completions, completion_ids=completion_ids,
                                **columns)

    def score_batch(self, problems: list[Problem], responses: list[str],
                    completion_ids: list | None = None) -> list[float]:
        """The weighted rewards of a batch, each reward function called once; NaN where they failed."""
        return [float("nan") if v is None else float(v) for v in self.rewards_of(problems, responses, completion_ids)]

    def success_of(self, problems: list[Problem], responses: list[str]) -> list[bool] | None:
        """Whether each response's final answer equals its row's answer (math-verify, the ``math`` reward):
        what held-out pass@1 counts, whatever the training rewards are. A row without an answer counts as
        not solved; None when no row has one (pass@1 is then the mean reward)."""
        from treecredit.rewards.builtin import math_reward

        if not self.answer_column:  # answer_column= (empty): the dataset has no answers to check
            return None
        answers = [p.data[2].get("answer") for p in problems]
        if all(a is None or a == "" for a in answers):
            return None
        scores = math_reward([p.data[1] for p in problems], list(responses), answer=answers)
        return [s is not None and s >= 1.0 for s in scores]

    def reward(self, problem: Problem, response: str) -> float:
        """The weighted reward; NaN when the rewards failed (the trainer gives that row no advantage)."""
        value = self.rewards_of([problem], [response])[0]
        return float("nan") if value is None else float(value)

    @property
    def reward_failures(self) -> int:
        return self._reward_set.failed

    @property
    def has_step_checker(self) -> bool:
        return bool(self.step_checker)

    def check_steps(self, problem: Problem, response: str) -> list[bool]:
        if self._checker is None:
            return []
        steps = self.complete_steps(response)
        try:
            checks = [bool(c) for c in self._checker(prompt=problem.data[1], steps=steps, **problem.data[2])]
        except Exception:  # noqa: BLE001 — a failing checker judges nothing (and never cuts); counted
            self.step_checker_failures += 1
            return []
        return checks[: len(steps)]

    def cache_identity(self) -> dict:
        """What the warm-start cache key needs: the options and the data files' sizes and sha256 (an edited
        file is new data), not the loaded rows."""
        options = {k: v for k, v in vars(self).items()
                   if not k.startswith("_") and k not in ("rewards", "step_checker_failures", "held_out_rule")}
        if getattr(self, "_rule_moved_rows", False):  # only then: a rule that splits alike keeps the caches' keys
            options["held_out_rule"] = self.held_out_rule  # (the evaluated held-out prompts may not show the row)
        files = [p for p in (self.path, self.held_out_path) if p]
        if self.system_prompt or self.system_column:  # since the system message is part of the prompt text, the
            options["system_in_prompt_text"] = True   # small GPT sees it: weights cached before did not
        return {**options, "data_fingerprints": [data_fingerprint(p) for p in files]}


def _answer_rewards(items: list) -> list[str]:
    """The names of the built-in rewards among ``items`` (a RewardSet's) that compare completions with the answer."""
    from treecredit.rewards.builtin import exact_reward, math_reward, numeric_reward
    from treecredit.tasks.dataset_rows import _base

    return [name for name, fn, _ in items if _base(fn) in (math_reward, exact_reward, numeric_reward)]


def _positive(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value > 0
