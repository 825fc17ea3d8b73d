"""TreeCreditGRPOTrainer's checks of the reward functions and the datasets, when the trainer is built (before TRL
loads anything and before the first generation, where these mistakes would surface as TRL's terse errors):

- :func:`check_datasets`: ``train_dataset`` (and ``eval_dataset``) must have a ``prompt`` column;
- :func:`check_reward_signatures`: each reward function must take the keyword arguments TRL calls it with
  (``prompts``, ``completions``, ``completion_ids``, ``trainer_state``, the dataset's other columns, ...), so it
  needs ``**kwargs`` unless it names them all, and each of its required parameters must be one of them (a
  parameter named after a column the dataset does not have is refused, naming both);
- :func:`checked_reward`: a reward function wrapped so that what it returns for a batch is checked, naming the
  function and what it returned (None, a str, a scalar, a list of the wrong length), as
  :func:`~treecredit.integrations.trl_tree.leaf_rewards` checks a leaf's rewards.

Each refusal is the project's ``ValueError`` (``<argument>: <problem>. Fix: <fix>.``).
"""

from __future__ import annotations

import functools
import inspect
from typing import Any

from treecredit._validation import fail

TRL_KEYWORDS = ("prompts", "completions", "completion_ids", "trainer_state")
"""What GRPOTrainer passes every reward function, besides the dataset's other columns (and, in the TRL versions
that have them, ``log_extra`` and ``log_metric``)."""


def _columns(dataset) -> list[str] | None:
    """The column names of a 🤗 ``Dataset`` (None when unknown: an ``IterableDataset`` without features, a torch
    dataset)."""
    names = getattr(dataset, "column_names", None)
    return list(names) if isinstance(names, (list, tuple)) else None


def check_datasets(train_dataset, eval_dataset=None) -> None:
    """Refuse a dataset without a ``prompt`` column (``train_dataset``, ``eval_dataset`` or one of its named
    parts), naming its columns and the fix."""
    parts = [("train_dataset", train_dataset)]
    if isinstance(eval_dataset, dict):
        parts += [(f"eval_dataset[{key!r}]", part) for key, part in eval_dataset.items()]
    elif eval_dataset is not None:
        parts.append(("eval_dataset", eval_dataset))
    for name, dataset in parts:
        columns = _columns(dataset)
        if columns is not None and "prompt" not in columns:
            other = next((c for c in columns if c in ("question", "problem", "query", "input", "text")), "question")
            fail(name, f"has no 'prompt' column (its columns: {columns}); GRPOTrainer reads each row's prompt from it",
                 f"rename the column that holds the prompts, e.g. {name.split('[')[0]} = "
                 f"dataset.rename_column({other!r}, 'prompt')")


def _passed(columns: list[str], trainer_cls) -> set[str]:
    """The keyword arguments GRPOTrainer calls a reward function with, for a dataset with ``columns``."""
    passed = set(TRL_KEYWORDS) | {c for c in columns if c not in ("prompt", "completion", "completion_ids")}
    if hasattr(trainer_cls, "_log_completion_extra"):
        passed.add("log_extra")
    if hasattr(trainer_cls, "_log_metric"):
        passed.add("log_metric")
    return passed


def _plain_function(func) -> bool:
    """Whether ``func`` is a reward function (not a model id, not a reward model)."""
    return callable(func) and not isinstance(func, str) and not hasattr(func, "forward")


def function_name(func) -> str:
    return getattr(func, "__name__", type(func).__name__)


def check_reward_signatures(reward_funcs, train_dataset, trainer_cls) -> None:
    """Refuse a reward function that TRL's call would fail on, naming the function and the fix: one without
    ``**kwargs`` that does not take a keyword TRL passes, one with a required parameter TRL does not pass (a
    dataset column the dataset lacks: both named), one with a required positional-only parameter (TRL passes
    keywords only). The dataset's columns come from ``train_dataset`` (not checked against columns when unknown)."""
    funcs = reward_funcs if isinstance(reward_funcs, (list, tuple)) else [reward_funcs]
    columns = _columns(train_dataset)
    passed = _passed(columns or [], trainer_cls)
    for func in funcs:
        if not _plain_function(func):
            continue
        try:
            params = list(inspect.signature(func).parameters.values())
        except (TypeError, ValueError):
            continue
        name = function_name(func)
        shown = ", ".join(str(p) for p in params)
        for p in params:
            if p.kind is p.POSITIONAL_ONLY and p.default is p.empty:
                fail("reward_funcs", f"reward function {name!r} takes {p.name!r} by position only, and GRPOTrainer "
                     "calls reward functions with keyword arguments only", f"define it as def {name}(prompts, "
                     "completions, **kwargs), reading the other arguments by name")
        if not any(p.kind is p.VAR_KEYWORD for p in params):
            taken = {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
            extra = sorted(passed - taken)
            if columns is not None and extra or columns is None and set(TRL_KEYWORDS) - taken:
                fail("reward_funcs", f"reward function {name!r} ({shown}) takes no **kwargs, but GRPOTrainer calls it "
                     f"with the keyword arguments {extra or sorted(set(TRL_KEYWORDS) - taken)} too (the dataset's "
                     "other columns, trainer_state, ...)", f"add **kwargs to its parameters: def {name}({shown}, "
                     "**kwargs)")
        if columns is None:
            continue
        for p in params:
            if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and p.default is p.empty and p.name not in passed:
                fail("reward_funcs", f"reward function {name!r} needs the argument {p.name!r}, which GRPOTrainer "
                     f"passes only from a dataset column of that name, and train_dataset has none (its columns: "
                     f"{columns})", f"add a {p.name!r} column to the dataset (or rename the one that holds it), or "
                     f"give {p.name} a default in {name} ({p.name}=None)")


def checked_reward(func):
    """``func`` (a synchronous reward function) wrapped so that what it returns for a batch is checked as TRL needs
    it (a list of one number or None per completion), with an error naming the function and what it returned
    (:func:`~treecredit.integrations.trl_tree.leaf_rewards`) instead of TRL's bare ``TypeError``. Async
    functions, reward models and model ids are returned as they are (TRL tells them apart by type)."""
    if not _plain_function(func) or inspect.iscoroutinefunction(func) \
            or inspect.iscoroutinefunction(type(func).__call__):
        return func
    from treecredit.integrations.trl_tree import leaf_rewards

    name = function_name(func)

    @functools.wraps(func)
    def checked(*args: Any, **kwargs: Any):
        out = func(*args, **kwargs)
        if inspect.isawaitable(out):  # an awaitable from a plain function: TRL's business
            return out
        completions = kwargs.get("completions")
        return leaf_rewards(name, out, len(completions) if completions is not None else len(out))

    return checked
