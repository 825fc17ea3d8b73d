"""Reading a ``TrainConfig`` mapping from a JSON, TOML or YAML file (``--config FILE``)."""

from __future__ import annotations

import difflib
import json
from dataclasses import fields
from pathlib import Path

from treecredit._validation import fail


def load_config_file(path: str | Path) -> dict:
    """Read a config mapping from ``.json``, ``.toml`` or ``.yaml``/``.yml`` (YAML needs PyYAML)."""
    path = Path(path)
    if not path.exists():
        fail("config", f"file {str(path)!r} does not exist", "pass the path of a .json, .toml or .yaml file")
    text = path.read_text()
    if path.suffix not in (".json", ".toml", ".yaml", ".yml"):
        fail("config", f"unknown file type {path.suffix!r}", "use a .json, .toml or .yaml file")
    if path.suffix in (".yaml", ".yml"):
        try:
            import yaml
        except ImportError:
            fail("config", "YAML needs PyYAML, which is not installed", "pip install pyyaml, or use JSON/TOML")
        parse, bad = yaml.safe_load, yaml.YAMLError
    elif path.suffix == ".toml":
        import tomllib

        parse, bad = tomllib.loads, tomllib.TOMLDecodeError
    else:
        parse, bad = json.loads, json.JSONDecodeError
    try:
        data = parse(text)
    except bad as error:
        kind = {".yml": "YAML", ".yaml": "YAML"}.get(path.suffix, path.suffix[1:].upper())
        fail("config", f"{str(path)!r} is not valid {kind}: {error}", "fix the file at the place named")
    if not isinstance(data, dict):
        fail("config", f"{str(path)!r} does not hold a mapping of field names to values", "write key: value pairs")
    from treecredit.training.config import TrainConfig

    known = {f.name for f in fields(TrainConfig)}
    unknown = sorted(set(data) - known)
    if unknown:
        hints = [f"{name} → {FIELD_ALIASES.get(name) or close[0]}" for name in unknown
                 if FIELD_ALIASES.get(name) or (close := difflib.get_close_matches(name, known, n=1, cutoff=0.75))]
        meant = f" (did you mean {', '.join(hints)}?)" if hints else ""
        fail("config", f"{str(path)!r} has unknown field(s) {unknown}{meant}",
             f"use fields of TrainConfig: {sorted(known)}")
    return data


FIELD_ALIASES = {"learning_rate": "lr", "num_generations": "group_size", "max_steps": "steps",
                 "max_completion_length": "max_new_tokens", "beta": "kl_coef", "epsilon": "clip_low",
                 "epsilon_high": "clip_high", "num_iterations": "epochs", "loss_type": "loss_aggregation",
                 "model_name_or_path": "model", "output_dir": "out", "seed_": "seed"}
"""Settings named as TRL's ``GRPOConfig`` names them, with the field they correspond to here (suggested when a
config file uses them)."""
