"""Samplers by name, so the trainer can use any of them: ``make_sampler("iid", temperature=1.0, ...)``.

A sampler is a class whose instances have ``sample(policy, task, problems, group_size, generator) ->
RolloutBatch`` and whose constructor takes ``temperature``, ``top_p``, ``max_new_tokens`` plus its own
options. Built-in samplers living in modules that may not exist yet (the tree sampler) are imported on
first use.
"""

from __future__ import annotations

import importlib
from contextlib import contextmanager

from treecredit._validation import FixError, Remedy, fail

_SAMPLERS: dict[str, type] = {}
_LAZY_MODULES = ("treecredit.sampling.iid", "treecredit.sampling.tree")


def register_sampler(name: str):
    """Class decorator registering a sampler under ``name``; a taken name is refused."""

    def decorate(cls: type) -> type:
        if name in _SAMPLERS and _SAMPLERS[name] is not cls:
            fail("name", f"sampler {name!r} is already registered", "choose another name")
        _SAMPLERS[name] = cls
        return cls

    return decorate


def _load_builtin() -> None:
    for module in _LAZY_MODULES:
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:  # a missing dependency inside an existing module is a real error
                raise


def samplers() -> list[str]:
    """Names of the registered samplers, sorted."""
    _load_builtin()
    return sorted(_SAMPLERS)


def make_sampler(name: str, **options):
    """An instance of the sampler registered as ``name``, built with ``options``."""
    _load_builtin()
    if name not in _SAMPLERS:
        fail("sampler", f"unknown sampler {name!r}", f"use one of {sorted(_SAMPLERS)}")
    return _SAMPLERS[name](**options)


@contextmanager
def command_line_errors(name: str, options: dict):
    """For ``treecredit train``: re-raise a :class:`~treecredit._validation.FixError` from building sampler
    ``name`` with its fix in the command line's form (``pass --sampler-option schedule=auto`` for a Python
    caller's ``schedule='auto'``), its parts and type kept, and one about an option of ``options`` (``schedule: is
    ...``) naming the ``--sampler-option`` that set it (the ``FixError`` is then its ``__cause__``)."""
    from treecredit.training.config import option_flag_named

    with option_flag_named(options, "sampler_options", "--sampler-option", f"sampler {name!r}"):
        try:
            yield
        except FixError as error:
            if not any(remedy.cli for remedy in error.remedies):
                raise
            remedies = tuple(Remedy(remedy.cli or remedy.python, settings=remedy.settings) for remedy in error.remedies)
            raise error.reworded(remedies=remedies) from error  # its type kept (an OutOfRange: its values)
