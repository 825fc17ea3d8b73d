"""What the hosts (TRL, verl) share about estimators: :func:`host_estimator` (the estimators a host can run).

An estimator's fix reaches each host as parts (:class:`~treecredit._validation.FixError`: its option settings,
its Python and command-line forms), which each integration writes in its own terms (TRL:
``estimator_options={...}``; verl: ``+algorithm.treecredit_options.NAME=VALUE``). Only TreeCreditGRPOTrainer's
per-batch step still hands over the fix's text (``treecredit.integrations.trl``), read back here by
:func:`is_range_error`, :func:`option_settings` and :func:`without_cli_forms` until it passes the error.
"""

from __future__ import annotations

import ast
import re
from typing import Any

_CLI_FORMS = re.compile(r"\s*\(treecredit [^)]*\)")
_SETTING = re.compile(r"\b(\w+)=('[^']*'|\"[^\"]*\"|[\w.+-]+)")


def without_cli_forms(fix: str) -> str:
    """``fix``'s text without its parenthesised forms for treecredit's CLI (``(treecredit train: --flag ...)``);
    a :class:`~treecredit._validation.FixError` gives it as ``fix("python")``."""
    return _CLI_FORMS.sub("", fix)


def option_settings(fix: str, accepted) -> list[tuple[str, Any]]:
    """The ``NAME=VALUE`` settings of options in ``accepted`` that ``fix``'s text names (outside its CLI forms),
    in order, each value read as a Python literal (``scale='std'`` → ``("scale", "std")``); a
    :class:`~treecredit._validation.FixError` gives them as ``settings``."""
    settings = []
    for name, value in _SETTING.findall(without_cli_forms(fix)):
        if name in accepted:
            try:
                settings.append((name, ast.literal_eval(value)))
            except (ValueError, SyntaxError):
                continue
    return settings


def is_range_error(problem: str, fix: str) -> bool:
    """Whether an estimator's error, as text (``problem``, ``fix``: :func:`~treecredit._validation.split_fix`),
    refuses rewards outside [0, 1] and says how to lift that (TreeRPO's ``scale="bernoulli"``); an error object
    says so by being an :class:`~treecredit._validation.OutOfRange` of ``rewards``."""
    return problem.startswith("rewards:") and "[0, 1]" in problem and bool(fix)


def host_estimator(name: Any):
    """:func:`~treecredit.registry.get_estimator` for a host trainer (TRL, verl): an unknown name's list of
    known ones leaves out the estimators that need Monte Carlo values (``vine``), which no host can give."""
    from treecredit._validation import split_fix
    from treecredit.registry import estimators, get_estimator

    try:
        return get_estimator(name)
    except ValueError as error:
        problem, fix = split_fix(str(error))
        if not fix.startswith("use one of: "):
            raise
        usable = [n for n in estimators("token")
                  if not any("mc_values" in need.split("|") for need in get_estimator(n).requires)]
        raise ValueError(f"{problem}. Fix: use one of: {', '.join(usable)}.") from None
