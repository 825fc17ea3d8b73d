"""Whether a batch has steps: :func:`warn_if_no_steps` warns a host when a step estimator would see no step
boundary in a whole batch (every response one step), and remembers the step ends it checked so that
:func:`treecredit.compute_advantages` does not warn about them again (:func:`checked_by_host`); a host says
how its users give steps as text (:func:`host_step_text`), which the advice then quotes.

Split from :mod:`treecredit.step_text` (which finds the step ends in text and re-exports these names).
"""

from __future__ import annotations

import contextlib
import contextvars
import warnings
from typing import Any, Callable

import numpy as np

from treecredit._validation import to_numpy
from treecredit.token_rows import row_lengths

NO_STEPS = "no step boundary"
"""The key of :func:`warn_if_no_steps`'s warning in a run's ``shown`` set."""
_TAIL = 80  # characters of a sample response that warn_if_no_steps quotes
_CHECKED: list = [None]  # the step ends warn_if_no_steps was last given: (T, one digest per row), or None
_HOST_STEP_TEXT: contextvars.ContextVar = contextvars.ContextVar("treecredit_host_step_text", default=None)


@contextlib.contextmanager
def host_step_text(how: str):
    """While inside, :func:`warn_if_no_steps`' advice for a token-id delimiter that found no step says how this
    host gives steps as text (``how``, e.g. TRL's ``pass step_pattern='\\n\\n' to the trainer``), not
    :func:`~treecredit.step_text.step_ends_from_text`, which a user of the host does not call."""
    token = _HOST_STEP_TEXT.set(how)
    try:
        yield
    finally:
        _HOST_STEP_TEXT.reset(token)


def steps_as_text(default: str) -> str:
    """How the user gives steps as text, for a fix: the host's way while inside :func:`host_step_text` (e.g. TRL's
    ``pass step_pattern='\\n\\n' to TreeCreditGRPOTrainer ...``), else ``default`` (the Python call)."""
    return _HOST_STEP_TEXT.get() or default


def _row_digests(ends: np.ndarray) -> tuple[int, list[bytes]]:
    """``(T, rows)``: the width of the ``(B, T)`` step ends and each row's 0/1 pattern, packed."""
    return ends.shape[1], [row.tobytes() for row in np.packbits(ends.astype(bool), axis=1)]


def checked_by_host(step_ends: Any) -> bool:
    """Whether ``step_ends`` are the step ends :func:`warn_if_no_steps` was last given, all their rows or some
    of them in order (a host, such as TRL's trainer, leaves out the rows of completions no reward function
    scored before it computes the advantages): the host checked them, and
    :func:`treecredit.compute_advantages` does not warn about them a second time. Keyed by the rows'
    contents, not the object, and used once: the record is dropped by this call, so a later batch is checked
    again."""
    record, _CHECKED[0] = _CHECKED[0], None
    if record is None or step_ends is None:
        return False
    try:
        ends = to_numpy(step_ends, "step_ends")
    except (TypeError, ValueError):
        return False
    if ends.ndim != 2 or ends.shape[1] != record[0]:
        return False
    remaining = iter(record[1])  # each row must come after the previous one's match: rows left out, not reordered
    return all(row in remaining for row in _row_digests(ends)[1])


def works_on_steps(spec) -> bool:
    """Whether the estimator ``spec`` works on steps: it declares ``steps`` in its ``requires`` or accepts a
    ``step_ends`` option (``grpo``, ``rloo`` do neither)."""
    return spec.needs("steps") or "step_ends" in spec.options


def warn_if_no_steps(estimator: str, step_ends: Any, response_mask: Any = None, *, source: str = "",
                     fix: str = "", pattern: Any = None, sample: str | Callable[[], str | None] | None = None,
                     shown: set | None = None) -> bool:
    """Warn (``UserWarning``) when ``estimator`` works on steps and ``step_ends`` has none in the whole batch.

    "None" means no step end before any row's last token: then every response is one step and a step
    estimator degenerates to its sequence-level form, which is what a delimiter that never matches (BPE
    ids) silently produces. An estimator works on steps when it declares ``steps`` in its ``requires``
    or accepts a ``step_ends`` option; others (``grpo``, ``rloo``) are not checked. Hosts call it on the
    step ends they are about to pass; :func:`treecredit.compute_advantages` then does not warn about them again,
    nor about the rows of them a host keeps (:func:`checked_by_host`).

    Args:
        estimator: a token-level estimator name.
        step_ends: ``(B, T)`` 0/1 step ends (as from :func:`~treecredit.step_text.step_ends_from_text`), or None
            (no steps).
        response_mask: optional ``(B, T)`` 0/1 mask giving each row's length (all T tokens without it).
        source: where the steps came from, for the message (e.g. ``"pattern '\\n\\n'"``).
        fix: the host's own fix (e.g. its CLI option), which then replaces the general advice about token-id
            delimiters and ``step_ends_from_text`` (a host that already finds steps in text).
        pattern: the text pattern the steps came from (as given to
            :func:`~treecredit.step_text.step_ends_from_text`), when they came from text: the advice is then about
            the pattern (check it against the completions, or loosen it), not about token ids.
        sample: the decoded text of one response of the batch (with ``pattern``), or a function giving it
            (called only when warning, e.g. :func:`~treecredit.step_text.first_response_text`); its tail is
            quoted, so the message shows what the completions write where the pattern found nothing (with ``fix``
            too).
        shown: a run's set of warnings given: the warning is given once per set (Python's own once-only
            filters forget what they showed whenever any code changes the warning filters).

    Returns:
        True when it warned.
    """
    from treecredit.registry import get_estimator

    ends = None if step_ends is None else to_numpy(step_ends, "step_ends").astype(bool)
    _CHECKED[0] = _row_digests(ends) if ends is not None and ends.ndim == 2 else None
    spec = get_estimator(estimator)
    if not works_on_steps(spec):
        return False
    if shown is not None and NO_STEPS in shown:
        return False
    interior = False
    if ends is not None:
        T = ends.shape[1]
        lengths = row_lengths(response_mask, ends.shape)
        interior = bool((ends & (np.arange(T)[None, :] < (lengths[:, None] - 1))).any())
    if interior:
        return False
    where = f" from {source}" if source else ""
    quoted = ""
    if fix or pattern is not None:
        text = sample() if callable(sample) else sample
        if text is not None:
            quoted = f" (the first one ends with {'...' if len(text) > _TAIL else ''}{text[-_TAIL:]!r})"
    if fix:
        advice = f"The responses{quoted} write no step end. Fix: {fix}." if quoted else f"Fix: {fix}."
    elif pattern is not None:
        advice = (f"The pattern {pattern!r} matched nowhere before a response's last token: check it against the "
                  f"completions{quoted}, and give the text they write between steps, or a looser pattern "
                  "(a list of delimiters, or a regex such as re.compile(r'\\n+') for any line break).")
    else:
        how = _HOST_STEP_TEXT.get() or "treecredit.step_ends_from_text(ids, tokenizer, '\\n\\n')"
        advice = (f"A delimiter given as token ids rarely matches BPE text; give the steps as text ({how}) or check "
                  "the pattern.")
    warnings.warn(f"{estimator}: no step boundary{where} in any response of this batch, so every response is "
                  f"one step. {advice}", UserWarning, stacklevel=2)
    if shown is not None:
        shown.add(NO_STEPS)
    return True
