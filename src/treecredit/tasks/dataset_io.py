"""Reading a user's dataset with the ``datasets`` library: JSONL/JSON, Parquet, CSV, or a saved folder (a plain
JSONL file with the standard library, to the same rows: :mod:`treecredit.tasks.dataset_jsonl`).

Rows come back as plain dicts, in file order; nothing is downloaded (local paths only).
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

from treecredit._validation import fail

_BUILDERS = {".jsonl": "json", ".json": "json", ".parquet": "parquet", ".csv": "csv"}


def load_rows(path: str, *, split: str = "", argument: str = "dataset", text_columns=()) -> list[dict]:
    """The rows of the dataset at ``path``.

    ``path`` is a ``.jsonl``/``.json``, ``.parquet`` or ``.csv`` file, or a folder written by
    ``Dataset.save_to_disk`` / ``DatasetDict.save_to_disk`` (then ``split`` picks the split; default
    ``train``). Raises ``ValueError`` naming ``argument`` for a missing path, an unknown file type or an
    empty dataset, and naming ``split`` (``held_out_split`` when ``argument`` is) for a split the folder
    does not have (no ``train`` when none is given) or a split given for a file or a one-Dataset folder.

    ``text_columns``: columns of a CSV file read as the text they hold (``007`` stays ``'007'``, ``1.50`` stays
    ``'1.50'``; an empty cell is None): ``datasets`` would infer numbers (``7``, ``1.5``) and a column with an empty
    cell as floats (``7.0``). The other CSV columns keep the inferred types; other file types hold their own types.

    A plain ``.jsonl`` file is read with the standard library, without importing ``datasets`` (seconds), to the
    rows ``datasets`` would give (:func:`~treecredit.tasks.dataset_jsonl.plain_rows`); any other goes to
    ``datasets``.
    """
    source = Path(path)
    if not split and source.suffix.lower() == ".jsonl" and source.is_file():
        from treecredit.tasks.dataset_jsonl import plain_rows

        rows = plain_rows(source)
        if rows is not None:
            return rows
    import datasets

    was_off = datasets.utils.logging.is_progress_bar_enabled() is False
    datasets.disable_progress_bars()  # a local file loads in a moment; its bars only clutter the run's output
    try:
        return _load_rows(datasets, path, split, argument, tuple(text_columns))
    finally:
        if not was_off:
            datasets.enable_progress_bars()


def _load_rows(datasets, path: str, split: str, argument: str, text_columns: tuple) -> list[dict]:
    source = Path(path)
    option = "held_out_split" if argument == "held_out_split" else "split"
    if not source.exists():
        fail(argument, f"{path!r} does not exist", "pass the path of a .jsonl, .parquet or .csv file, or of a "
             "folder written by datasets' save_to_disk")
    if source.is_dir():
        try:
            data = datasets.load_from_disk(str(source))
        except Exception as exc:  # noqa: BLE001 — any reading error becomes the option's error
            fail(argument, f"folder {path!r} is not a saved dataset ({exc})",
                 "pass a folder written by Dataset.save_to_disk, or a data file")
        if isinstance(data, datasets.DatasetDict):
            names = list(data)
            if not split and "train" not in names:
                fail(option, f"{path!r} has no 'train' split (the default); it has {names}",
                     f"pass --task-option {option}=NAME with NAME one of {names}")
            if (split or "train") not in names:
                fail(option, f"{split!r} is not a split of {path!r}; it has {names}",
                     f"pass --task-option {option}=NAME with NAME one of {names}")
            data = data[split or "train"]
        elif split:
            _no_splits(option, split, f"folder {path!r} holds one Dataset")
    else:
        if split:
            _no_splits(option, split, f"{path!r} is a data file")
        builder = _BUILDERS.get(source.suffix.lower())
        if builder is None:
            fail(argument, f"unknown file type {source.suffix!r} of {path!r}",
                 f"use one of {sorted(_BUILDERS)} or a saved dataset folder")
        empty = f"{path!r} holds no rows", "pass a dataset with at least one row"
        if builder != "parquet" and not source.read_bytes().strip():
            fail(argument, *empty)  # datasets fails on an empty text file without saying why
        try:
            with _loader_log_held(builder) as held:
                as_text = {"converters": {c: str for c in text_columns}} if builder == "csv" and text_columns else {}
                data = datasets.load_dataset(builder, data_files=str(source), split="train", **as_text)
        except Exception as exc:  # noqa: BLE001 — any reading error becomes the option's error
            if "corresponds to no data" in str(exc):  # datasets' words for a header-only CSV or a JSON []
                fail(argument, *empty)
            where = json_error_at(source) if builder == "json" else None
            if where is not None:  # datasets says only "at position 88": name the line instead
                line, problem = where
                fail(argument, f"line {line} of {path!r} {problem}",
                     f"correct or remove line {line}" + (" (one JSON object per line, e.g. "
                                                      '{"prompt": "...", "answer": "..."})' if source.suffix.lower()
                                                     == ".jsonl" else ""))
            logged = "".join(f"; {m}" for m in held if str(exc) not in m and m not in str(exc))  # only the log's
            fail(argument, f"{path!r} could not be read as {builder} ({type(exc).__name__}: {exc}{logged})",
                 f"check that the file is valid {builder}")
    rows = [dict(row) for row in data]
    if not rows:
        fail(argument, f"{path!r} holds no rows", "pass a dataset with at least one row")
    return rows


@contextmanager
def _loader_log_held(builder: str):
    """Hold back what ``datasets``' loader for ``builder`` logs while it reads (yields the messages): its error on a
    malformed file (a JSON parse error at a row counted from 0) is printed before, and said better by, the error
    :func:`load_rows` raises (the line, from 1). A load that succeeds passes its records on as they were."""
    import logging

    logger = logging.getLogger(f"datasets.packaged_modules.{builder}.{builder}")
    records: list[logging.LogRecord] = []
    messages: list[str] = []

    class _Hold(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)
            messages.append(record.getMessage())

    handler, propagate = _Hold(), logger.propagate
    logger.addHandler(handler)
    logger.propagate = False
    try:
        yield messages
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate
    for record in records:  # not reached when the load failed
        logger.handle(record)


def _no_splits(option: str, split: str, what: str) -> None:
    fail(option, f"is {split!r}, but {what}, with no splits to choose from", f"drop --task-option {option}"
         + (" (held-out rows: --task-option held_out=N or held_out_path=FILE)" if option == "held_out_split" else
            "") + ", or pass a folder written by DatasetDict.save_to_disk")


def json_error_at(source: Path) -> tuple[int, str] | None:
    """``(line, what is wrong with it)`` of the first line of a JSON Lines file (or a ``.json`` file: one document,
    else JSON Lines, as ``datasets`` reads it) that is not a JSON object; None when every line is one (the
    file's fault is elsewhere)."""
    import json

    text = source.read_text(encoding="utf-8", errors="replace")
    if source.suffix.lower() == ".json":
        try:
            json.loads(text)
            return None
        except json.JSONDecodeError as exc:
            if text.lstrip().startswith("["):  # one document: its own line and column
                return exc.lineno, f"is not valid JSON ({exc.msg}, column {exc.colno})"
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            return number, f"is not valid JSON ({exc.msg}, column {exc.colno})"
        if not isinstance(value, dict):
            return number, f"is not a JSON object but {type(value).__name__} {line.strip()[:40]!r}"
    return None


def check_columns(rows: list[dict], columns: dict[str, str], *, argument: str = "", where: str = "") -> None:
    """Every ``{option: column}`` with a non-empty column must be a column of ``rows``.

    ``argument``/``where``: the option that named another file of rows (``held_out_path``,
    ``held_out_split``) and those rows' description, which the error names instead of the dataset."""
    have = list(rows[0])
    for option, column in columns.items():
        if not column or column in rows[0]:
            continue
        if argument:
            fail(argument, f"{where} has no column {column!r} ({option}); its columns are {have}",
                 f"give {argument} rows with the dataset's columns, or set {option} to a column both have")
        empty = " (empty) for a dataset without answers" if option == "answer_column" else ""
        fix = f"pass --task-option {option}=<one of {have}>" + (f", or {option}={empty}" if empty else "")
        if option == "prompt_column":  # no answer as a prompt: the answer, solution or system column, or a
            # conversation that ends with its answer (check_cells)
            from treecredit.tasks.dataset_rows import answered_rows

            given = {columns.get(o) for o in ("answer_column", "solution_column", "system_column")}
            usable = [c for c in have if c not in given and not answered_rows(rows, c)]  # no answers as prompts
            fix = (f"pass --task-option prompt_column=<one of {usable}>" if usable else "put the prompts in a column "
                   "of their own (an SFT conversation's messages without the final assistant turn, its answer in "
                   "an answer column) and pass --task-option prompt_column=NAME")
        fail(option, f"column {column!r} is not in the dataset; its columns are {have}", fix)


_FINGERPRINTS: dict[tuple, dict] = {}


def data_fingerprint(path: str) -> dict:
    """``{"bytes": N, "sha256": HEX}`` of a dataset file, or of every file in a saved dataset folder (their
    relative names and contents, in sorted order): what a resumed run checks its data against. Remembered
    per (path, size, modification time), so a path is read once per process unless it changes."""
    import hashlib

    source = Path(path)
    files = sorted(p for p in source.rglob("*") if p.is_file()) if source.is_dir() else [source]
    stats = tuple((str(p), p.stat().st_size, p.stat().st_mtime_ns) for p in files)
    if stats not in _FINGERPRINTS:
        digest = hashlib.sha256()
        for p in files:
            if source.is_dir():
                digest.update(str(p.relative_to(source)).encode() + b"\0")
            with open(p, "rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
        _FINGERPRINTS[stats] = {"bytes": sum(s[1] for s in stats), "sha256": digest.hexdigest()}
    return dict(_FINGERPRINTS[stats])
