"""Reading a ``TrainConfig`` mapping from a JSON, TOML or YAML file (``--config FILE``)."""

from __future__ import annotations

import difflib
import json
from dataclasses import fields
from pathlib import Path

from treecredit._validation import fail


def load_config_file(path: str | Path, *, argument: str = "config", label: str = "", written: str = "") -> dict:
    """Read a config mapping from ``.json``, ``.toml`` or ``.yaml``/``.yml`` (YAML needs PyYAML).

    Errors name ``argument`` and the file, followed by ``label``; ``written`` ends the fix of a damaged file
    (``treecredit export`` reads a run's config.json: ``run``, `` (the run's settings)``, what wrote it and the
    other way out)."""
    path = Path(path)
    if not path.exists():
        fail(argument, f"file {str(path)!r} does not exist", "pass the path of a .json, .toml or .yaml file")
    if path.suffix not in (".json", ".toml", ".yaml", ".yml"):
        fail(argument, f"unknown file type {path.suffix!r}", "use a .json, .toml or .yaml file")
    if path.suffix in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:
            fail(argument, "YAML needs PyYAML, which is not installed", "pip install pyyaml, or use JSON/TOML")
        parse, bad = yaml.safe_load, yaml.YAMLError
    elif path.suffix == ".toml":
        import tomllib

        parse, bad = tomllib.loads, tomllib.TOMLDecodeError
    else:
        parse, bad = json.loads, json.JSONDecodeError
    named = f"{str(path)!r}{label}"
    try:
        data = parse(path.read_text())
    except (bad, UnicodeDecodeError) as error:
        kind = {".yml": "YAML", ".yaml": "YAML"}.get(path.suffix, path.suffix[1:].upper())
        fail(argument, f"{named} is not valid {kind}: {error}", f"repair the file at the place named{written}")
    if not isinstance(data, dict):
        mapping = "a JSON object of settings" if path.suffix == ".json" else "a mapping of field names to values"
        fail(argument, f"{named} holds a {type(data).__name__}, not {mapping}",
             f"repair the file{written}" if written else "write key: value pairs")
    from treecredit.training.config import TrainConfig

    known = {f.name for f in fields(TrainConfig)}
    unknown = sorted(set(data) - known)
    if unknown:
        hints = [f"{name} → {FIELD_ALIASES.get(name) or close[0]}" for name in unknown
                 if FIELD_ALIASES.get(name) or (close := difflib.get_close_matches(name, known, n=1, cutoff=0.75))]
        meant = f" (did you mean {', '.join(hints)}?)" if hints else ""
        fail(argument, f"{named} has unknown field(s) {unknown}{meant}",
             f"use fields of TrainConfig: {sorted(known)}")
    _refuse_numbers_as_text(data, named, argument, yaml_file=path.suffix in (".yaml", ".yml"))
    return data


def _refuse_numbers_as_text(data: dict, named: str, argument: str, *, yaml_file: bool) -> None:
    """Refuse a number field that the file holds as text which reads as a number, naming the file and the key:
    PyYAML (YAML 1.1) reads ``lr: 1e-4`` as the text '1e-4' (a float there needs a dot, ``1.0e-4``), and a
    quoted number is text in any format. Refused rather than converted: the file says text, and the fix is one
    edit in it. An integer field's text that reads as a whole number (``steps: 1e3``, ``"8"``) gets its digits."""
    import math

    from treecredit.training.config import TrainConfig

    for item in fields(TrainConfig):
        value = data.get(item.name)
        whole = item.type in ("int", int, "int | None")
        if item.type not in ("float", float, "float | None") and not whole or not isinstance(value, str):
            continue
        try:
            number = float(value)
        except ValueError:
            continue  # not a number at all: the field's own check names it
        if not math.isfinite(number) or whole and not number.is_integer():
            continue
        text = value.strip().lower()
        if whole:  # steps: 1e3 (text in YAML) or "8": the integer as digits
            written, why = str(int(number)), " (an integer field: write its digits)" if "e" in text else ""
        elif yaml_file and "e" in text:  # YAML 1.1's float: a dot in the mantissa and a sign in the exponent
            mantissa, exponent = text.split("e", 1)
            written = (mantissa if "." in mantissa else mantissa + ".0") + "e" + (
                exponent if exponent[:1] in "+-" else "+" + exponent)
            why = " (PyYAML reads a number with an exponent as text unless it has a dot and a signed exponent)"
        else:
            written, why = text, ""
        fail(argument, f"{named} sets {item.name}: {value!r}, which is text, not a number{why}",
             f"write {item.name}: {written} in the file" + ("" if why else " (without quotes)"))


FIELD_ALIASES = {"learning_rate": "lr", "num_generations": "group_size", "max_steps": "steps",
                 "max_completion_length": "max_new_tokens", "beta": "kl_coef", "epsilon": "clip_low",
                 "epsilon_high": "clip_high", "num_iterations": "epochs", "loss_type": "loss_aggregation",
                 "model_name_or_path": "model", "output_dir": "out", "seed_": "seed"}
"""Settings named as TRL's ``GRPOConfig`` names them, with the field they correspond to here (suggested when a
config file uses them)."""
