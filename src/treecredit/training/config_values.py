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


def decoded_escapes(text: str) -> str | None:
    """``text`` with its backslash escapes read as JSON reads them in a quoted string (``'a\\nb'``, a backslash and
    n, → a line break), or None when it holds none (or reads as no JSON string)."""
    import json

    if "\\" not in text:
        return None
    try:
        decoded = json.loads(f'"{text}"')
    except json.JSONDecodeError:
        return None
    return decoded if decoded != text else None


WHITESPACE_ESCAPE = r"\\[ntr]"
"""The escapes :func:`unmeant_escapes` warns about: a backslash and n, t or r (a line break, a tab, a carriage
return: what a delimiter, a marker or a template means by them)."""

MEANT_BACKSLASH_KEYS = frozenset({
    "path", "paths", "dir", "dirs", "file", "files", "folder", "folders", "regex", "regexp", "regexes",
    "filepath", "filename", "pathname", "dirname", "cachedir", "datadir", "logdir", "outdir", "workdir", "rootdir",
    "basedir"})
"""Words of option names (``cache_dir``, ``step_regex``, ``held_out.path``, ``filepath``; the name split at every
character that is not a letter, each word matched whole: ``profile`` is not ``file``) whose values hold a backslash
on purpose: a Windows path (``data\\new``), a regular expression (which reads ``\\n`` as a line break itself)."""

WINDOWS_DRIVE_PATH = r"[A-Za-z]:(\\[\w.~$-]{2,}){2,}\\?"
"""A Windows path on a drive whose backslashes are all followed by n, t or r (``C:\\new\\table``): at least two
folder names of two or more characters, no ``{``, no space. ``Q:\\n{prompt}\\nA:``, ``A:\\n`` and ``x:\\tb``
are a template's or a marker's line breaks and tabs (review41 5: any text beginning with a letter, a colon and a
backslash was taken as a drive until 2026-12-03)."""


def unmeant_escapes(key: str, text: str) -> str | None:
    """``text`` of option ``key`` with its escapes read (:func:`decoded_escapes`) where they plausibly meant a line
    break, tab or carriage return and were kept as typed; None where the backslashes look meant. Meant: a text
    with any other backslash (a regular expression's ``\\bfoo\\b``, ``\\d+``, ``\\.``; a path's ``\\Users``; a
    doubled ``\\\\``), a Windows path (``C:\\new\\table``: :data:`WINDOWS_DRIVE_PATH`; ``\\\\server\\share``),
    and any text of a key naming a path or a regex (:data:`MEANT_BACKSLASH_KEYS`). Warned: ``\\n``, ``\\t``,
    ``\\r`` alone among the text's backslashes (``delimiter=\\n``, ``marker=a\\tb``, ``template=Q:\\n{prompt}\\nA:``,
    ``marker=A:\\n``)."""
    import re

    if re.sub(WHITESPACE_ESCAPE, "", text).count("\\") or re.fullmatch(WINDOWS_DRIVE_PATH, text):
        return None
    if any(part in MEANT_BACKSLASH_KEYS for part in re.split(r"[^a-z]+", key.lower())):
        return None
    return decoded_escapes(text)


ESCAPE_NAMES = {"\n": "a line break", "\t": "a tab", "\r": "a carriage return", "\n\n": "two line breaks"}
"""Names of the texts a backslash escape most often means, for :func:`escape_warnings`."""


def escape_warnings(args, kept: list[tuple[str, str, str]], file_kind: str = "") -> list[str]:
    """A warning for each ``key=value`` flag (``--task-option delimiter=\\n``) whose value was taken as text (not
    JSON) and holds backslash escapes: a shell passes the backslash on, so the option is a backslash and n, not
    the line break the user likely meant (a tree then never finds a step end: trial38 4; only ``\\n``, ``\\t``,
    ``\\r`` where no backslash looks meant: :func:`unmeant_escapes`); the fix is the JSON
    form in quotes, which the flags read (``--task-option 'delimiter="\\n"'``). ``kept``: a ``--config`` file's
    option texts that keep their backslashes as written (``(field, key, text)``:
    :func:`~treecredit.training.config_file.kept_backslashes`), of format ``file_kind``, get the same warning."""
    import json
    import shlex

    def meant(decoded: str) -> str:
        return f"{ESCAPE_NAMES[decoded]} ({decoded!r})" if decoded in ESCAPE_NAMES else repr(decoded)

    said = []
    for name, flag in OPTION_FLAGS.items():
        for pair in getattr(args, name, None) or []:
            key, _, text = pair.partition("=")
            try:
                json.loads(text)
                continue  # JSON: its escapes were read ('delimiter="\n"'), or a number, true, ...
            except json.JSONDecodeError:
                decoded = unmeant_escapes(key, text)
            if decoded is not None:
                said.append(f"{flag} {pair} gives {key} the text {text!r} (backslashes as typed: a shell passes them "
                            f"on), not {meant(decoded)}. Fix: write the value as JSON in double quotes, which {flag} "
                            f"reads: {flag} {shlex.quote(f'{key}={json.dumps(decoded)}')} (if the backslash is "
                            "meant, ignore this)")
    for name, key, text in kept:
        if any(pair.partition("=")[0] == key for pair in getattr(args, name, None) or []):
            continue  # a flag replaces the file's value
        decoded = unmeant_escapes(key, text)
        if decoded is not None:
            written = f"{key}: {json.dumps(decoded)}" if file_kind == "YAML" else f"{key} = {json.dumps(decoded)}"
            quotes = "outside double quotes" if file_kind == "YAML" else "in a literal string ('...')"
            said.append(f"the --config file sets {name} {key} to the text {text!r} ({file_kind} keeps backslashes as "
                        f"written {quotes}), not {meant(decoded)}. Fix: write {written} in the file, in double quotes "
                        "(if the backslash is meant, ignore this)")
    return said
