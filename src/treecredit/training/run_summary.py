"""The closing lines of ``treecredit train``: the held-out result before and after, and the files the run wrote.

Task runs (:func:`report_task_run`) and agent runs (:func:`report_agent_run`) end the same way: the
evaluation summary, then every file of the run folder that exists (:func:`written_files`), each with what it
holds, so that a new user sees where the samples, the checkpoint and the settings are, not only the metrics.
The same evaluation summary ends the run's ``log.txt`` (:func:`ended_line`, written by the training loops).
"""

from __future__ import annotations

from pathlib import Path

RUN_FILES = (("metrics.jsonl", "train and eval records, one JSON object a line"),
             ("samples.jsonl", "sampled completions with their rewards"),
             ("checkpoint.pt", "model, optimizer and random streams: --resume continues from it"),
             ("config.json", "the settings (treecredit train --config {out}/config.json runs them again)"),
             ("log.txt", "what the run said (start, notes, warnings, end), timestamped; --resume appends"),
             ("tensorboard", "TensorBoard events: tensorboard --logdir {out}/tensorboard"))
"""The files a run writes, in the order listed, with what each holds (``{out}``: the run folder)."""


def written_files(out, agent: bool = False) -> list[tuple[Path, str]]:
    """``(path, what it holds)`` of each file of :data:`RUN_FILES` that exists in the run folder ``out``
    (``agent``: the samples are held-out episodes)."""
    found = []
    for name, what in RUN_FILES:
        path = Path(out) / name
        if name == "samples.jsonl" and agent:
            what = "held-out episodes of each evaluation"
        if path.exists():
            found.append((path, what.format(out=out)))
    return found


def files_lines(out, agent: bool = False) -> list[str]:
    """The lines naming the files the run in ``out`` wrote: ``"run folder: OUT"``, then one per file."""
    files = written_files(out, agent)
    width = max((len(path.name) for path, _ in files), default=0) + (1 if any(p.is_dir() for p, _ in files) else 0)
    return [f"run folder: {out}"] + [f"  {path.name + '/' * path.is_dir():<{width}}  {what}" for path, what in files]


def _value(record: dict, key: str) -> str:
    value = record.get(key)
    return "n/a" if value is None else f"{value:.3f}"  # None: non-finite (written as JSON null), or absent


def task_summary(records: list[dict]) -> str:
    """A task run's held-out pass@1 before and after (sampled, then greedy when both ran); '' without evaluations."""
    evals = [r for r in records if r["kind"] == "eval"]
    if not evals:
        return ""
    first, last = evals[0], evals[-1]
    kinds = [k for k in ("sampled", "greedy") if f"eval_{k}_pass1" in last]  # eval_mode may skip one
    return (f"held-out {kinds[0]} pass@1: {_value(first, f'eval_{kinds[0]}_pass1')} (step {first['step']}) → "
            f"{_value(last, f'eval_{kinds[0]}_pass1')} (step {last['step']}, {last['generated_tokens']} generated "
            "tokens)" + "".join(f"; {k} {_value(first, f'eval_{k}_pass1')} → {_value(last, f'eval_{k}_pass1')}"
                                for k in kinds[1:]))


def report_task_run(config, records: list[dict], out=print) -> int:
    """Print a task run's held-out pass@1 before and after, then the files it wrote; returns 0."""
    summary = task_summary(records)
    for line in ([summary] if summary else []) + files_lines(config.out):
        out(line)
    return 0


def ended_line(counters: dict, elapsed_s: float, summary: str) -> str:
    """The last entry of a run's ``log.txt``: the step and generated tokens it ended at, its time, ``summary``."""
    return (f"run ended at step {counters['step']} ({counters['generated_tokens']} generated tokens, "
            f"{elapsed_s:.1f} s of training)" + (f"; {summary}" if summary else ""))


def success_label(env: str) -> str:
    """What an agent run's evaluation measures: ``held-out success``, or, for an env with one instance only
    (``cliffwalking``, whose one map is also trained on), ``success on the env's one map``."""
    from treecredit.envs import env_class

    return "success on the env's one map" if env and env_class(env).single_instance else "held-out success"


def agent_summary(config, records: list[dict]) -> str:
    """An agent run's held-out success before and after (sampled, then greedy); '' without evaluations."""
    evals = [r for r in records if r["kind"] == "eval"]
    if not evals:
        return ""
    first, last = evals[0], evals[-1]
    label = success_label(getattr(config, "env", ""))
    return (f"{label} (sampled): {_value(first, 'eval_success')} (step {first['step']}) → "
            f"{_value(last, 'eval_success')} (step {last['step']}, {last['generated_tokens']} generated tokens); "
            f"greedy {_value(first, 'eval_greedy_success')} → {_value(last, 'eval_greedy_success')}")


def report_agent_run(config, records: list[dict], out=print) -> int:
    """Print an agent run's held-out success before and after, then the files it wrote; returns 0."""
    summary = agent_summary(config, records)
    for line in ([summary] if summary else []) + files_lines(config.out, agent=True):
        out(line)
    return 0
