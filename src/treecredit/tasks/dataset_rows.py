"""Checks of a user's dataset that :class:`~treecredit.tasks.dataset.DatasetTask` makes before any model
loads: cells that hold no prompt (``None``, ``''``) or a conversation that ends with its answer (an assistant
message), and rewards that need a column the dataset lacks
(``math``/``exact``/``numeric`` or a function with a required ``answer`` parameter on a dataset without
answers; ``code`` without a ``test`` column)."""

from __future__ import annotations

import contextvars
import functools
import inspect
import os

from treecredit._validation import fail

SHOWN_ROWS = 5
"""How many offending row numbers an error lists."""


def blank_rows(rows: list[dict], column: str) -> list[int]:
    """Numbers (counting from 1, in file order) of the rows whose ``column`` is null (``None``: JSON
    ``null``, an empty CSV cell, a key the row lacks), text of only whitespace or an empty conversation ``[]``."""
    out = []
    for number, row in enumerate(rows, 1):
        value = row.get(column)
        if value is None or (isinstance(value, (str, list)) and not _text(value).strip()):
            out.append(number)
    return out


def _text(value) -> str:
    return value if isinstance(value, str) else "".join(str(m) for m in value)


def ends_with_answer(value) -> bool:
    """Whether ``value`` is a conversation (TRL's conversational format) whose last message is the assistant's:
    an SFT row (TRL's ``messages``), whose final turn is the answer."""
    return isinstance(value, list) and bool(value) and isinstance(value[-1], dict) \
        and value[-1].get("role") == "assistant"


def answered_rows(rows: list[dict], column: str) -> list[int]:
    """Numbers (counting from 1, in file order) of the rows whose ``column`` is a conversation that ends with an
    assistant message (:func:`ends_with_answer`)."""
    return [number for number, row in enumerate(rows, 1) if ends_with_answer(row.get(column))]


def shown_rows(numbers: list[int]) -> str:
    """``row 4`` or ``rows 4, 6`` (the first :data:`SHOWN_ROWS`, then how many more)."""
    more = f" and {len(numbers) - SHOWN_ROWS} more" * (len(numbers) > SHOWN_ROWS)
    return f"row{'s' * (len(numbers) > 1)} " + ", ".join(map(str, numbers[:SHOWN_ROWS])) + more


def check_cells(rows: list[dict], columns: dict[str, str], where: str) -> None:
    """Refuse rows of ``where`` (a description of the file) whose prompt is null or empty (``str(None)`` would
    make it the text ``'None'``), naming the option, the column and the first :data:`SHOWN_ROWS` row numbers.
    ``columns``: ``{option: column}``. Only the prompt is checked: a null system message means none
    (``system_prompt`` if given), a null worked solution the row's answer (CSV has no other way to leave them
    out: ``datasets`` reads an empty cell as None)."""
    column = columns.get("prompt_column", "")
    bad = blank_rows(rows, column) if column else []
    if bad:
        fail("prompt_column", f"column {column!r} is null or empty in {len(bad)} of the {len(rows)} rows of {where} "
             f"({shown_rows(bad)}, counting from 1 in file order)", "drop those rows or give them a prompt")
    answered = answered_rows(rows, column) if column else []
    if answered:
        fail("prompt_column", f"column {column!r} holds conversations that end with an assistant message in "
             f"{len(answered)} of the {len(rows)} rows of {where} ({shown_rows(answered)}, counting from 1 in file "
             "order): an SFT conversation, whose final turn is the answer, which the model would see in its prompt",
             "drop the final assistant turn from the prompt; put the answer in an answer column (--task-option "
             "answer_column=NAME)")


def _base(fn):
    while isinstance(fn, functools.partial):
        fn = fn.func
    return fn


def _requires(fn, name: str) -> bool:
    """Whether ``fn`` has a parameter ``name`` without a default (left unbound by a ``partial``)."""
    bound = fn.keywords if isinstance(fn, functools.partial) else {}
    try:
        parameter = inspect.signature(_base(fn)).parameters.get(name)
    except (TypeError, ValueError):
        return False
    return (parameter is not None and name not in bound and parameter.default is inspect.Parameter.empty
            and parameter.kind in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY))


def check_rewards_have_columns(items: list, columns: list[str], has_answers: bool, rewards: list) -> None:
    """Refuse, before any work, a reward that needs what the dataset lacks: ``math``, ``exact``, ``numeric``
    (or a function with a required ``answer`` parameter) without answers, naming ``answer_column``; ``code``
    without a ``test`` column. ``items``: a :class:`~treecredit.rewards.RewardSet`'s ``(name, fn, weight)``;
    ``columns``: the dataset's columns; ``rewards``: the specs given (to say when ``math`` is the default)."""
    from treecredit.rewards.builtin import code_reward, exact_reward, math_reward, numeric_reward

    for name, fn, _ in items:
        base = _base(fn)
        if not has_answers and (base in (math_reward, exact_reward, numeric_reward) or _requires(fn, "answer")):
            default = " (the default when no --reward is given)" if list(rewards) == ["math"] else ""
            fix = ("pass --task-option answer_column=<the column of the reference answers>, or rewards that need no "
                   "answer (--reward code, which runs the 'test' column, or --reward module:function)"
                   if "test" in columns else  # 'code' would be refused without tests: not suggested then
                   "add the reference answers as a column named 'answer' (or pass --task-option answer_column=<the "
                   "column that holds them>), or pass a reward that needs no answer (--reward module:function)")
            if trl_solution(columns):  # TRL/open-r1 datasets: prompt + solution, the solution the reference answer
                fix = f"pass --task-option answer_column=solution if 'solution' holds the reference answers (as in " \
                      f"TRL/open-r1 datasets); else {fix}"
            fail("answer_column", f"the dataset has no answers, but reward {name!r}{default} compares each "
                 f"completion with its row's answer (the dataset's columns are {columns})", fix)
        if base is code_reward and "test" not in columns:
            fail("reward", f"'code' runs each row's 'test' column, but the dataset has none (its columns are "
                 f"{columns})", "name the tests' column 'test' (and the function's name 'entry_point'), or pass "
                 "another reward")


def check_numeric_answers(items: list, rows: list[dict], column: str, where: str) -> None:
    """When ``numeric`` is among the rewards (``items``, as :func:`check_rewards_have_columns` takes them): its check
    of the answer ``column`` of ``rows`` (``where``: the file) before any work
    (:func:`~treecredit.rewards.numeric.check_dataset_answers`: none that is one number is refused, a few are said
    once with their row numbers)."""
    from treecredit.rewards.numeric import check_dataset_answers, numeric_reward

    if column and any(_base(fn) is numeric_reward for _, fn, _ in items):
        check_dataset_answers([row.get(column) for row in rows], where, column)


WARM_START_FLAG: contextvars.ContextVar[str | None] = contextvars.ContextVar("warm_start_flag", default=None)
"""The flag that turns off the run's supervised warm start, for :func:`note_no_answers`: ``--warm-start-steps
0`` (the small GPT's), ``--hf-warm-start-steps 0`` (a Hugging Face model's), '' for a run without one, None
(the default) when not known (a ``DatasetTask`` built from Python): set by
:func:`treecredit.tasks.task_from_config` while it builds the task."""

_NOTED_ENV = "TREECREDIT_NO_ANSWERS_NOTED"
"""Datasets already noted as having no answers, in this process and the processes it starts (``compare``'s
workers build each run's task again)."""


def note_no_answers(path: str, columns: list[str], solutions: bool = True) -> None:
    """Print, once per dataset file, that it has no ``answer`` column and so no answers; without ``solutions``
    (no ``solution_column``) also that a supervised warm start would learn empty answers, with the flag that
    turns off the run's warm start (:data:`WARM_START_FLAG`; nothing when the run has none)."""
    noted = os.environ.get(_NOTED_ENV, "").split(os.pathsep)
    key = os.path.abspath(path)
    if key in noted:
        return
    os.environ[_NOTED_ENV] = os.pathsep.join([*filter(None, noted), key])
    flag = WARM_START_FLAG.get()
    flag = "--warm-start-steps 0 (a Hugging Face model: --hf-warm-start-steps 0)" if flag is None else flag
    named = ("answer_column=solution (in TRL/open-r1 datasets 'solution' holds the reference answer)"
             if trl_solution(columns) else "answer_column=NAME if a column holds them")
    print(f"note: dataset {path!r} has no 'answer' column (its columns are {columns}), so it has no reference "
          "answers: rewards get no answer=, and held-out pass@1 is the mean reward (no success test; with a code "
          "reward among the rewards, the verdict of the row's tests). Pass "
          f"--task-option {named}, or answer_column= to say there are none."
          + ("" if solutions or WARM_START_FLAG.get() is not None  # a run's: refused (refuse_empty_warm_start)
             else " It has no worked solutions either (no solution_column), so a "
             f"supervised warm start would teach the model to answer nothing: pass {flag}, or --task-option "
             "solution_column=NAME."), flush=True)


def trl_solution(columns: list[str]) -> bool:
    """Whether ``columns`` look like a TRL/open-r1 dataset's (a ``solution`` column, the reference answer, and no
    ``answer``; not a code dataset's, whose ``test`` rows make ``solution`` a program)."""
    return "solution" in columns and "answer" not in columns and "test" not in columns


def refuse_empty_warm_start(path: str, columns: list[str], answers: bool, solutions: bool) -> None:
    """Refuse, before any work, a run whose supervised warm start (:data:`WARM_START_FLAG` names its flag; none or
    not known: nothing) would train on empty targets: the dataset at ``path`` (its ``columns``) has neither answers
    nor worked solutions. A ``solution`` column that is not read (TRL/open-r1 datasets hold the reference answer
    there) is named in the fix."""
    flag = WARM_START_FLAG.get()
    if answers or solutions or not flag:
        return
    named = ("--task-option answer_column=solution (in TRL/open-r1 datasets 'solution' holds the reference answer; "
             "solution_column=solution if it holds worked solutions), " if trl_solution(columns) else
             "--task-option answer_column=NAME or solution_column=NAME if a column holds answers or solutions, ")
    fail(flag.split()[0].removeprefix("--").replace("-", "_"), f"dataset {path!r} has neither answers nor worked "
         f"solutions (its columns are {columns}), so the supervised warm start would train on empty targets and teach "
         "the model to answer nothing", f"pass {named}or {flag} to start RL from the model as it is")


def conversation_rows(rows: list[dict], column: str) -> list[int]:
    """Numbers (counting from 1, in file order) of the rows whose ``column`` is a conversation (TRL's
    conversational format: a non-empty list of messages with a ``content``)."""
    return [number for number, row in enumerate(rows, 1) if is_conversation(row.get(column))]


def is_conversation(value) -> bool:
    """Whether ``value`` is a conversation: a non-empty list of dicts that each have a ``content``."""
    return isinstance(value, list) and bool(value) and all(isinstance(m, dict) and "content" in m for m in value)


def check_conversation_options(rows: list[dict], prompt_column: str, where: str, *, template: str,
                               system_prompt: str, system_column: str) -> None:
    """Refuse, before any work, the options that shape a text prompt (``template``, ``system_prompt``,
    ``system_column``) when the prompt column holds conversations: a conversation goes to the chat template as it
    is, so the model would never see them. The fix: put the system message into each conversation (its first
    message, ``{"role": "system", ...}``) and the wording into its user message."""
    given = [(option, value) for option, value in (("template", template if template != "{prompt}" else ""),
                                                   ("system_prompt", system_prompt),
                                                   ("system_column", system_column)) if value]
    if not given:
        return
    chats = conversation_rows(rows, prompt_column)
    if not chats:
        return
    option, value = given[0]
    fix = ("put the system message into each conversation as its first message ({'role': 'system', 'content': "
           "...}) and drop --task-option " if option != "template" else
           "write the wording into each conversation's user message and drop --task-option ")
    fail(option, f"is {value!r}, but column {prompt_column!r} holds conversations in {len(chats)} of the "
         f"{len(rows)} rows of {where} ({shown_rows(chats)}, counting from 1 in file order), which go to the chat "
         f"template as they are: {option} shapes a text prompt only, so the model would never see it",
         fix + option + (" (and " + ", ".join(o for o, _ in given[1:]) + ")" if len(given) > 1 else ""))


def _parsed_conversation(value) -> tuple[list, str] | None:
    """The conversation a text cell spells, and in which notation: JSON (a column of messages stored as a JSON
    string, ``'[{"role": "user", ...}]'``) or Python's (pandas writes a list of messages to CSV as its repr:
    ``"[{'role': 'user', 'content': '...'}]"``); None when it spells none."""
    import ast
    import json

    if not isinstance(value, str) or not value.lstrip().startswith("[{"):
        return None
    for notation, parse in (("JSON", json.loads), ("Python's", ast.literal_eval)):
        try:
            parsed = parse(value.strip())
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            continue
        if is_conversation(parsed) and all("role" in m for m in parsed):
            return parsed, notation
    return None


def check_repr_conversations(rows: list[dict], column: str, where: str) -> None:
    """Refuse, before any work, text prompts that spell a conversation (a list of role/content dicts written out as
    text): the model would be trained on that text, brackets and quotes included. Names the rows and the fix by
    file type: a CSV file (pandas writes a list as its repr): save as JSON Lines, or parse the column; any other
    (JSON Lines, Parquet: the column holds a JSON string or a repr): store the messages as a list, parsing the
    column before saving."""
    import re

    found = [(number, parsed[1]) for number, row in enumerate(rows, 1)
             if (parsed := _parsed_conversation(row.get(column))) is not None]
    if not found:
        return
    bad = [number for number, _ in found]
    rows_named = f"in {len(bad)} of the {len(rows)} rows of {where} ({shown_rows(bad)}, counting from 1 in file order)"
    if re.search(r"\.[ct]sv(\.\w+)?'", where, re.I):
        fail("prompt_column", f"column {column!r} holds text that spells a list of chat messages in Python's "
             f"notation ([{{'role': ..., 'content': ...}}]) {rows_named}: a conversation saved to CSV (pandas "
             "writes its repr), which the model would read as raw text, brackets and quotes included",
             "save the dataset as JSON Lines (df.to_json(PATH, orient='records', lines=True) or "
             "Dataset.to_json(PATH)), which keeps the messages as a list, or parse the column with "
             "ast.literal_eval before saving it as .jsonl or .parquet")
    notations = sorted({notation for _, notation in found})
    parse = " or ".join({"JSON": "json.loads", "Python's": "ast.literal_eval"}[n] for n in notations)
    fail("prompt_column", f"column {column!r} holds each conversation as a string, a list of chat messages "
         f"written out in {' and '.join(notations)} notation ([{{\"role\": ..., \"content\": ...}}]), "
         f"{rows_named}, which the model would read as raw text, brackets and quotes included",
         f"store the messages in the column as a list, not as a string: parse the column before saving "
         f"(df[{column!r}] = df[{column!r}].map({parse}), then df.to_json(PATH, orient='records', lines=True))")
