"""Optional shells that put treecredit's estimators inside other trainers (TRL, verl).

Each integration only converts its trainer's batch layout and calls
:func:`treecredit.compute_advantages`. Nothing here is imported by ``import treecredit``; the
availability checks below look the packages up without importing them.

- ``treecredit.integrations.trl``: ``TreeCreditGRPOTrainer``, a TRL ``GRPOTrainer`` whose loss sees
  per-token advantages (extra ``trl``).
- ``treecredit.integrations.verl``: registers ``treecredit_<name>`` in verl's advantage-estimator
  registry (extra ``verl``).
"""

from __future__ import annotations

import importlib.util

__all__ = ["is_trl_available", "is_verl_available"]


def _has_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # a broken or half-installed package counts as absent
        return False


def is_trl_available() -> bool:
    """Whether ``trl`` can be imported (checked without importing it)."""
    return _has_module("trl")


def is_verl_available() -> bool:
    """Whether ``verl`` can be imported (checked without importing it)."""
    return _has_module("verl")
