"""``treecredit compare``: arms × seeds at one token budget → curves, table with intervals, paired tests.

With ``--env NAME`` the runs are agent runs (``treecredit train --env``: multi-turn episodes in a text env,
turn-level credit) judged by held-out success; without it, task runs judged by held-out pass@1.

The report folder is rewritten after every finished run (a partial report says how many runs are left);
an arm whose runs fail is listed with its error and the other arms are kept. Arm syntax: see
:mod:`treecredit.training.compare`.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from treecredit._validation import fail
from treecredit.training.compare import PER_RUN
from treecredit.training.train_cli import add_config_arguments, config_from_args

DEFAULT_OUT = "runs/compare"
"""The report folder when ``--out`` is not given."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--estimators", default=None,
                        help="comma-separated arms: ESTIMATOR[@SAMPLER[:BRANCHING]][[KEY=VALUE,...]], e.g. "
                             "'grpo,treerpo@tree[scale=none],grpo@tree:fixed[branching.children=4]'; KEY is an "
                             "estimator option, a train flag's field name (group_size, lr, ...) or "
                             "estimator./sampler./branching./task./env.KEY; quote the list in the shell "
                             "(default: grpo and up to two registered tree estimators; with --env: grpo, rtmc, "
                             "gigpo)")
    parser.add_argument("--seeds", type=int, default=3, help="seeds per arm (0, 1, ..., n−1, the same for every "
                                                                 "arm: paired); intervals from 2 (wide: ≥ 3 advised)")
    parser.add_argument("--budget", type=int, default=120_000,
                        help="generated tokens per run: each run ends at its last step within the budget, where its "
                             "final evaluation is (docs/runs.md)")
    parser.add_argument("--jobs", type=int, default=None,
                        help="runs in parallel (processes, one thread each; default: os.cpu_count())")
    parser.add_argument("--reference", default=None, help="arm the paired tests and 'tokens to final' refer to "
                        "(one of --estimators as written; default: grpo when it is an arm, else the first arm)")
    parser.add_argument("--out", default=argparse.SUPPRESS, help=f"report folder (default: {DEFAULT_OUT})")
    parser.add_argument("--resume", action="store_true",
                        help="continue the comparison in --out: finished runs are kept, stopped ones resume")
    parser.add_argument("--overwrite", action="store_true", help="replace the comparison in --out")
    parser.add_argument("--no-progress", action="store_true",
                        help="accepted as train and lab accept it; compare shows no progress bars anyway (a line "
                             "per finished run; a warm start logs a line every 30 s, and Hugging Face loading bars "
                             "are hidden)")
    add_config_arguments(parser, skip=PER_RUN)


def run(args: argparse.Namespace) -> int:
    from treecredit.training.arms import check_arm_names
    from treecredit.training.compare import (
        arm_configs,
        default_estimators,
        failed_runs,
        parse_arm,
        run_comparison,
        run_folder,
        split_arms,
    )
    from treecredit.training.report import summarise, write_report
    from treecredit.training.run_log import warned_runs_line
    from treecredit.training.train_notes import (
        arm_escape_notes,
        check_config_folder,
        comparison_config_note,
        escape_notes,
    )

    check_config_folder(args, "compare")  # --config CMP/runs/RUN/config.json --resume without --out: refused
    warned = [note for note in [comparison_config_note(args)] if note]  # ... and without --resume: noted
    args.out = getattr(args, "out", DEFAULT_OUT)
    warned += escape_notes(args, "compare")  # before the config's own checks: the text may be what they refuse
    for note in warned:
        print(note, file=sys.stderr)
    env = getattr(args, "env", "") or ""
    arms = split_arms(args.estimators) if args.estimators else default_estimators(env=env)
    arm_warned = arm_escape_notes(arms)  # an arm's own [key=value] texts, as the flags' are
    for note in (note for notes in arm_warned.values() for note in notes):
        print(note, file=sys.stderr)
    notes = {arm: warned + arm_warned[arm] for arm in arms}  # each run's log.txt keeps its arm's and the flags'
    if args.seeds < 1:
        fail("seeds", f"is {args.seeds}, must be ≥ 1", "pass --seeds 3 or more for confidence intervals")
    if args.budget < 1:
        fail("budget", f"is {args.budget}, must be ≥ 1", "pass a number of generated tokens, e.g. --budget 60000")
    if args.jobs is not None and args.jobs < 1:
        fail("jobs", f"is {args.jobs}, must be ≥ 1", "pass --jobs 1 or more, or leave it out (one per core)")
    from treecredit.training.config_compat import rule_of_resumed_comparison
    from treecredit.training.out_folder import check_out_folder, refuse_if_held, run_lock

    check_out_folder(args.out, "pass --out with a folder path (the report folder)")  # before any run or warm start
    refuse_if_held(args.out)  # another compare writes its report there: one writer per report folder
    check_arm_names(arms, env=bool(env))  # before the shared config is built from the first arm's estimator
    reference = _reference(args.reference, arms)
    base = config_from_args(args, estimator=parse_arm(arms[0]).estimator, steps=0, token_budget=args.budget,
                            progress=False, **rule_of_resumed_comparison(args))
    from treecredit.training.train_cli import rule_note

    note = rule_note(args, base, "compare")
    if note:
        print(note, file=sys.stderr)
    if env:  # task-run flags (--task, --sampler, --branching, ...) that every agent run would ignore
        from treecredit.training.train_cli import check_task_fields_unset

        check_task_fields_unset(base)
    arm_configs(base, arms)  # every arm validated before any run
    out = Path(args.out)
    held = (out / "report.md").exists() or (out / "runs").is_dir()
    if held and not (args.resume or args.overwrite):
        fail("out", f"{str(out)!r} already holds a comparison", "pass --resume to continue it (finished runs "
             "are kept), --overwrite to replace it, or another --out")
    if args.resume and args.overwrite:
        fail("resume", "--resume and --overwrite were both given", f"pass --resume to continue the comparison in "
             f"{out}, or --overwrite to replace it")
    if args.resume and not held:
        fail("resume", f"{str(out)!r} holds no comparison to resume (no report.md, no runs/)",
             "pass the --out of the comparison to continue, or drop --resume to start a new one there")
    if args.resume:
        check_resume_budget(out, args.budget)
    settings = shared_settings(base)
    settings.update(budget=args.budget, seeds=args.seeds, estimators=arms, reference=reference)
    command = "treecredit compare " + shlex.join(sys.argv[2:]) if sys.argv[1:2] == ["compare"] else ""

    def on_result(runs, failures, pending):
        write_report(out, summarise(runs, args.budget, reference=reference, failures=failures, pending=pending,
                                    agent=bool(env)), settings, command)

    from treecredit.training.stopping import RunInterrupted

    folders = [run_folder(out, label, seed) for seed in range(args.seeds) for label in arms]

    with run_lock(out, kind="comparison"):  # held until the last report is written; its runs lock their own
        try:
            runs, failures = run_comparison(base, arms, list(range(args.seeds)), args.budget, out, jobs=args.jobs,
                                            on_result=on_result, resume=args.resume, overwrite=args.overwrite,
                                            notes=notes)
        except RunInterrupted as stop:
            print(stopped_note(out, folders, str(stop), getattr(stop, "finished", None)), file=sys.stderr)
            return stop.exit_code
        except KeyboardInterrupt:  # Ctrl-C before the runs started (pre-flight, warm start): no run has a checkpoint
            again = "the same arguments and --resume" if held else "the same arguments"
            print(f"treecredit compare: stopped before its runs started; start it again with {again} (--out {out})",
                  file=sys.stderr)
            return 130
        warned = warned_runs_line(folders)
        summary = summarise(runs, args.budget, reference=reference, failures=failures, agent=bool(env))
        report = write_report(out, summary, settings, command, warned)
    n_failed = sum(len(v) for v in failures.values())
    from treecredit.training.stopping import mark_command_done

    mark_command_done(1 if n_failed else 0)  # the report is written: a stop signal from here on changes nothing
    print(report.read_text())
    print(f"report: {report}")
    if warned:  # the runs print nothing themselves: their notes and warnings are in their log.txt
        print(warned)
    if n_failed:  # which arm failed or stopped, and why (the whole error is in the table); exit 1, report written
        n_runs = len(folders)
        print(f"treecredit compare: {n_failed} of {n_runs} run{'s' * (n_runs != 1)} failed or stopped (the report "
              f"above covers the others; its table has each failed run's whole error):", file=sys.stderr)
        for line in failed_runs(failures):
            print(f"  {line}", file=sys.stderr)
        logs = [str(run_folder(out, label, seed) / "log.txt") for label, by_seed in failures.items()
                for seed in sorted(by_seed)]
        print(f"their logs: {', '.join(logs)}", file=sys.stderr)
        return 1
    return 0


def recorded_budget(out: Path) -> int:
    """The largest generated-token budget the comparison in ``out`` was run with: ``results.json``'s
    ``settings.budget`` and every run's ``config.json`` ``token_budget`` (0 when none is recorded)."""
    import json

    found = [0]
    for path in [out / "results.json", *sorted((out / "runs").glob("*/config.json"))]:
        try:
            data = json.loads(path.read_text())
        except (OSError, ValueError):
            continue
        value = data.get("settings", {}).get("budget") if path.name == "results.json" else data.get("token_budget")
        if isinstance(value, int):
            found.append(value)
    return max(found)


def check_resume_budget(out: Path, budget: int) -> None:
    """Refuse ``--resume`` with a ``--budget`` below the one the comparison was run with: its finished runs are
    read back as they are, past the lower budget, so the report's 'within the budget' would be false."""
    recorded = recorded_budget(out)
    if budget < recorded:
        fail("budget", f"is {budget:,}, below the {recorded:,} generated tokens the comparison in {str(out)!r} was run "
             f"with: its finished runs would be read back as they are, past {budget:,} tokens",
             f"pass --budget {recorded} (or more, to train on) with --resume, or compare at {budget} anew with "
             "--overwrite or another --out")


def shared_settings(base) -> dict:
    """The settings every run of a comparison shares (its report's ``Settings``): ``base.to_dict()`` less the
    per-run fields and those the runs do not use: an agent run's task and ``max_len`` (its GPT's positions are
    fitted to the env, or set by ``--sampler-option max_len``), a dataset run's task (TrainConfig's default, not
    given), a task run's env and its empty dataset, and ``held_out_rule`` where no dataset reads it; the small
    GPT's size, context and warm start in runs of a Hugging Face model, and a Hugging Face model's settings
    (LoRA, its warm start) in runs of the small GPT."""
    from treecredit.training.train_cli import GPT_ONLY_FIELDS, HF_ONLY_FIELDS

    task_fields = (("task", "task_options", "dataset", "held_out_rule", "reward", "max_len") if base.env else
                   ("env", "env_options", "task") if base.dataset else
                   ("env", "env_options", "dataset", "held_out_rule"))  # only a dataset's split reads the rule
    model_fields = tuple(HF_ONLY_FIELDS) + ("gguf_file", "chat_template") if base.model == "gpt" else tuple(
        GPT_ONLY_FIELDS)
    return {k: v for k, v in base.to_dict().items() if k not in PER_RUN + task_fields + model_fields}


def _reference(given: str | None, arms: list[str]) -> str:
    """The arm the report compares with: ``given`` (``--reference``), which must be one of ``arms`` as written
    (an arm differing only in case is offered, an empty name is refused as such, a registered estimator that is
    no arm's is to be added to --estimators); unset: ``grpo`` when it is an arm, else the first arm."""
    if given is None:
        return "grpo" if "grpo" in arms else arms[0]
    default = "leave --reference out (the reference is then grpo when it is an arm, else the first arm)"
    if not given.strip():
        fail("reference", f"is {given!r}, an empty arm name", f"pass --reference with an arm as written in "
             f"--estimators, e.g. --reference {arms[0]}, or {default}")
    if given not in arms:
        import difflib

        import treecredit
        from treecredit.training.arms import parse_arm

        known = sorted(set(treecredit.estimators("token")) | set(treecredit.estimators("turn")))
        if given in known and given not in {parse_arm(arm).estimator for arm in arms}:
            # a registered estimator that is no arm: meant as one (not the arm closest in spelling: treerpo→tempo)
            fail("reference", f"is {given!r}, a registered estimator but not one of the arms {arms}",
                 f"add it to --estimators to compare the arms with it (--estimators "
                 f"{shlex.quote(','.join([*arms, given]))}), or pass --reference with an arm as written in "
                 f"--estimators, e.g. --reference {arms[0]}")
        same_case = [arm for arm in arms if arm.lower() == given.lower()]  # difflib counts case as a difference
        close = same_case or difflib.get_close_matches(given, arms, n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]!r}?{' arms are matched with their case' * bool(same_case)})" if close \
            else ""
        # an arm to add: the one given when its estimator is registered, else the closest registered estimator
        try:
            estimator = parse_arm(given).estimator
        except ValueError:  # no arm at all ('@tree', 'x[')
            estimator = ""
        meant = given if estimator in known else next(iter(difflib.get_close_matches(estimator, known, n=1)), "")
        add = f", or add {meant!r} to --estimators" if meant and not close else ""
        fail("reference", f"is {given!r}, not one of the arms {arms}{hint}",
             f"pass --reference with an arm as written in --estimators, e.g. --reference "
             f"{close[0] if close else arms[0]}{add}")
    return given


def stopped_note(out: Path, folders: list[Path], why: str, finished: list[Path] | None = None) -> str:
    """What a stopped comparison says: how many of its runs (``folders``) kept a checkpoint (the others start
    again on ``--resume``), and how to continue. With ``finished`` (the folders of the runs that had ended, as
    :func:`~treecredit.training.compare.run_comparison` gives them): what each run left unfinished does on
    ``--resume``, the runs in progress by name (:func:`_left_runs`; trial42 6: '2 of its 6 runs keep their last
    checkpoints' left open whether the run in progress had kept one)."""
    from treecredit.training.checkpoint import checkpoint_files

    if finished is not None:
        return (f"treecredit compare: stopped ({why}); {_left_runs(folders, finished)}. Continue with the same "
                f"arguments and --resume (--out {out})")
    saved = sum(bool(checkpoint_files(folder)) for folder in folders)
    runs = f"{len(folders)} run{'s' * (len(folders) != 1)}"
    kept = (f"all {runs} keep their last checkpoints" if saved == len(folders) and saved > 1 else
            f"its {runs} keeps its last checkpoint" if saved == len(folders) else
            f"{saved} of its {runs} {'keeps its last checkpoint' if saved == 1 else 'keep their last checkpoints'}, "
            f"the others start again" if saved else
            "no run had saved a checkpoint yet, so every run starts again")
    return f"treecredit compare: stopped ({why}); {kept}. Continue with the same arguments and --resume (--out {out})"


def _left_runs(folders: list[Path], finished: list[Path]) -> str:
    """What ``--resume`` does with the runs of ``folders`` not in ``finished`` (kept as they are, read back): a
    run in progress (its folder holds a run) continues from its last checkpoint or, with none saved yet, starts
    again; a run not started yet starts. E.g. ``the run in progress (tempo-seed1) had saved no checkpoint yet and
    starts again on --resume; 3 runs not started yet start then``."""
    from treecredit.training.checkpoint import checkpoint_files
    from treecredit.training.preflight import holds_run

    done = {Path(folder) for folder in finished}
    running = [folder for folder in folders if folder not in done and holds_run(folder)]
    waiting = len([folder for folder in folders if folder not in done and not holds_run(folder)])
    kept = [folder.name for folder in running if checkpoint_files(folder)]
    anew = [folder.name for folder in running if not checkpoint_files(folder)]

    def runs(names: list[str]) -> str:
        if len(running) == 1:
            return f"the run in progress ({names[0]})"
        some = f"the {len(names)}" if len(names) == len(running) else f"{len(names)} of the {len(running)}"
        return f"{some} runs in progress ({', '.join(names)})"

    parts = []
    if kept:
        parts.append(f"{runs(kept)} {'keeps its' if len(kept) == 1 else 'keep their'} last checkpoint"
                     f"{'s' * (len(kept) > 1)} and {'continues' if len(kept) == 1 else 'continue'} from "
                     f"{'it' if len(kept) == 1 else 'them'} on --resume")
    if anew:
        parts.append(f"{runs(anew)} had saved no checkpoint yet and {'starts' if len(anew) == 1 else 'start'} again "
                     "on --resume")
    if waiting:
        verb = "start" if waiting != 1 else "starts"
        parts.append(f"{waiting} run{'s' * (waiting != 1)} not started yet {verb} {'then' if parts else 'on --resume'}")
    return "; ".join(parts) or "no run was left unfinished"


def in_compare_terms(error: BaseException, out: Path) -> BaseException:
    """A failed run's ``error`` in the terms of the comparison ``out`` when it stopped the run mid-run
    (:class:`~treecredit.training.estimator_inputs.StoppedMidRun`, worded for ``treecredit train``: "--overwrite
    or another --out" of the run): a comparison is continued with its own ``--resume`` (same settings; its
    finished runs are kept) or started anew with ``--overwrite`` or another ``--out``. Any other error: as it is."""
    from treecredit.training.estimator_inputs import Restart, StoppedMidRun

    if not isinstance(error, StoppedMidRun):
        return error
    anew = f"`treecredit compare ... --out {out} --overwrite`, or another --out"
    return error.restarted(Restart(
        kept=f"the comparison's --resume continues it only with the same settings, so a fix that changes them "
             f"needs the comparison anew ({anew})",
        anew=f"fix it and run the comparison again: with --resume (`treecredit compare ... --out {out} --resume`: its "
             f"finished runs are kept) when the fix changes no setting, else anew ({anew})"))
