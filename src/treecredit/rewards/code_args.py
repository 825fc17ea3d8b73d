"""The ``code`` reward's arguments, checked before any program runs.

TRL-style reward functions receive each dataset column as a list with one value per completion, so ``test``
and ``entry_point`` (or the column ``entry_point_column`` names) must be such lists: a string would be read one
character per completion (``test="def check..."`` gave row 0 the tests ``"d"``; ``entry_point="add"`` the name
``"a"``), and a list shorter than ``completions`` left the rest unscored (None); until 2026-12-03 each was read
silently. Each is now a :class:`~treecredit._validation.FixError` naming the argument and the fix, as are a
``timeout`` that is not a number of seconds in (0, 86400] (a string raised Python's "could not convert string
to float") and a
``plain_results`` that is not a bool (``"false"`` was read as True), an entry point that is a keyword
(``"class"``), and a completion that is neither text nor a list of messages (``None``, ``3``, a bare message
dict: each scored 0.0 silently). numpy's numbers are numbers (``timeout=np.int64(3)``). ``completions``
itself is checked first (:func:`completion_list`): until 2026-12-03 a string there was read one completion
per character. A row's tests and entry point that are a ``str`` subclass (numpy's ``np.str_``) are taken as
plain ``str`` (:func:`check_rows`); a missing value as pandas writes it (NaN, ``pd.NA``) is a row without tests
or entry point, as None is (until 2026-12-03 a NaN refused the whole batch). A call where no row has tests while
a column ``tests``, ``test_list`` or ``test_cases`` holds them is refused naming ``test`` and that column
(:func:`refuse_misnamed_tests`; until 2026-12-03 every row was unscored, None, without a word): MBPP's
``test_list`` (a list of asserts) is not read as the tests by itself, since the ``test`` column is the one read
and a list of asserts there is refused with the ``'\\n'.join`` fix; the fix here says the same (where only some
rows lack ``test``, a warning names the column instead). Each message
shows the value by :func:`show`, so an int too long to print (``workers=-10**5000``) is refused as any other.
"""

from __future__ import annotations

import keyword
import math
import numbers

from treecredit._validation import FixError, Remedy


def completion_list(completions) -> list:
    """``completions`` as a list (one completion a row), checked first: the other arguments' lengths are
    measured against it.

    Raises:
        FixError: naming ``completions``: a ``str``/``bytes`` (until 2026-12-03 it was read one completion per
            character: the error blamed ``prompts``, or a 3-character string with 3 prompts was scored), or
            something that is not a sequence.
    """
    if isinstance(completions, (str, bytes)):
        shown = repr(completions[:40]) + ("..." if len(completions) > 40 else "")
        raise FixError("completions", f"is one {type(completions).__name__} ({shown}), not a list with one "
                       "completion per row (a string would be read one character per completion)",
                       (Remedy("completions=[completion] for one completion"),))
    out = _as_list("completions", completions)
    for i, completion in enumerate(out):
        check_completion(completion, i)
    return out


def check_completion(completion, i: int) -> None:
    """A completion is text, or a conversation: a list of messages (dicts with ``"content"``, TRL's
    conversational format).

    Raises:
        FixError: naming ``completions``, for row ``i``: ``None``, a number, a bare message (a dict, not a
            list of messages), or a list that is not of messages (until 2026-12-03 each scored 0.0 without a
            word: it was read as the text ``'None'``, ``'3'``, or no text).
    """
    if isinstance(completion, str):
        return
    if isinstance(completion, (list, tuple)) and completion and all(
            isinstance(m, dict) and "content" in m for m in completion):
        return
    shown = show(completion, 80)
    if isinstance(completion, dict):
        raise FixError("completions", f"row {i}'s completion is one message ({shown}), not text or a list of "
                       "messages (a conversation)",
                       (Remedy("completions=[[message] for message in completions] (each a list of messages)"),))
    raise FixError("completions", f"row {i}'s completion is {type(completion).__name__} {shown}, not text or a "
                   "list of messages ({'role': ..., 'content': ...}, a conversation)",
                   (Remedy("completions=[<the completion's text>, ...] (one per row)"),))


def per_completion(argument: str, values, n: int) -> list:
    """``values`` (one per completion; None: none given) as a list of ``n``, or a refusal naming ``argument``.

    Raises:
        FixError: a ``str``/``bytes`` (one value for all rows is not read as such: say it per completion),
            something that is not a sequence, or a length other than ``n``.
    """
    if values is None:
        return [None] * n
    if isinstance(values, (str, bytes)):
        shown = repr(values[:40]) + ("..." if len(values) > 40 else "")
        raise FixError(argument, f"is one {type(values).__name__} ({shown}), not a list with one value per "
                       f"completion (a reward function gets each dataset column as such a list; a string would "
                       f"be read one character per completion)",
                       (Remedy(f"{argument}=[value] * len(completions) for the same value on every row"),
                        Remedy(f"{argument}=<the dataset column: one value per completion>")))
    out = _as_list(argument, values)
    if len(out) != n:
        raise FixError(argument, f"has {len(out)} values for {n} completions (one per completion, in the order of "
                       "completions; a shorter list would leave the rest unscored)",
                       (Remedy(f"{argument}=[...] with {n} values, one per completion"),))
    return out


def _as_list(argument: str, values) -> list:
    try:
        return list(values)
    except TypeError:
        raise FixError(argument, f"is a {type(values).__name__}, not a list with one value per completion",
                       (Remedy(f"{argument}=[...] with one value per completion"),)) from None


def check_rows(tests: list, entries: list, entry_argument: str) -> tuple[list, list]:
    """Each row's tests are None or source text, and its entry point None, "" or a Python name.

    Returns:
        ``(tests, entries)`` with each text an exact ``str``: a ``str`` subclass (numpy's ``np.str_``, from
        ``np.array([...])`` or a pandas column) is its plain text. Until 2026-12-03 it went on as it was, and its
        ``repr`` (``np.str_('sq')``) pasted into the sandbox's boot code made every program fail with
        ``NameError: name 'np' is not defined``, silently scoring 0.

    Raises:
        FixError: naming ``test`` (a row's value is a list of asserts, say: MBPP's ``test_list``) or
            ``entry_argument`` (a row's value is not a Python name).
    """
    tests, entries = [_missing(t) for t in tests], [_missing(e) for e in entries]
    for i, test in enumerate(tests):
        if test is not None and not isinstance(test, str):
            listed = isinstance(test, (list, tuple)) and all(isinstance(t, str) for t in test)
            raise FixError("test", f"row {i}'s tests are a {type(test).__name__} ({show(test)}), not the "
                           "tests' source text", (Remedy("test=['\\n'.join(t) for t in rows] (one text per row)")
                                                  if listed else Remedy("test=[<the tests' source text>, ...]"),))
    for i, entry in enumerate(entries):
        if entry is not None and entry != "" and not (isinstance(entry, str) and entry.isidentifier()):
            raise FixError(entry_argument, f"row {i}'s value {show(entry)} is not a Python name (the tested function's "
                           "name)", (Remedy(f"{entry_argument}=[<function name>, ...], one per completion"),))
        if isinstance(entry, str) and (keyword.iskeyword(entry) or entry in ("None", "True", "False")):
            raise FixError(entry_argument, f"row {i}'s value {entry!r} is a Python keyword, not a function's name "
                           "(no program can define it)",
                           (Remedy(f"{entry_argument}=[<function name>, ...], one per completion"),))
    return [_exact(t) for t in tests], [_exact(e) for e in entries]


def _missing(value):
    """None for a missing value as pandas writes it (a float NaN, numpy's too, or ``pd.NA``), else ``value``: a
    row without tests is not scored (None), as with None. Until 2026-12-03 a NaN was refused for the whole batch
    as "tests are a float ('nan')" (review37 9)."""
    if isinstance(value, float) and value != value or type(value).__name__ == "NAType":
        return None
    if isinstance(value, numbers.Real) and not isinstance(value, (bool, numbers.Integral)):
        try:
            return None if math.isnan(value) else value
        except (TypeError, ValueError, OverflowError):
            return value
    return value


TEST_COLUMNS = ("tests", "test_list", "test_cases")
"""Columns that hold a row's tests under another name than ``test`` (MBPP's ``test_list``: a list of asserts)."""


def refuse_misnamed_tests(tests: list, columns: dict) -> None:
    """Refuse a call where no row has tests (``test`` not given, or None on every row) while a column of
    :data:`TEST_COLUMNS` holds them: every row would be unscored (None) without a word (review37 9:
    ``code_reward(P, C, tests=[...])``, or an MBPP dataset's ``test_list``). MBPP's lists of asserts are not read
    as tests on their own: the ``test`` column is the one read, and a list of asserts there is refused with the
    ``'\\n'.join`` fix (:func:`check_rows`), so the fix is the same here. Where only some rows lack ``test`` and
    such a column holds a value on one of them (two datasets joined, say), the others are scored as they are, and
    a ``UserWarning`` names the column and the fix (fixC of 2026-12-03: those rows were unscored without a word).

    Raises:
        FixError: naming ``test`` and the column, with the fix (rename it, or join its asserts into ``test``).
    """
    lacking = [i for i, t in enumerate(tests) if t is None]
    if not lacking:
        return
    for name in TEST_COLUMNS:
        values = columns.get(name)
        if isinstance(values, (str, bytes)) or values is None:
            continue
        try:
            held = [_missing(v) for v in values]
        except TypeError:
            continue
        on = [i for i in lacking if i < len(held) and held[i] is not None]
        if not on:
            continue
        first = held[on[0]]
        if len(lacking) < len(tests):
            _warn_misnamed(name, first)
            return
        if isinstance(first, str):
            remedies = (Remedy(f"test={name} (code_reward(..., test=<the {name!r} column>))"),
                        Remedy(f"rename the dataset's column: dataset.rename_column({name!r}, 'test')"))
        elif isinstance(first, (list, tuple)) and all(isinstance(t, str) for t in first):  # (MBPP's test_list)
            remedies = (Remedy(f"use dataset.map(lambda row: {{'test': '\\n'.join(row[{name!r}])}}) (one text of "
                               "asserts per row, in the column 'test')"),)
        else:  # (input/output pairs, say: not Python source)
            remedies = (Remedy("put each row's tests, as Python source text (asserts, check(candidate) or a "
                               "unittest.TestCase), in the column 'test'"),)
        raise FixError("test", f"no row has tests (the code reward reads them from the column 'test'), but the "
                       f"column {name!r} holds them ({type(first).__name__} {show(first)} on a row): every "
                       "row would be unscored (None)", remedies,
                       verb="" if remedies[0].python.startswith(("use", "put")) else "pass",
                       brief="tests under another column name")


def _warn_misnamed(name: str, first) -> None:
    """Say that rows without ``test`` are left unscored while column ``name`` holds ``first`` on one of them (the
    text is the same on every call, so Python's default filter shows it once)."""
    import warnings

    if isinstance(first, (list, tuple)) and all(isinstance(t, str) for t in first):
        fix = (f"dataset.map(lambda row: {{'test': row['test'] or '\\n'.join(row[{name!r}])}}) (one text of "
               "asserts per row)")
    elif isinstance(first, str):
        fix = f"dataset.map(lambda row: {{'test': row['test'] or row[{name!r}]}})"
    else:
        fix = "put each row's tests, as Python source text, in the column 'test'"
    warnings.warn(f"reward code: some rows have no tests in the column 'test' and are left unscored (None), while "
                  f"the column {name!r} holds values on those rows; if those are their tests, fill 'test' from it: "
                  f"{fix}", UserWarning, stacklevel=3)


def _exact(value):
    """``value`` as an exact ``str`` when it is a ``str`` subclass; otherwise itself."""
    return str.__str__(value) if isinstance(value, str) and type(value) is not str else value


def check_prompt(text: str, i: int) -> None:
    """Row ``i``'s prompt text (a conversation's user messages joined) holds no lone surrogate (``'\\udcff'``, what
    ``errors='surrogateescape'`` leaves of bytes that are not UTF-8) where it is code: a code prompt starts the
    program (HumanEval's signature), and a program file cannot hold one (UTF-8). Until 2026-12-03 such a prompt did
    not parse, was taken for an instruction, and every continuation scored 0.0 without a word. A lone surrogate in
    a completion is that program's failure alone (:func:`treecredit.sandbox.run_boot`); in an instruction prompt,
    which is never part of the program, it does nothing.

    Raises:
        FixError: naming ``prompts`` and the row, with the character's place.
    """
    try:
        text.encode("utf-8")
        return
    except UnicodeEncodeError as error:
        at = error.start
    from treecredit.rewards.code import code_prompt

    if code_prompt(text.encode("utf-8", "replace").decode("utf-8")) is None:
        return  # (an instruction: never part of the program)
    raise FixError("prompts", f"row {i}'s prompt holds a lone surrogate ({text[at]!r} at character {at}, near "
                   f"{text[max(0, at - 20):at]!r}), which no program file can hold (UTF-8); the prompt is code, the "
                   "start of each completion's program, so every completion would score 0.0",
                   (Remedy("mend the row's text (bytes decoded with errors='surrogateescape'?), e.g. "
                           "prompt.encode('utf-8', 'replace').decode('utf-8')"),), verb="",
                   brief="a prompt with a lone surrogate")


MAX_TIMEOUT = 86400.0
"""The largest ``timeout`` (seconds per program, one day). The sandbox sets the program's CPU limit from it, and
a much larger one (``1e20``) cannot be set: until 2026-12-03 it passed the check and then no program started."""


def check_options(timeout, plain_results) -> None:
    """``timeout``: a number of seconds, 0 < timeout ≤ :data:`MAX_TIMEOUT`; ``plain_results``: a bool.

    Raises:
        FixError: naming the option, with its command-line form (an int too large for a float, ``10**400``,
            included: until 2026-12-03 it raised Python's OverflowError).
    """
    # (the range first: math.isfinite(10**400) raises OverflowError; a NaN or an infinity fails the range too)
    if not is_number(timeout) or not 0 < timeout <= MAX_TIMEOUT or not math.isfinite(timeout):
        raise FixError("timeout", f"is {show(timeout)}, must be a number of seconds per program with "
                       f"0 < timeout <= {MAX_TIMEOUT:g} (one day)",
                       (Remedy("timeout=10.0", "--reward code:timeout=10"),))
    if not isinstance(plain_results, bool):
        raise FixError("plain_results", f"is {show(plain_results)}, must be True or False",
                       (Remedy("plain_results=True", "--reward code:plain_results=true"),
                        Remedy("plain_results=False", "--reward code:plain_results=false")))


def show(value, width: int = 60) -> str:
    """``repr(value)`` for a message, cut to ``width`` characters. An int of more than 4,300 digits has no repr in
    Python 3.11 (a ValueError): until 2026-12-03 ``workers=-10**5000``, ``plain_results=10**5000``, a row's tests or
    entry point of that size (and a list holding one, as ``timeout``: "an int of more than 86400") raised it, or
    named it wrongly, instead of the refusal naming the argument; a repr that fails otherwise is named by type."""
    try:
        text = repr(value)
    except ValueError:
        if isinstance(value, int):
            return f"{'a negative' if value < 0 else 'an'} int of {value.bit_length()} bits (too long to print)"
        return f"a {type(value).__name__} that holds an int too long to print"
    except Exception:
        return f"a {type(value).__name__} (its repr failed)"
    return text if len(text) <= width else text[:width - 20] + f"... ({len(text)} characters)"


def is_number(value) -> bool:
    """A real number, numpy's included (``np.int64(3)``, ``np.float32(2.5)``: until 2026-12-03 refused as
    ``timeout`` and ``workers``); not a bool (numpy's ``np.bool_`` is no ``numbers.Real``)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def whole_number(value) -> bool:
    """A whole number, numpy's integers included; not a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)
