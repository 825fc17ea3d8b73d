"""How the command shows treecredit's own warnings: ``warning: <message>``, one line.

Used by the ``treecredit`` command (:mod:`treecredit.cli`) and by ``compare``'s worker processes
(:mod:`treecredit.training.compare`); ``import treecredit`` never installs it.
"""

from __future__ import annotations

import os

_PACKAGE = os.path.dirname(os.path.abspath(__file__)) + os.sep  # treecredit's own files


def from_treecredit(filename: str) -> bool:
    """Whether a warning raised in ``filename`` is treecredit's own (shown, and logged, as ``warning: <message>``)."""
    return os.path.abspath(filename).startswith(_PACKAGE)


def show_warnings_plainly() -> None:
    """Show treecredit's own warnings as ``warning: <message>`` (no file path, line number or source line,
    which tell a command-line user nothing); other packages' warnings keep Python's format. Installed by
    the command (and in ``compare``'s worker processes), never by ``import treecredit``. Calling it again
    changes nothing."""
    import warnings

    if getattr(warnings.formatwarning, "treecredit_plain", False):
        return
    python_format = warnings.formatwarning

    def formatwarning(message, category, filename, lineno, line=None):
        if from_treecredit(filename):
            return f"warning: {message}\n"
        return python_format(message, category, filename, lineno, line)

    formatwarning.treecredit_plain = True  # type: ignore[attr-defined]
    warnings.formatwarning = formatwarning


def shown_plainly() -> bool:
    """Whether :func:`show_warnings_plainly` is installed in this process."""
    import warnings

    return bool(getattr(warnings.formatwarning, "treecredit_plain", False))
