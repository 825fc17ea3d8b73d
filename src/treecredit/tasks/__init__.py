"""Verifiable tasks: the embedded procedural ones (arithmetic, countdown), a user's dataset with reward
functions, reasoning-gym's generators (``rg:NAME``) and HumanEval (``humaneval``)."""

from __future__ import annotations

from dataclasses import fields, is_dataclass

from treecredit._validation import did_you_mean, fail
from treecredit.tasks.arithmetic import ArithmeticTask
from treecredit.tasks.base import Problem, Task
from treecredit.tasks.chat import ChatPrompt
from treecredit.tasks.countdown import CountdownTask
from treecredit.tasks.dataset import DatasetTask

TASKS = {"arithmetic": ArithmeticTask, "countdown": CountdownTask}
TASK_FORMS = [*sorted(TASKS), "humaneval", "rg:NAME[:key=value,…]"]


def make_task(name: str, **options) -> Task:
    """The task family ``name`` built with ``options`` (its dataclass fields)."""
    if name not in TASKS:
        fail("task", f"unknown task {name!r}", f"use one of {TASK_FORMS}, or --dataset PATH")
    return _build(TASKS[name], options)


def _build(cls, options: dict, **fixed) -> Task:
    known = {f.name for f in fields(cls)}
    unknown = sorted(set(options) - known)
    if unknown:
        settable = sorted(known - set(fixed))  # not those a run sets itself (a dataset's path and rewards)
        fail("task_options", f"{unknown} are not options of {cls.__name__}{did_you_mean(unknown[0], settable)}",
             f"use some of {settable}")
    return cls(**fixed, **typed_options(cls, options))


_KINDS = {"int": "an integer", "float": "a finite number", "str": "text", "bool": "true or false"}


def declared_kind(annotation) -> tuple[str, bool]:
    """``(type name, whether None is allowed)`` of a dataclass field's annotation, written as text (``from
    __future__ import annotations``) or as a type: ``"str | None"`` and ``Optional[str]`` → ``("str", True)``,
    ``int`` → ``("int", False)``; a union of several types gives ``""`` (not checked)."""
    import types
    import typing

    if isinstance(annotation, str):
        text = annotation.replace(" ", "").removeprefix("typing.")
        parts = [text[len("Optional["):-1], "None"] if text.startswith("Optional[") else text.split("|")
    else:
        union = typing.get_origin(annotation) in (typing.Union, types.UnionType)
        parts = [getattr(a, "__name__", str(a)) for a in (typing.get_args(annotation) if union else (annotation,))]
    inner = [p for p in parts if p not in ("None", "NoneType")]
    return (inner[0] if len(inner) == 1 else ""), len(inner) < len(parts)


def typed_options(cls, options: dict) -> dict:
    """``options`` checked against the declared types of dataclass ``cls``'s fields (``int``, ``float``,
    ``str``, ``bool``, each also as ``X | None``, which allows ``None``; others unchecked): a number given for
    a text option becomes its text (``prompt_column=5`` → ``"5"``), ``True``/``False`` in any case a bool;
    anything else of the wrong type, and a non-finite number, raises ``ValueError`` naming the option
    (``held_out: is 'abc' (str), must be a finite number ...``)."""
    import math

    types = {f.name: declared_kind(f.type) for f in fields(cls)}
    null_default = {f.name for f in fields(cls) if f.default is None}
    out = dict(options)
    for name, value in options.items():
        kind, optional = types.get(name, ("", False))
        if value is None and optional:
            continue
        if kind == "str" and isinstance(value, (int, float)) and not isinstance(value, bool):
            out[name] = str(value)
            continue
        if kind == "bool" and isinstance(value, str) and value.lower() in ("true", "false"):
            out[name] = value.lower() == "true"  # True/False as Python writes them; other words are refused
            continue
        ok = {"int": isinstance(value, int) and not isinstance(value, bool),
              "float": isinstance(value, (int, float)) and not isinstance(value, bool),
              "str": isinstance(value, str), "bool": isinstance(value, bool)}.get(kind, True)
        if kind in ("int", "float") and ok and not math.isfinite(value):
            ok = False
        if not ok:
            example = {"int": f"{name}=3", "float": f"{name}=0.5", "str": f"{name}=TEXT",
                       "bool": f"{name}=true or {name}=false"}[kind]
            null = f", or {name}=null" + " (the default)" * (name in null_default) if optional else ""
            fail(name, f"is {value!r} ({type(value).__name__}), must be {_KINDS[kind]}" + " or null" * optional,
                 f"pass --task-option {example}{null}")
    return out


def task_flag_named(config):
    """``training.config.option_flag_named`` for ``--task-option``: ``min_operators: is -1`` → ``task_options:
    --task-option min_operators=-1 (task 'arithmetic'): min_operators: is -1 ...``, whose owner is
    :func:`task_option_owner`'s."""
    from treecredit.training.config import option_flag_named

    return option_flag_named(config.task_options, "task_options", "--task-option",
                             lambda message: task_option_owner(config, message))


def task_option_owner(config, message: str) -> str:
    """Whose ``--task-option`` the error ``message`` is about, for the flag's error prefix: ``task 'NAME'``, or
    for a dataset run ``dataset 'PATH'``, or '' when the message names one of the run's data files itself (the
    dataset, the held-out file): the dataset's name would misattribute an error about the held-out file."""
    if not config.dataset:
        return f"task {config.task!r}"
    held = config.task_options.get("held_out_path") if isinstance(config.task_options, dict) else None
    files = [p for p in (config.dataset, held) if isinstance(p, str) and p]
    return "" if any(repr(p) in message for p in files) else f"dataset {config.dataset!r}"


def takes_delimiter(task) -> bool:
    """Whether ``task`` (or the task a ``--reward`` wraps) takes a ``delimiter`` option, i.e. accepts
    ``--task-option delimiter=TEXT`` (a dataset, an ``rg:`` task); the embedded tasks fix theirs."""
    inner = getattr(task, "task", task)  # a task scored by --reward keeps its task's options
    return is_dataclass(inner) and "delimiter" in {f.name for f in fields(inner)}


def delimiter_fix(task) -> str:
    """What a ``treecredit train`` user can do when the responses write no step delimiter of ``task``: set it
    (``--task-option delimiter=TEXT``) where the task takes that option (a dataset), else, where the task
    fixes it (arithmetic ``=``, countdown ``,``), warm-start longer so that the policy learns to write it."""
    if takes_delimiter(task):
        return "pass --task-option delimiter=TEXT that the responses write"
    return (f"the {getattr(task, 'name', 'task')!r} task's delimiter {getattr(task, 'delimiter', '')!r} is fixed: "
            "a policy that does not write it yet needs a longer warm start (--warm-start-steps, or "
            "--hf-warm-start-steps for a Hugging Face model)")


def delimiter_text_fix(task) -> str:
    """Where a step delimiter written as text belongs for ``task`` (None: no task, an agent run), for the
    error on ``--estimator-option delimiter=TEXT`` (the estimators take token ids): the task's option where
    it takes one, else nowhere (the task's delimiter is fixed and its step ends are found already)."""
    if task is None:
        return ""
    if takes_delimiter(task):
        return ", or as text to the task, --task-option delimiter=TEXT (its step ends are found in the decoded text)"
    return (f", or drop it: the {getattr(task, 'name', 'task')!r} task's delimiter "
            f"{getattr(task, 'delimiter', '')!r} is fixed and the trainer finds its step ends in the decoded text")


def tree_branch_fixes(branching: str, delimiter_fix: str, every_fix: str) -> list[str]:
    """The fixes for a sampled tree that did not branch, by ``branching`` strategy: fixed and adaptive trees
    fork at step ends (``delimiter_fix``: how the host makes the responses' steps visible), fixed ones can
    also fork every K tokens (``every_fix``: the host's option); entropy trees fork at high-entropy tokens.
    Shared by ``treecredit train`` and the TRL trainer, each with its own option names."""
    fixes = [delimiter_fix] if branching in ("fixed", "adaptive") else []
    if branching == "fixed":
        fixes.append(every_fix)
    return fixes or ["check the branching options"]


def more_problems_fix(task) -> str:
    """What a ``treecredit train`` user can do when training rows or draws all repeat a held-out prompt (training
    skips those), in the words of ``task``'s kind: a dataset's rows and ``held_out``, HumanEval's ``held_out``,
    an embedded task's options (never the arithmetic options for a dataset)."""
    inner = getattr(task, "task", task)  # a task scored by --reward keeps its own problems
    if isinstance(inner, DatasetTask):
        return ("give the dataset more rows with distinct prompts (rows that repeat a prompt are one problem), or "
                "hold out fewer: a smaller --task-option held_out, a lower --eval-problems (only the held-out rows "
                "evaluated are kept out of training), or --task-option held_out_path=FILE whose prompts are not "
                "among the training rows")
    if isinstance(inner, ArithmeticTask):
        return ("lower --eval-problems or widen the task (more operands: --task-option max_operators=3; a larger "
                "--task-option max_operand)")
    if isinstance(inner, CountdownTask):
        return ("lower --eval-problems or widen the task (--task-option n_numbers=4, a larger --task-option "
                "max_number)")
    if hasattr(inner, "train_problems"):  # a fixed list of problems (HumanEval)
        return "pass a smaller --task-option held_out or a lower --eval-problems"
    return "lower --eval-problems or widen the task's options (--task-option KEY=VALUE)"


def task_from_config(config) -> Task:
    """The task a ``TrainConfig`` describes: ``dataset`` (scored by ``reward``, default ``math``) when set,
    else ``task``; ``reward`` given with a ``task`` replaces its verifier (:mod:`treecredit.tasks.rewarded`)."""
    rewards = list(getattr(config, "reward", []) or [])
    dataset = getattr(config, "dataset", "")
    if dataset:
        if getattr(config, "task", "arithmetic") != "arithmetic":  # TrainConfig's default: not given
            fail("task", f"--task {config.task} and --dataset were both given; a dataset run would ignore --task",
                 "drop --task to train on the dataset, or drop --dataset to train on the task")
        if "path" in config.task_options or "rewards" in config.task_options:
            fail("task_options", "path and rewards are set by --dataset and --reward", "drop those task options")
        if "held_out_rule" in config.task_options:  # a setting of the run, kept by its resume (TrainConfig)
            fail("task_options", "held_out_rule is set by --held-out-rule (a run's setting, which its resume keeps)",
                 "drop --task-option held_out_rule and pass --held-out-rule N")
        from treecredit.tasks.dataset_rows import WARM_START_FLAG

        flag = WARM_START_FLAG.set(warm_start_flag(config))  # the note on a dataset without answers names it
        try:
            return _build(DatasetTask, dict(config.task_options), path=dataset, rewards=rewards or ["math"],
                          held_out_rule=getattr(config, "held_out_rule", 2))
        finally:
            WARM_START_FLAG.reset(flag)
    task = _named_task(config)
    if not rewards:
        return task
    from treecredit.tasks.rewarded import RewardedTask

    return RewardedTask(task, rewards)


def warm_start_flag(config) -> str:
    """The flag that turns off ``config``'s supervised warm start: the small GPT's ``--warm-start-steps 0`` or a
    Hugging Face model's ``--hf-warm-start-steps 0``; '' when the run has none (0 steps, a Hugging Face model's
    default)."""
    if getattr(config, "model", "gpt") == "gpt":
        return "--warm-start-steps 0" if getattr(config, "warm_start_steps", 0) > 0 else ""
    return "--hf-warm-start-steps 0" if getattr(config, "hf_warm_start_steps", 0) > 0 else ""


def _named_task(config) -> Task:
    if config.task.startswith("rg:"):
        from treecredit.tasks.reasoning_gym import make_rg_task

        chat = getattr(config, "model", "gpt") != "gpt" and getattr(config, "chat_template", "auto") != "off"
        return make_rg_task(config.task, eval_problems=getattr(config, "eval_problems", None), chat=chat,
                            **config.task_options)
    if config.task == "humaneval":
        from treecredit.tasks.humaneval import HumanEvalTask

        return _build(HumanEvalTask, dict(config.task_options))
    if config.task not in TASKS:
        fail("task", f"unknown task {config.task!r}", f"pass one of {TASK_FORMS}, or --dataset PATH")
    return make_task(config.task, **config.task_options)


__all__ = [
    "TASKS",
    "ArithmeticTask",
    "ChatPrompt",
    "CountdownTask",
    "DatasetTask",
    "Problem",
    "Task",
    "make_task",
    "task_from_config",
]
