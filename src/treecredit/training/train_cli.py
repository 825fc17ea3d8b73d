"""``treecredit train``: RL of the small GPT on an embedded task with any registered estimator.

Every ``TrainConfig`` field is a flag (``--group-size 8``); its help is the field's docstring. A
``--config`` file (JSON, TOML, YAML) sets fields first; flags given on the command line override it.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import fields

from treecredit._validation import fail
from treecredit.training.config import TrainConfig, field_default, field_docs, load_config_file
from treecredit.training.config_values import OPTION_FLAGS, TypedOptions
from treecredit.training.train_notes import check_config_folder, config_folder_note, escape_notes

_NONE_DEFAULT_TYPES = {"lr": float}
"""The value type of a flag whose field defaults to None (unset: chosen by the run)."""

NOT_FLAGS = ("module_folders", "data_fingerprints")
"""Fields set by treecredit itself (kept in config.json), not from the command line."""


def add_config_arguments(parser: argparse.ArgumentParser, skip: tuple[str, ...] = ()) -> None:
    """One flag per ``TrainConfig`` field (dict fields as repeatable ``key=value`` flags)."""
    docs = field_docs()
    for f in fields(TrainConfig):
        if f.name in skip or f.name in NOT_FLAGS:
            continue
        default = field_default(f)
        shown = "" if default is None else f" (default: {default})"  # None: the doc says what unset does
        help_text = f"{docs.get(f.name, '')}{shown}".replace("%", "%%")  # argparse formats help with %
        if f.name in OPTION_FLAGS:
            parser.add_argument(OPTION_FLAGS[f.name], dest=f.name, action="append", metavar="KEY=VALUE",
                                default=argparse.SUPPRESS, help=help_text + "; repeatable")
        elif isinstance(default, list):
            parser.add_argument("--" + f.name.replace("_", "-"), dest=f.name, action="append",
                                default=argparse.SUPPRESS, help=help_text + "; repeatable")
        elif f.name == "compile_decode":  # a switch in earlier versions: the bare flag still means "on"
            parser.add_argument("--compile-decode", dest=f.name, nargs="?", const="on", metavar="{auto,on,off}",
                                default=argparse.SUPPRESS, help=help_text + "; the bare flag means on")
            parser.add_argument("--no-compile-decode", dest=f.name, action="store_const", const="off",
                                default=argparse.SUPPRESS, help="the same as --compile-decode off")
        elif isinstance(default, bool) or f.name == "tensorboard":
            parser.add_argument("--" + f.name.replace("_", "-"), dest=f.name, action=argparse.BooleanOptionalAction,
                                default=argparse.SUPPRESS, help=help_text)
        else:
            kind = _NONE_DEFAULT_TYPES.get(f.name, type(default))
            parser.add_argument("--" + f.name.replace("_", "-"), dest=f.name, type=kind,
                                default=argparse.SUPPRESS, help=help_text)
    parser.add_argument("--config", default=None, help="JSON/TOML/YAML file of TrainConfig fields; flags override it")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser)
    parser.add_argument("--resume", action="store_true",
                        help="continue the run in --out from its newest valid checkpoint (same settings)")
    parser.add_argument("--overwrite", action="store_true",
                        help="replace the run in --out (without it, a folder that holds a run is refused)")


KEY_VALUE_EXAMPLES = {"--branching-option": "children=2", "--estimator-option": "norm_by_std=false",
                      "--task-option": "max_operand=9", "--env-option": "size=4", "--sampler-option": "schedule=rounds"}
"""An example of each ``key=value`` flag, for its errors."""


def parse_key_values(pairs: list[str], argument: str, texts: dict | None = None) -> dict:
    """``["a=1", "b=x"]`` → ``{"a": 1, "b": "x"}`` (values read as JSON when they parse, else as text); a key
    given twice is refused (one of the two values would be dropped without a word). ``texts``, when given, gets
    each value as typed (``{"a": "1", "b": "x"}``)."""
    out: dict = {}
    given: dict = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            fail(argument, f"{pair!r} is not KEY=VALUE",
                 f"write {argument} key=value, e.g. {argument} {KEY_VALUE_EXAMPLES.get(argument, 'key=1')}")
        if key in out:
            fail(argument, f"{key} was given twice ({given[key]} and {pair}), and one value would be dropped",
                 f"give {argument} {key}=... once")
        given[key] = pair
        if texts is not None:
            texts[key] = value
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def env_option_texts(env: str, values: dict, texts: dict) -> dict:
    """``--env-option`` ``values`` (read as JSON) with an option whose ``__init__`` default is a str given its
    text as typed where JSON read something else: ``label=null`` is the text ``'null'`` and ``label=1.50`` the
    text ``'1.50'``, as ``label=abc`` is ``'abc'``; ``null`` stays None where the option's annotation allows None
    (``label: str | None = "x"``), and a JSON string (``'label="a b"'``) is its decoded text. Other options keep
    the JSON value for :func:`treecredit.envs.options.converted` (``size=4`` → 4). ``values`` as they are when the
    env cannot be found here (the run's own check names it)."""
    try:
        from treecredit.envs import env_class
        from treecredit.envs.options import class_options

        accepted = class_options(env_class(env))[0]
    except Exception:  # an unknown env or a module that fails to import: refused by the config's own check
        return values
    return texts_as_typed(accepted, values, texts)


def agent_sampler_option_texts(values: dict, texts: dict) -> dict:
    """An agent run's ``--sampler-option`` ``values`` with its text options (``marker``, ``turn_prefix``) given
    their text as typed, as :func:`env_option_texts` does for an env's: ``turn_prefix=null`` is the text
    ``'null'``."""
    from treecredit.agents.options import episode_parameters

    return texts_as_typed(episode_parameters(), values, texts)


def texts_as_typed(accepted: dict, values: dict, texts: dict) -> dict:
    """``values`` (read as JSON) where each option of ``accepted`` (name → ``inspect.Parameter``) whose default is
    a str takes its text as typed (``texts``) unless JSON read a str, or None that its annotation allows."""
    from treecredit.envs.options import allows_none

    out = dict(values)
    for key, value in values.items():
        param = accepted.get(key)
        if param is None or type(param.default) is not str or isinstance(value, str):
            continue
        if value is None and allows_none(param.annotation):
            continue
        out[key] = texts[key]
    return out


def config_from_args(args: argparse.Namespace, **overrides) -> TrainConfig:
    """``TrainConfig`` from ``--config`` (if any), then the flags given, then ``overrides``."""
    values = load_config_file(args.config) if getattr(args, "config", None) else {}
    written = set(values)
    names = {f.name for f in fields(TrainConfig)}
    flags = {name for name in names if hasattr(args, name)}
    for name in flags:
        value = getattr(args, name)
        if name in OPTION_FLAGS:
            texts: dict = {}
            parsed = parse_key_values(value, OPTION_FLAGS[name], texts)
            env = getattr(args, "env", None) or values.get("env")
            if name == "env_options" and env:
                parsed = env_option_texts(env, parsed, texts)
            elif name == "sampler_options" and env:
                parsed = agent_sampler_option_texts(parsed, texts)
            value = TypedOptions({**values.get(name, {}), **parsed}, texts)  # its errors show the texts typed
        values[name] = value
    if getattr(args, "resume", False) and "held_out_rule" not in values:  # not given by a flag or a --config file
        from treecredit.training.config_compat import rule_of_resumed_run

        values = rule_of_resumed_run(values)
    if values.get("token_budget") and "steps" not in values:
        values["steps"] = 0  # a budget without explicit steps runs until the budget is spent
    values.update(overrides)
    # a flag counts as given even at its default value (--eval-problems 256); a --config file's values count
    # only where they differ from the defaults (a run's own config.json lists every field)
    config = TrainConfig(**values, given=frozenset(flags | set(overrides)))
    if getattr(args, "config", None):  # a refusal about a field the file set names the file (held_out_rule_fix)
        from treecredit.training.config_compat import note_config_file

        note_config_file(config, args.config, set(written) - flags - set(overrides))
    return config


def run(args: argparse.Namespace) -> int:
    import sys

    from treecredit.training.loop import train
    from treecredit.training.run_log import carried, log_entry
    from treecredit.training.run_summary import report_agent_run, report_task_run
    from treecredit.training.stopping import RunInterrupted

    check_config_folder(args)  # before the config is built: it may read the dataset
    warned = escape_notes(args)  # shown before the config's own checks: the text may be what they refuse
    for note in warned:
        print(note, file=sys.stderr)
    config = config_from_args(args)
    notes = [note for note in (config_folder_note(args, config), rule_note(args, config)) if note]
    for note in notes:
        print(note, file=sys.stderr)
    notes = warned + notes
    try:
        with carried(config.out, [log_entry(note) for note in notes]):  # the run's too: its log.txt keeps them
            if config.env:  # multi-turn agent training (docs/agents.md)
                from treecredit.training.agent_loop import train_agent

                check_task_fields_unset(config)
                done = finished_records(config, overwrite=args.overwrite) if args.resume else None  # before any model
                return report_agent_run(config, done if done is not None else
                                        train_agent(config, resume=args.resume, overwrite=args.overwrite))
            check_tree_fields_unused(config)
            done = finished_records(config, overwrite=args.overwrite) if args.resume else None
            records = done if done is not None else train(config, resume=args.resume, overwrite=args.overwrite)
    except RunInterrupted as stop:
        print(f"treecredit train: {stop}", file=sys.stderr)
        return stop.exit_code
    return report_task_run(config, records)


def finished_records(config, log=print, overwrite: bool = False) -> list[dict] | None:
    """For ``--resume`` of a run that is already finished under ``config`` (its newest checkpoint at or past
    ``--steps`` / ``--token-budget``, its last step evaluated): say so (``log``, and the run's log.txt) and return
    its metric records, before anything is loaded (the warm start, the model, the env); None when the run has
    something left to do (the run itself then resumes it, after its own folder and settings checks,
    which run once). A finished run gets those checks here, before its checkpoint is read.
    Only a run whose ``metrics.jsonl`` says it is finished has its checkpoint read here: its last train record at or
    past ``--steps`` / ``--token-budget``, or the step after it set aside for passing the budget (noted on the last
    step's evaluation record, :func:`~treecredit.training.metrics.mark_set_aside`)."""
    from pathlib import Path

    from treecredit.training.budget import finished, finished_note, saved_finished
    from treecredit.training.checkpoint import load_latest_checkpoint
    from treecredit.training.metrics import read_metrics, set_aside_tokens
    from treecredit.training.preflight import check_out
    from treecredit.training.run_log import RunLog, start_line
    from treecredit.training.run_summary import agent_summary, ended_line, task_summary

    if overwrite:  # --resume with --overwrite: refused (the run would refuse it; a finished run too)
        check_out(config, resume=True, overwrite=True)
    out = Path(config.out)
    path = out / "metrics.jsonl"
    records = read_metrics(path) if path.is_file() else []
    trained = [r for r in records if r.get("kind") == "train"]
    if not trained or not finished(config, trained[-1], set_aside_tokens(records, trained[-1]["step"])):
        return None  # a cheap look first: most resumes have steps left, and the run checks its folder itself
    check_out(config, resume=True, overwrite=False, space=False)  # a changed setting: refused as the run would
    saved = load_latest_checkpoint(out, log, read_only=True)
    if saved is None:
        return None
    counters, pending = saved["counters"], saved.get("pending_step_tokens", 0)
    evaluated = {r.get("step") for r in records if r.get("kind") == "eval"}
    if not saved_finished(config, saved) or counters["step"] not in evaluated:
        return None  # the run evaluates its last step when it resumes
    with RunLog(out, resume=True) as run_log:
        run_log.begin(start_line(config, resume=True))
        for line in (f"resumed from {out} at step {counters['step']}", finished_note(config, counters, pending)):
            run_log.write(line)
            log(line)
        summary = agent_summary(config, records) if config.env else task_summary(records)
        run_log.write(ended_line(counters, saved.get("elapsed_s", 0.0), summary), always=True)
    from treecredit.training.stopping import mark_run_ended

    mark_run_ended()  # a stop signal from here on comes as the command closes: exit 0, as after a run
    return records


def rule_note(args: argparse.Namespace, config: TrainConfig, command: str = "train") -> str:
    """``treecredit COMMAND: note: ...`` when ``--config`` is a run's settings from before ``held_out_rule``
    (:func:`~treecredit.training.config_compat.held_out_rule_note`); '' otherwise."""
    if not getattr(args, "config", None):
        return ""
    from treecredit.training.config_compat import held_out_rule_note

    note = held_out_rule_note(args, load_config_file(args.config), config)
    return f"treecredit {command}: {note}" if note else ""


# what only task runs read: an agent run (--env) would silently ignore them
TASK_ONLY_FIELDS = {"task": "--task", "task_options": "--task-option", "dataset": "--dataset",
                    "held_out_rule": "--held-out-rule",
                    "reward": "--reward", "max_len": "--max-len", "cutoff": "--cutoff", "eval_mode": "--eval-mode",
                    "eval_time_share": "--eval-time-share"}


# what only the tree sampler reads (``--cutoff`` is refused in preflight): an i.i.d. run would ignore them
TREE_ONLY_FIELDS = {"branching": "--branching", "branching_options": "--branching-option",
                    "mc_rollouts": "--mc-rollouts", "replay_leaves": "--replay-leaves",
                    "replay_max_weight": "--replay-max-weight"}


# what only the small GPT reads: a Hugging Face --model would ignore them (its own size, context and warm start)
GPT_ONLY_FIELDS = {"n_layer": "--n-layer", "n_head": "--n-head", "n_embd": "--n-embd", "max_len": "--max-len",
                   "warm_start_steps": "--warm-start-steps", "warm_start_batch": "--warm-start-batch",
                   "warm_start_lr": "--warm-start-lr"}
# what only a Hugging Face --model reads: the small GPT would ignore them
HF_ONLY_FIELDS = {"lora_rank": "--lora-rank", "hf_warm_start_steps": "--hf-warm-start-steps",
                  "hf_warm_start_batch": "--hf-warm-start-batch", "hf_warm_start_lr": "--hf-warm-start-lr"}


def check_model_fields(config) -> None:
    """Refuse, by name, a setting that the run's model would ignore: a small-GPT setting (size, context, its
    warm start) with a Hugging Face ``--model``; a Hugging Face setting (LoRA, its warm start, ``--chat-template
    on``) with the small GPT. Only settings given count (a flag, even at its default, or a value other than
    the default)."""
    if config.model != "gpt":
        for field, flag in _given(config, GPT_ONLY_FIELDS):
            hint = {"max_len": "a Hugging Face model has its own max_position_embeddings",
                    "warm_start_steps": "its warm start is --hf-warm-start-steps N",
                    "warm_start_batch": "its warm start's batch is --hf-warm-start-batch N",
                    "warm_start_lr": "its warm start's learning rate is --hf-warm-start-lr X"}.get(
                field, "a Hugging Face model has its own size")
            fail(field, f"is for the small GPT; --model {config.model} would ignore {flag}", f"drop {flag} ({hint})")
        return
    for field, flag in _given(config, HF_ONLY_FIELDS):
        hint = "--warm-start-steps N" if field.startswith("hf_warm") else "LoRA needs a Hugging Face model"
        fail(field, f"is for a Hugging Face --model; the small GPT would ignore {flag}",
             f"drop {flag} (the small GPT: {hint}), or pass a Hugging Face --model")
    if config.chat_template == "on":
        fail("chat_template", "is 'on', but the small GPT has no chat template",
             "drop --chat-template (auto), or pass a Hugging Face --model that has one")


def _given(config, table: dict[str, str]) -> list[tuple[str, str]]:
    """``(field, flag)`` of ``table`` that ``config`` was given (:meth:`TrainConfig.was_given`: a flag on the
    command line, even at its default, or a value other than the default)."""
    return [(field, flag) for field, flag in table.items() if config.was_given(field)]


def check_tree_fields_unused(config) -> None:
    """Refuse, by name, a tree-sampler option given to a ``train`` run of another sampler, which would ignore
    it, and ``--replay-max-weight`` without replay (``compare`` shares one config between i.i.d. and tree arms,
    and replay can be an arm's own option, so it does not call this)."""
    if config.sampler == "tree":
        if config.was_given("replay_max_weight") and not config.replay_leaves:
            fail("replay_max_weight", f"--replay-max-weight {config.replay_max_weight} truncates the importance "
                 "weights of replayed leaves, but replay is off (--replay-leaves 0), so it would be ignored",
                 "add --replay-leaves r to reuse r stored leaves per revisited problem, or drop --replay-max-weight")
        return
    for field, flag in _given(config, TREE_ONLY_FIELDS):
        fail(field, f"{flag} shapes the tree sampler's trees; the {config.sampler!r} sampler would ignore it",
             f"add --sampler tree, or drop {flag}")


def check_task_fields_unset(config) -> None:
    """Refuse, by name, a task-run option given to an agent run (``--env``), which would ignore it: the task
    fields, ``--sampler`` and the tree sampler's options (episodes are sampled turn by turn)."""
    episodes = "agent episodes are sampled turn by turn; to fork them pass --sampler-option fork_at=[1]"
    for field, flag in _given(config, {**TASK_ONLY_FIELDS, "sampler": "--sampler", **TREE_ONLY_FIELDS}):
        hint = {"max_len": "the agent's context is --sampler-option max_len=N",
                "eval_mode": "an agent evaluation plays every held-out instance greedily and sampled",
                "eval_time_share": "an agent run evaluates every --eval-every steps",
                "reward": "the environment's step gives the rewards and no reward function is called, so TRL's "
                          "trainer_state, log_metric and log_extra have nothing to reach; to shape rewards, "
                          "write an own env whose _step returns them; its options are --env-option KEY=VALUE",
                "sampler": episodes, **dict.fromkeys(TREE_ONLY_FIELDS, episodes)}.get(
            field, "the environment gives the rewards; its options are --env-option KEY=VALUE")
        fail(field, f"{flag} is for task runs; --env {config.env} would ignore it",
             f"drop {flag} ({hint}; docs/agents.md)")
