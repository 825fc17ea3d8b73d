"""One error helper for every public boundary.

Every check raises ``ValueError`` with the same shape of message::

    <argument>: <what is wrong>. Fix: <what to do>.

so that a user reading a traceback learns which argument was wrong and how to mend it. Inner code
is unchecked and fast; only the public entry points call these. :func:`fail` raises it as text;
:class:`FixError` (and :class:`OutOfRange`) carry the same message's parts (:class:`Remedy`: the Python form,
the command line's form, the option settings), which hosts (the CLI, TRL, verl, ``compare``) read to write the
fix in their own terms instead of parsing the text back.
"""

from __future__ import annotations

import re
from typing import Any, Callable, NamedTuple, NoReturn

import numpy as np

_TORCH_UPCAST = ("torch.bfloat16", "torch.float8_e4m3fn", "torch.float8_e5m2", "torch.float8_e4m3fnuz",
                 "torch.float8_e5m2fnuz")
INT64_MAX = np.iinfo(np.int64).max


def fail(argument: str, problem: str, fix: str) -> NoReturn:
    """Raise the project's standard ``ValueError`` for a bad ``argument``."""
    raise ValueError(f"{argument}: {problem}. Fix: {fix}.")


class Remedy(NamedTuple):
    """One way to mend a refused argument (a part of :class:`FixError`'s fix), in each host's terms."""

    python: str
    """As a Python caller writes it: ``"scale='std' or scale='none'"``, ``"rewards in [0, 1]"``."""
    cli: str = ""
    """As ``treecredit train``'s command line writes it: ``"--estimator-option scale=std"``; "" when the same."""
    settings: tuple = ()
    """The option settings that apply it, ``((name, value), ...)``, preferred first: ``(("scale", "std"),
    ("scale", "none"))``; () when it sets no option."""


def first_clause(text: str) -> str:
    """``text`` up to its first bracket, ``; ``, ``. Fix:`` or line break: a message's cause without its figures
    (``are outside [0, 1] (from -1 to 2), which ...`` -> ``are outside [0, 1]``)."""
    return re.split(r" \(|; |\. Fix: |\n", text, maxsplit=1)[0]


class FixError(ValueError):
    """The standard refusal (``argument: problem. Fix: fix.``, as :func:`fail` writes it) carrying its fix as
    :class:`Remedy` parts, so that each host (the Python API, ``treecredit train``, TRL, verl) writes the fix in
    its own terms (:meth:`fix`, :attr:`settings`) instead of reading the text back. ``str()`` is the Python
    API's message: each remedy with its command-line form in parentheses, ``pass scale='std' (treecredit train:
    --estimator-option scale=std), or rewards in [0, 1] (...)``. A ``ValueError``, so ``except ValueError`` holds.

    Args:
        argument, problem: as :func:`fail`'s.
        remedies: the ways to mend it, in order, joined by ``joiner`` after ``verb``.
        brief: the problem's first clause, for a one-line summary (``treecredit compare``'s failed runs: ``every
            reward of 5 steps in a row failed``); "" (the default): the whole problem.
    """

    def __init__(self, argument: str, problem: str, remedies: tuple, verb: str = "pass", joiner: str = ", or ",
                 brief: str = ""):
        self.argument, self.problem, self.remedies = argument, problem, tuple(remedies)
        self.verb, self.joiner, self.brief = verb, joiner, brief
        super().__init__(self.said())

    def said(self, fix: str | None = None, *, where: str = "", argument: str | None = None) -> str:
        """The refusal as one message, ``argument: problem (where). Fix: fix.``, as each host words it: ``fix`` in
        its own terms (None: :meth:`fix`'s for every caller, the Python API's ``str()``; "": no ``Fix:`` part),
        ``where`` what the refused values are in its terms (``the weighted sum of the reward functions, at
        global step 7``; "": nothing), ``argument`` the argument as it names it (None: :attr:`argument`)."""
        argument = self.argument if argument is None else argument
        said = (f"{argument}: {self.problem}" if argument else self.problem) + (f" ({where})" if where else "")
        fix = self.fix() if fix is None else fix
        return f"{said}. Fix: {fix}." if fix else f"{said}."

    def reworded(self, **parts: Any) -> FixError:
        """This refusal with some of its parts (``argument``, ``problem``, ``remedies``, ``verb``, ``joiner``,
        ``brief``) replaced, of the same type: a host that re-raises it in its own terms keeps what it is (an
        :class:`OutOfRange` keeps its ``seen`` and ``allowed`` values). A new ``problem`` without a new ``brief``
        drops the old brief (:meth:`headline` is then the new problem, not a summary of the old one)."""
        unknown = sorted(set(parts) - {"argument", "problem", "remedies", "verb", "joiner", "brief"})
        if unknown:
            raise TypeError(f"reworded: {unknown[0]!r} is not a part of a FixError")
        if "problem" in parts:
            parts.setdefault("brief", "")
        return _rebuilt(type(self), {**self.__dict__, **parts})

    def fix(self, form: str = "any", write: Callable[[Remedy], str | None] | None = None) -> str:
        """The fix for a host: ``"any"`` (every caller: each remedy with ``(treecredit train: CLI)`` after it),
        ``"python"`` (Python callers: without the command-line forms) or ``"cli"`` (the command line's forms,
        a remedy without one as written for Python). ``write``: the host's own wording of a remedy (None: the
        form's), e.g. ``treecredit compare``'s arm syntax for a branching."""
        def one(remedy: Remedy) -> str:
            own = write(remedy) if write is not None else None
            if own is not None:
                return own
            if form == "cli":
                return remedy.cli or remedy.python
            return remedy.python + (f" (treecredit train: {remedy.cli})" if remedy.cli and form == "any" else "")

        return (f"{self.verb} " if self.verb else "") + self.joiner.join(one(r) for r in self.remedies)

    def headline(self) -> str:
        """``argument: brief`` for a one-line summary; without a :attr:`brief`, the problem's first clause
        (:func:`first_clause`), so that the same refusal with other figures reads the same."""
        brief = self.brief or first_clause(self.problem)
        return f"{self.argument}: {brief}" if self.argument else brief

    @classmethod
    def of(cls, error: Exception, default: str = "") -> FixError:
        """``error`` as a :class:`FixError`: itself when it is one, else its message in the standard shape
        (an own estimator's plain ``ValueError("rewards: ... Fix: ...")``) with its fix as one remedy
        (``default`` when it has none)."""
        if isinstance(error, FixError):
            return error
        problem, fix = split_fix(str(error))
        argument, sep, rest = problem.partition(": ")
        return FixError(argument if sep else "", rest if sep else problem, (Remedy(fix or default),), verb="")

    @property
    def settings(self) -> list[tuple[str, Any]]:
        """Every remedy's option settings, ``(name, value)``, in order."""
        return [setting for remedy in self.remedies for setting in remedy.settings]

    def __reduce__(self):  # picklable with its parts (compare's worker processes)
        return _rebuilt, (type(self), self.__dict__)


class OutOfRange(FixError):
    """A :class:`FixError` refusing values outside the range ``allowed`` ``(low, high)`` that the caller's
    estimator needs (TreeRPO's ``scale="bernoulli"``: rewards in [0, 1]); ``seen``: the refused values'
    ``(min, max)``."""

    def __init__(self, argument: str, problem: str, remedies: tuple, *, seen: tuple[float, float],
                 allowed: tuple[float, float] = (0.0, 1.0), **kwargs):
        self.seen, self.allowed = seen, allowed
        super().__init__(argument, problem, remedies, **kwargs)


def _rebuilt(cls: type[FixError], state: dict) -> FixError:
    error = cls.__new__(cls)
    error.__dict__.update(state)
    if "remedies" in state:
        error.remedies = tuple(state["remedies"])
    ValueError.__init__(error, error.said())
    return error


def split_fix(message: str) -> tuple[str, str]:
    """``(problem, fix)`` of an error ``message`` shaped as :func:`fail` writes it (``"argument: problem. Fix:
    fix."``), without the final periods: ``problem`` keeps the ``argument: `` part, and ``fix`` is ``""`` when the
    message has no ``. Fix: `` part (then ``problem`` is the whole message)."""
    problem, _, fix = message.rstrip(".").partition(". Fix: ")
    return problem, fix


def to_numpy(value: Any, argument: str) -> np.ndarray:
    """Return ``value`` as a NumPy array (torch tensors are moved to the CPU, lists converted)."""
    if value is None:
        fail(argument, "is required but was None", f"pass an array for {argument}")
    if hasattr(value, "detach") and hasattr(value, "cpu"):  # a torch tensor, without importing torch
        tensor = value.detach().cpu()
        if tensor.is_floating_point() and str(tensor.dtype) in _TORCH_UPCAST:  # NumPy has no bfloat16
            tensor = tensor.float()
        return tensor.numpy()
    try:
        return np.asarray(value)
    except Exception as exc:  # ragged lists and the like
        fail(argument, f"cannot be read as an array ({exc})", "pass a rectangular array or tensor")


def check_ndim(array: np.ndarray, ndim: int, argument: str, shape_name: str) -> None:
    if array.ndim != ndim:
        fail(argument, f"has shape {tuple(array.shape)}, expected {shape_name}",
             f"pass a {ndim}-D array of shape {shape_name}")


def check_shape(array: np.ndarray, shape: tuple[int, ...], argument: str, shape_name: str) -> None:
    if tuple(array.shape) != tuple(shape):
        fail(argument, f"has shape {tuple(array.shape)}, expected {shape_name} = {tuple(shape)}",
             f"give {argument} one entry per {shape_name}")


def check_integer(array: np.ndarray, argument: str) -> None:
    if array.size and not (np.issubdtype(array.dtype, np.integer) or array.dtype == np.bool_):
        fail(argument, f"has dtype {array.dtype}, expected integers", f"cast {argument} to an integer dtype")


def as_int64(array: np.ndarray, argument: str) -> np.ndarray:
    """``array`` (integers or bool) as int64, refusing unsigned values that int64 cannot hold (they would wrap
    to negative numbers, onto padding markers)."""
    if array.dtype.kind == "u" and array.dtype.itemsize >= 8 and array.size and array.max() > INT64_MAX:
        fail(argument, f"contains values up to {int(array.max())}, beyond int64 (max 2**63 - 1)",
             f"map {argument} to a dense range first, e.g. np.unique({argument}, return_inverse=True)[1]")
    return array.astype(np.int64, copy=False)


def check_non_negative(array: np.ndarray, argument: str) -> None:
    if array.size and array.min() < 0:
        fail(argument, f"contains negative values (min {array.min()})",
             f"use non-negative ids in {argument} (padding belongs in the mask, not in the ids)")


def check_finite(array: np.ndarray, argument: str) -> None:
    """Refuse non-numeric, complex, NaN or infinite values, naming ``argument``."""
    if not np.issubdtype(array.dtype, np.number) and array.dtype != np.bool_:
        fail(argument, f"has dtype {array.dtype}, expected numbers", f"pass numeric {argument}")
    if array.dtype.kind == "c":
        fail(argument, f"has dtype {array.dtype}, expected real numbers",
             f"pass real {argument} (e.g. the real part or the magnitude, whichever your reward means)")
    if array.size and not np.isfinite(array).all():
        bad = np.flatnonzero(~np.isfinite(array.reshape(-1)))[:5].tolist()
        fail(argument, f"contains NaN or infinite values (flat positions {bad})",
             f"replace non-finite {argument} before computing advantages")


def check_binary_mask(array: np.ndarray, argument: str) -> np.ndarray:
    """Return ``array`` as bool after checking that every entry is 0 or 1."""
    if array.dtype == np.bool_:
        return array
    if np.issubdtype(array.dtype, np.integer):
        only_binary = array.size == 0 or (array.min() >= 0 and array.max() <= 1)  # two passes, no temporaries
    else:
        only_binary = bool(((array == 0) | (array == 1)).all())
    if not only_binary:
        odd = array[(array != 0) & (array != 1)].ravel()[0]
        ones = _ONES.get(argument, "trained tokens")
        fail(argument, f"must contain only 0 and 1 (found {odd.item()!r})",
             f"build {argument} with 1 on {ones}, 0 elsewhere")
    return array.astype(bool)


_ONES = {"step_ends": "the token that ends each step"}
"""What a 1 marks in a 0/1 array other than a response mask (whose 1s are the trained tokens)."""


def did_you_mean(name: Any, known, cutoff: float = 0.6) -> str:
    """``" (did you mean 'x'?)"`` for the closest of ``known`` to a misspelt ``name``, else ``""``."""
    import difflib

    close = difflib.get_close_matches(str(name), [str(k) for k in known], n=1, cutoff=cutoff)
    return f" (did you mean {close[0]!r}?)" if close else ""


def check_choice(value: Any, choices: tuple, argument: str) -> None:
    if not isinstance(value, (str, int, float)) or value not in choices:
        fail(argument, f"is {value!r}, not one of {list(choices)}", f"pass one of {list(choices)}")


def check_number(value: Any, argument: str) -> float:
    """``value`` as a float: a real number (Python, NumPy or a 0-d array), not a bool or a string."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value.item()
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, float, np.integer, np.floating)):
        fail(argument, f"is {type(value).__name__} {value!r}, expected a real number",
             f"pass a number for {argument}, e.g. {argument}=1.0")
    return float(value)


def check_flag(value: Any, argument: str) -> bool:
    """``value`` as a bool: True/False (Python or NumPy) only, so that strings such as "no" are refused."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        value = value.item()
    if not isinstance(value, (bool, np.bool_)):
        fail(argument, f"is {type(value).__name__} {value!r}, expected True or False",
             f"pass {argument}=True or {argument}=False")
    return bool(value)


def check_positive(value: float, argument: str, *, allow_zero: bool = False) -> None:
    value = check_number(value, argument)
    ok = value >= 0 if allow_zero else value > 0
    if not ok or not np.isfinite(value):
        bound = "non-negative" if allow_zero else "positive"
        fail(argument, f"is {value!r}, must be a finite {bound} number", f"pass a {bound} {argument}")
