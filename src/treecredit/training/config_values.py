"""Value checks of ``TrainConfig``'s fields (numbers, integer bounds) and the defaults a run chooses for a field
not given (``lr`` by model): :mod:`treecredit.training.config` calls them while validating."""

from __future__ import annotations

from dataclasses import fields

from treecredit._validation import fail


class TypedOptions(dict):
    """The values of a ``key=value`` flag (``--sampler-option max_len=1e9``, read as JSON: ``1000000000.0``) that
    keep each value's text as the user typed it (:attr:`typed`: ``{"max_len": "1e9"}``), so that an error about
    one shows what was typed (:func:`typed_value`). A dict to everything else; copies and pickles keep the texts."""

    def __init__(self, values=(), typed: dict | None = None) -> None:
        super().__init__(values)
        self.typed: dict[str, str] = dict(typed or {})

    def copy(self) -> TypedOptions:
        return TypedOptions(self, self.typed)

    def __reduce__(self):  # compare's worker processes get each run's config pickled
        return TypedOptions, (dict(self), self.typed)


def typed_value(options: dict, name: str) -> str:
    """Option ``name`` of ``options`` as the user gave it: its text as typed on the command line
    (:class:`TypedOptions`: ``1e9``, ``nan``, ``true``), else its value's ``repr`` (Python, a config file)."""
    typed = getattr(options, "typed", {}).get(name)
    return typed if typed is not None else repr(options[name])


def check_at_least(config, name: str, low: int, fix: str) -> None:
    """Refuse field ``name`` of ``config`` unless it is an integer ≥ ``low`` (``fix``: how)."""
    value = getattr(config, name)
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        fail(name, f"is {value!r}, must be an integer ≥ {low}", fix)


SEED_MAX = 2**32 - 1
"""The largest seed: NumPy's global seed (``np.random.seed``, which a run sets) takes 0 to 2**32 − 1."""


def check_seeds(config) -> None:
    """Refuse ``seed`` or ``warm_start_seed`` of ``config`` outside 0 … :data:`SEED_MAX` (NumPy refuses them when
    the run seeds it, after the model and the warm start were loaded), naming the flag and a value to pass."""
    for name in ("seed", "warm_start_seed"):
        value = getattr(config, name)
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= SEED_MAX:
            flag = "--" + name.replace("_", "-")
            fail(name, f"is {value!r}, must be an integer from 0 to {SEED_MAX} (NumPy's seed range)",
                 f"pass {flag} 0 or another whole number in that range ({name}=0 in Python)")


def check_numbers(config) -> None:
    """Refuse a float field of ``config`` that holds no finite number (a string from a config file or an
    arm's ``[lr=abc]``, a bool, nan, inf), naming it, before the range checks compare it."""
    import math

    for item in fields(config):
        if item.type not in ("float", float, "float | None"):
            continue
        value = getattr(config, item.name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            example = item.default if item.default is not None else default_lr("gpt", 0)
            fail(item.name, f"is {value!r}, must be a finite number",
                 f"pass a number, e.g. --{item.name.replace('_', '-')} {example}")


GPT_LR, HF_FULL_LR = 5e-5, 5e-6
"""The default RL learning rates: the small GPT (and LoRA adapters), and a Hugging Face model trained whole."""


def default_lr(model: str, lora_rank: int) -> float:
    """``lr`` when it is not given: :data:`HF_FULL_LR` for a Hugging Face ``model`` without LoRA, else
    :data:`GPT_LR`."""
    return HF_FULL_LR if model != "gpt" and not lora_rank else GPT_LR


OPTION_FLAGS = {"estimator_options": "--estimator-option", "task_options": "--task-option",
                "env_options": "--env-option", "sampler_options": "--sampler-option",
                "branching_options": "--branching-option"}
"""The repeatable ``key=value`` flag of each dict field a user sets (``module_folders`` and ``data_fingerprints``
are set by treecredit itself)."""

OPTION_EXAMPLES = {"estimator_options": {"norm_by_std": False}, "task_options": {"max_operand": 9},
                   "env_options": {"size": 4}, "sampler_options": {"schedule": "rounds"},
                   "branching_options": {"children": 2}}
"""An example value of each dict field, for its errors."""


LIST_EXAMPLES = {"reward": ["math", "my_rewards:fn@0.5"]}
"""An example value of each list field, for its errors."""


def option_pairs(text: str) -> list[str]:
    """The ``key=value`` pairs of ``text``, apart by commas or spaces (``'a=1, b=x'`` → ``['a=1', 'b=x']``)."""
    import re

    return [p for p in re.split(r"[,\s]+", text.strip()) if p]


def options_from_text(text: str) -> dict | None:
    """The mapping that ``key=value`` pairs written as one text mean (``'fork_at=1'`` → ``{'fork_at': 1}``;
    pairs apart by commas or spaces, values read as JSON when they parse, as the flags read them), or None when
    the text is not such pairs."""
    import json

    out: dict = {}
    for pair in option_pairs(text):
        key, sep, value = pair.partition("=")
        if not sep or not key or key in out:
            return None
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out or None


def flag_pairs(options: dict) -> list[str]:
    """``options`` as the ``key=value`` texts of a flag (values as JSON unless text: ``norm_by_std=false``)."""
    import json

    return [f"{k}={v if isinstance(v, str) else json.dumps(v)}" for k, v in options.items()]


def what_it_is(value) -> str:
    """``value`` named for an error: ``the text 'a=1'``, ``None``, ``[1, 2] (a list)``."""
    if isinstance(value, str):
        return f"the text {value!r}"
    kind = type(value).__name__
    return repr(value) if value is None else f"{value!r} ({'an' if kind[:1] in 'aeiou' else 'a'} {kind})"


def check_containers(config) -> None:
    """Refuse a dict field of ``config`` that holds no mapping (``sampler_options='fork_at=1'``, text that a config
    file or a Python caller wrote as the flag writes it), naming the field, the dict meant and the flag; a list
    field (``reward``) given one spec (``reward='math'``, or a function) becomes a one-item list, as one ``--reward``
    flag gives, and a tuple a list. First in validation: later checks iterate these fields (a text's characters
    read as reward names) or index them."""
    from collections.abc import Mapping

    for item in fields(config):
        name, value = item.name, getattr(config, item.name)
        if item.type in ("list", list):
            if isinstance(value, str) or callable(value):
                setattr(config, name, [value])
            elif isinstance(value, tuple):
                setattr(config, name, list(value))
            elif not isinstance(value, list):
                example = LIST_EXAMPLES[name]
                fail(name, f"is {what_it_is(value)}, not a list",
                     f"pass a list, e.g. {name}={example!r}, or one item: {name}={example[0]!r} "
                     f"(on the command line: --{name.replace('_', '-')} {example[0]}, repeatable)")
        elif item.type in ("dict", dict) and not isinstance(value, dict):
            if isinstance(value, Mapping):
                setattr(config, name, dict(value))
                continue
            flag = OPTION_FLAGS.get(name)
            if flag is None:
                fail(name, f"is {what_it_is(value)}, not a dict", f"leave {name} out: treecredit sets it")
            meant = options_from_text(value) if isinstance(value, str) else None
            example = meant or OPTION_EXAMPLES[name]
            typed = option_pairs(value) if meant else flag_pairs(example)
            fail(name, f"is {what_it_is(value)}, not a dict of option names to values",
                 f"pass a dict, e.g. {name}={example!r} (on the command line: "
                 f"{' '.join(f'{flag} {pair}' for pair in typed)})")


from treecredit.training.config_escapes import (  # noqa: E402,F401 — the escape warnings, moved 2026-12-04
    ESCAPE_NAMES,
    MEANT_BACKSLASH_KEYS,
    WINDOWS_DRIVE_PATH,
    escape_warnings,
    unmeant_escapes,
)
