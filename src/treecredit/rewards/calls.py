"""A reward function's call read TRL's way (for :class:`~treecredit.rewards.combine.RewardSet` and the TRL
integration's leaf rewards): what it returned awaited (:func:`awaited`), checked to be one value per completion
(:func:`returned_list`), each value read as a number (:func:`reward_number`, :data:`FLOAT32_MAX`); and a call that
raised explained (:func:`raised_note`: the TRL keywords, :data:`TRL_KEYWORDS`, that were not passed).
"""

from __future__ import annotations

import math
import re

from treecredit._validation import fail

FLOAT32_MAX = 3.4028234663852886e38
"""The largest float32: a weighted reward beyond it is infinite in the tensors training holds rewards in."""
TRL_KEYWORDS = ("completion_ids", "trainer_state", "log_extra", "log_metric")
"""The keywords TRL's trainer passes each reward function besides ``prompts``, ``completions`` and the dataset's
columns. :class:`~treecredit.rewards.combine.RewardSet` passes ``completion_ids`` when its caller gives the token
ids (the samplers of ``treecredit train`` and of its evaluation do), and the other three when a run attached them
(``treecredit train`` does: :mod:`treecredit.rewards.trainer_keywords`), to the functions that take them; without
a run (a ``RewardSet`` or task used from Python) a function that requires one of those is refused before any
work, naming it, whether or not the data has worked solutions (the call fails whatever the completion). The probe
before any work scores worked solutions, which have no token ids: a function that fails there only for want of
``completion_ids`` (a required argument, or ``kwargs["completion_ids"]``) is not refused but said to be unchecked
(:meth:`~treecredit.rewards.combine.RewardSet.probing`).
Under TRL (``treecredit.integrations``) the trainer passes all four."""


def awaited(value):
    """``value``, or what it gives once awaited when it is awaitable (a call of an ``async def`` reward): run
    in a new event loop, or, when one is already running in this thread (a notebook), in a worker thread."""
    import inspect

    if not inspect.isawaitable(value):
        return value
    import asyncio

    async def result():
        return await value

    try:
        asyncio.get_running_loop()
    except RuntimeError:  # no loop running here: the usual case
        return asyncio.run(result())
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, result()).result()


def raised_note(name: str, exc: Exception, passed: dict) -> tuple[str, tuple[str, ...]]:
    """``(message, missing)`` of reward ``name`` that raised ``exc`` when called with keywords ``passed``:
    ``missing`` are the TRL keywords treecredit did not pass (:data:`TRL_KEYWORDS`) that the function required
    (a ``TypeError`` for missing arguments) or read from ``**kwargs`` (``completion_ids``: a ``KeyError``), and
    the message says they were not passed."""
    message = f"{name} raised {type(exc).__name__}: {exc}"
    names: list[str] = []
    if isinstance(exc, TypeError):
        required = re.search(r"missing \d+ required [\w-]+ arguments?: (.*)$", str(exc))
        names = re.findall(r"'(\w+)'", required.group(1)) if required else []
    elif isinstance(exc, KeyError) and exc.args == ("completion_ids",):
        names = ["completion_ids"]
    missing = tuple(k for k in TRL_KEYWORDS if k in names and k not in passed)
    if not missing:
        return message, missing
    never = [k for k in missing if k != "completion_ids"]  # a run attaches all three: this call is outside one
    why = ([f"it passes {_listed(never)} only in a run of treecredit train or compare, not to a reward set or task "
            "called from Python"] if never else []) + (
        ["it passes completion_ids only where the model sampled the completions (training, evaluation)"]
        if "completion_ids" in missing else [])
    here = ("prompts, completions, completion_ids and the dataset's columns" if "completion_ids" in passed else
            "prompts, completions and the dataset's columns")
    return (f"{message} (treecredit does not pass {_listed(list(missing))} here: {', and '.join(why)}; of TRL's "
            f"reward keywords it passes {here} here)"), missing


def _listed(names: list[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def returned_list(argument: str, name: str, values, n: int, noun: str = "values") -> list:
    """``values``, what reward function ``name`` returned for ``n`` completions, as a list (TRL's convention: one
    reward, or None where it does not apply, per completion, in order).

    Raises:
        ValueError: naming ``argument`` and ``name``, for a bare None (usually a missing ``return``), anything that
            is not a sequence (a number, text, a dict), or a sequence of another length than ``n`` (``noun``: what
            the message calls its items).
    """
    from treecredit.token_rows import short_repr

    fix = "return a list with one float (or None where it does not apply) per completion, in order (TRL's convention)"
    if values is None:  # a bare None, not a list of Nones: the function almost always lacks its return
        fail(argument, f"{name} returned None, not a list of {n} {noun} (missing return?)",
             "end the function with return [...]: " + fix.removeprefix("return "))
    if isinstance(values, str | bytes | dict) or not hasattr(values, "__len__") or not hasattr(values, "__iter__"):
        fail(argument, f"{name} returned {type(values).__name__} {short_repr(values, 60)}, not a list of {n} {noun}",
             fix)
    if len(values) != n:
        fail(argument, f"{name} returned {len(values)} {noun} for {n} completion{'s' * (n != 1)}",
             "return one float (or None) per completion, in order")
    return list(values)


def reward_number(value, finite: bool = True) -> float | None:
    """``value`` as a float when it is a number (a Python or NumPy number, a bool, a one-element tensor), finite
    unless ``finite`` is False; None for text (``"1"`` is refused like ``"yes"``: a reward is a number), NaN or
    ±inf (when ``finite``) or anything else."""
    if isinstance(value, (str, bytes)):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError, RuntimeError):
        return None
    return number if not finite or math.isfinite(number) else None
