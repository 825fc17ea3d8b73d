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
    _refuse_text_as_options(data, named, argument, path.suffix)
    return data


def _refuse_text_as_options(data: dict, named: str, argument: str, suffix: str) -> None:
    """Refuse a dict field that the file holds as something other than a mapping (YAML ``task_options:
    prompt_column=question``, the flag's ``key=value`` as text), naming the file and the key, with the mapping
    meant written in the file's own format; and a list field (``reward``) that is neither a list nor one spec
    as text (``reward: math`` is the one-item list, as one ``--reward`` gives: TrainConfig makes it one), nor
    several specs apart by commas in one text (``reward: math, my_module:fn``: the list meant is shown)."""
    import shlex

    from treecredit.rewards.load import comma_separated_specs
    from treecredit.training import config_values as values
    from treecredit.training.config import TrainConfig

    for item in fields(TrainConfig):
        name = item.name
        if name not in data:
            continue
        value = data[name]
        what = "no value (null)" if value is None else values.what_it_is(value)
        if item.type in ("list", list):
            example = values.LIST_EXAMPLES[name]
            several = comma_separated_specs(value) if isinstance(value, str) else None
            if several:  # reward: math, my_module:fn (one text): the list meant, in the file's format
                fail(argument, f"{named} sets {name}: {what}, {len(several)} items apart by commas in one text, which "
                     f"is read as one", f"write {in_format(suffix, name, several)} in the file (a list), or give "
                     f"each as its own flag: {' '.join(f'--{name} {shlex.quote(one)}' for one in several)}")
            if not isinstance(value, (list, str)):
                fail(argument, f"{named} sets {name}: {what}, not a list",
                     f"write {in_format(suffix, name, example)} in the file (one {name} may be written as its text: "
                     f"{in_format(suffix, name, example[0])})")
        if item.type not in ("dict", dict) or isinstance(value, dict):
            continue
        flag = values.OPTION_FLAGS.get(name)
        if flag is None:
            fail(argument, f"{named} sets {name}: {what}, not a mapping",
                 f"delete {name} from the file: treecredit sets it")
        meant = values.options_from_text(value) if isinstance(value, str) else None
        example = meant or values.OPTION_EXAMPLES[name]
        written = in_format(suffix, name, example)
        typed = values.option_pairs(value) if meant else values.flag_pairs(example)
        where = f"{'' if meant else ' (with your options)'}{' or delete the line' * (value is None)}"
        fail(argument, f"{named} sets {name}: {what}, not a mapping of option names to values",
             f"write {written} in the file{where}, or give them on the command line: "
             f"{' '.join(f'{flag} {pair}' for pair in typed)}")


def kept_backslashes(path: str | Path) -> list[tuple[str, str, str]]:
    """``(field, key, text)`` of each text option in the dict fields of config file ``path`` (read before:
    :func:`load_config_file`) whose backslashes the format kept as written: YAML's plain and single-quoted scalars
    (``delimiter: \\n`` is a backslash and n; a double-quoted ``"\\n"`` is a line break), TOML's literal strings
    (``'\\n'``); none in JSON (a backslash there is written on purpose, as ``\\\\``)."""
    from treecredit.training.config_values import OPTION_FLAGS

    path = Path(path)
    text = path.read_text()
    if path.suffix in (".yaml", ".yml"):
        import yaml

        root = yaml.compose(text)
        found = []
        for key_node, node in getattr(root, "value", []):
            if key_node.value in OPTION_FLAGS and isinstance(node, yaml.MappingNode):
                found += [(key_node.value, k.value, v.value) for k, v in node.value
                          if isinstance(v, yaml.ScalarNode) and v.tag.endswith(":str") and v.style != '"']
        return found
    if path.suffix == ".toml":
        import tomllib

        data = tomllib.loads(text)
        return [(name, key, value) for name in OPTION_FLAGS if isinstance(data.get(name), dict)
                for key, value in data[name].items()
                if isinstance(value, str) and "\\" in value and (f"'{value}'" in text or f"'''{value}" in text)]
    return []


def in_format(suffix: str, name: str, value) -> str:
    """``name: value`` as a ``suffix`` file writes it: YAML ``task_options: {prompt_column: question}``, JSON
    ``"task_options": {"prompt_column": "question"}``, TOML ``task_options = {prompt_column = "question"}``."""
    if suffix in (".yaml", ".yml"):
        import yaml

        return yaml.safe_dump({name: value}, default_flow_style=True, width=10**6).strip()[1:-1]
    if suffix == ".toml":
        return f"{name} = {toml_value(value)}"
    return f"{json.dumps(name)}: {json.dumps(value)}"


def toml_value(value) -> str:
    """``value`` (text, a number, a bool, a list or a dict of them) as a TOML value (an inline table for a dict)."""
    import re

    if isinstance(value, dict):
        keys = [k if re.fullmatch(r"[A-Za-z0-9_-]+", k) else json.dumps(k) for k in value]
        return "{" + ", ".join(f"{k} = {toml_value(v)}" for k, v in zip(keys, value.values())) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return json.dumps(value)  # text, numbers and true/false read the same in TOML


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
