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
