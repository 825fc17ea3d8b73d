"""What the hosts (TRL, verl) share about estimators: :func:`host_estimator` (the estimators a host can run).

An estimator's fix reaches each host as parts (:class:`~treecredit._validation.FixError`: its option settings,
its Python and command-line forms), which each integration writes in its own terms (TRL:
``estimator_options={...}``; verl: ``+algorithm.treecredit_options.NAME=VALUE``).
"""

from __future__ import annotations

from typing import Any


def host_estimator(name: Any):
    """:func:`~treecredit.registry.get_estimator` for a host trainer (TRL, verl): an unknown name's list of
    known ones leaves out the estimators that need Monte Carlo values (``vine``), which no host can give."""
    from treecredit._validation import Remedy
    from treecredit.registry import UnknownEstimator, get_estimator

    try:
        return get_estimator(name)
    except UnknownEstimator as error:
        usable = [n for n in error.known if not get_estimator(n).needs("mc_values")]
        raise error.reworded(remedies=(Remedy(f"use one of: {', '.join(usable)}"),)) from None
