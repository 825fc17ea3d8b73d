"""Option texts whose backslash escapes a shell or a YAML/TOML ``--config`` file kept as typed (``--task-option
delimiter=\\n`` is a backslash and n, not the line break the user likely meant): which texts are warned
(:func:`unmeant_escapes`) and the warnings ``train`` and ``compare`` give before any work (:func:`escape_warnings`;
an arm's own ``[key=value]`` options: :func:`arm_escape_warnings`).

The rule, one backslash at a time (:func:`backslash_parts`): a backslash and a word of :data:`LATEX_COMMANDS`
(``\\boxed``, ``\\frac``, ``\\theta``, ``\\nabla``, ``\\times``, ``\\rightarrow``) is LaTeX, which a prompt template
holds on purpose; a backslash and n, t or r otherwise (``\\n``, ``\\nA:``, ``\\tb``) is an escape the user
plausibly meant as a line break, tab or carriage return; any other backslash (a regular expression's ``\\b``,
``\\d``, ``\\.``, a doubled ``\\\\``, a path's ``\\Users``) is meant, and the text is then left alone. A text is
warned where it holds such an escape and no meant backslash, is no Windows path (:data:`WINDOWS_DRIVE_PATH`,
:data:`WINDOWS_DRIVE_FOLDER`) and its option names no path or regex (:data:`MEANT_BACKSLASH_KEYS`)."""

from __future__ import annotations

import re

LATEX_COMMANDS = frozenset("""
    nabla neq ne neg ni nu not notin nmid newline noindent nonumber nleq ngeq
    theta times tau tan tanh text textbf textit texttt textrm textsf tfrac tbinom tilde to top triangle therefore tag
    rightarrow right rho rangle rceil rfloor rvert rVert rbrace rm
    boxed frac dfrac sqrt cdot cdots ldots dots alpha beta gamma delta epsilon varepsilon zeta eta iota kappa lambda
    mu pi sigma phi varphi psi omega chi xi Gamma Delta Theta Lambda Pi Sigma Phi Psi Omega
    sum prod int oint lim infty partial le leq ge geq pm mp div approx equiv sim simeq cong propto in subset
    subseteq supset cup cap forall exists emptyset varnothing setminus mathbb mathbf mathrm mathcal mathit
    operatorname left binom log ln sin cos exp max min mod pmod bmod gcd det vec hat bar overline underline
    quad qquad begin end displaystyle Rightarrow Leftarrow leftarrow Leftrightarrow leftrightarrow iff implies
    mapsto angle perp parallel circ deg ell hbar langle lceil lfloor lvert vert Vert mid star ast prime square
    sec csc cot arcsin arccos arctan sinh cosh sup inf arg wedge vee oplus otimes dot ddot widehat cases pmatrix
    bmatrix matrix underbrace overbrace boldsymbol emph LaTeX TeX
""".split())
"""Common LaTeX commands (the word after the backslash, matched whole: ``\\theta`` but not ``\\thetax``): in an
option text they are LaTeX, neither an escape (``\\nabla`` is no line break and ``abla``) nor a meant backslash that
silences the text's real escapes (``Q: {prompt}\\nPut the final answer in \\boxed{}.`` is warned for its ``\\n``).
Until 2026-12-04 a text with any backslash but ``\\n``, ``\\t``, ``\\r`` was left alone, and ``\\theta`` alone was
warned as a tab and ``heta``."""

MEANT_BACKSLASH_KEYS = frozenset({
    "path", "paths", "dir", "dirs", "file", "files", "folder", "folders", "regex", "regexp", "regexes",
    "filepath", "filename", "pathname", "dirname", "cachedir", "datadir", "logdir", "outdir", "workdir", "rootdir",
    "basedir"})
"""Words of option names (``cache_dir``, ``step_regex``, ``held_out.path``, ``filepath``; the name split at every
character that is not a letter, each word matched whole: ``profile`` is not ``file``) whose values hold a backslash
on purpose: a Windows path (``data\\new``), a regular expression (which reads ``\\n`` as a line break itself)."""

WINDOWS_DRIVE_PATH = r"[A-Za-z]:(\\[\w.~$-]{2,}){2,}\\?"
"""A Windows path on a drive whose backslashes are all followed by n, t or r (``C:\\new\\table``): at least two
folder names of two or more characters, no ``{``, no space. ``Q:\\n{prompt}\\nA:``, ``A:\\n`` and ``x:\\tb``
are a template's or a marker's line breaks and tabs (review41 5)."""

WINDOWS_DRIVE_FOLDER = r"[A-Za-z]:\\[ntr][a-z0-9_.~$-]{2,}\\?"
"""A Windows path to one folder on a drive (``C:\\temp``, ``D:\\runs\\``, ``C:\\new``): one name of three or more
characters, lower case after its n, t or r. ``A:\\nStep`` (a capital after the escape), ``x:\\tb`` (two characters)
and ``A:\\n`` are still warned. Until 2026-12-04 ``C:\\temp`` was warned as a tab and ``emp``."""

_BACKSLASH = re.compile(r"\\(\\|[A-Za-z]+|.?)", re.DOTALL)


def backslash_parts(text: str) -> list[tuple[str, str]]:
    """Each backslash of ``text`` with what follows it (``(kind, part)``, the part as typed): ``latex`` (a word of
    :data:`LATEX_COMMANDS`: ``\\boxed``), ``escape`` (n, t or r starting another word, or alone: ``\\n``, ``\\nA``,
    ``\\tb``), ``meant`` (anything else: ``\\d``, ``\\bfoo``, ``\\.``, ``\\\\``, a trailing backslash)."""
    parts = []
    for match in _BACKSLASH.finditer(text):
        word = match.group(1)
        kind = ("latex" if word in LATEX_COMMANDS else "escape" if word[:1] in ("n", "t", "r") else "meant")
        parts.append((kind, match.group(0)))
    return parts


def unmeant_escapes(key: str, text: str) -> str | None:
    """``text`` of option ``key`` with its escapes read (``\\n`` → a line break, ``\\t`` → a tab, ``\\r`` → a
    carriage return; LaTeX commands kept as typed) where they plausibly meant those and were kept as typed; None
    where the text holds no such escape or its backslashes look meant (the rule: the module's docstring).
    Warned: ``delimiter=\\n``, ``marker=a\\tb``, ``template=Q:\\n{prompt}\\nA:``, ``template=Q: {prompt}\\nPut the
    final answer in \\boxed{}.``; not: ``\\bfoo\\b``, ``^Step \\d+:\\n``, ``\\\\n``, ``Let \\theta be``,
    ``C:\\new\\table``, ``C:\\temp``, any text of ``step_regex`` or ``cache_dir``."""
    parts = backslash_parts(text)
    kinds = {kind for kind, _ in parts}
    if "escape" not in kinds or "meant" in kinds:
        return None
    if re.fullmatch(WINDOWS_DRIVE_PATH, text) or re.fullmatch(WINDOWS_DRIVE_FOLDER, text):
        return None
    if any(part in MEANT_BACKSLASH_KEYS for part in re.split(r"[^a-z]+", key.lower())):
        return None
    whitespace = {"n": "\n", "t": "\t", "r": "\r"}

    def read(match: re.Match) -> str:
        word = match.group(1)
        return match.group(0) if word in LATEX_COMMANDS else whitespace[word[0]] + word[1:]

    return _BACKSLASH.sub(read, text)


ESCAPE_NAMES = {"\n": "a line break", "\t": "a tab", "\r": "a carriage return", "\n\n": "two line breaks"}
"""Names of the texts a backslash escape most often means, for :func:`escape_warnings`."""


def _meant(decoded: str) -> str:
    return f"{ESCAPE_NAMES[decoded]} ({decoded!r})" if decoded in ESCAPE_NAMES else repr(decoded)


def _json_text(text: str) -> bool:
    """Whether ``text`` reads as JSON (its escapes were then read: ``"\\n"``; or a number, true, ...)."""
    import json

    try:
        json.loads(text)
    except json.JSONDecodeError:
        return False
    return True


def escape_warnings(args, kept: list[tuple[str, str, str]], file_kind: str = "") -> list[str]:
    """A warning for each ``key=value`` flag (``--task-option delimiter=\\n``) whose value was taken as text (not
    JSON) and holds backslash escapes: a shell passes the backslash on, so the option is a backslash and n, not
    the line break the user likely meant (a tree then never finds a step end: trial38 4; which texts:
    :func:`unmeant_escapes`); the fix is the JSON form in quotes, which the flags read
    (``--task-option 'delimiter="\\n"'``). ``kept``: a ``--config`` file's option texts that keep their backslashes
    as written (``(field, key, text)``: :func:`~treecredit.training.config_file.kept_backslashes`), of format
    ``file_kind``, get the same warning."""
    import json
    import shlex

    from treecredit.training.config_values import OPTION_FLAGS

    said = []
    for name, flag in OPTION_FLAGS.items():
        for pair in getattr(args, name, None) or []:
            key, _, text = pair.partition("=")
            decoded = None if _json_text(text) else unmeant_escapes(key, text)
            if decoded is not None:
                said.append(f"{flag} {pair} gives {key} the text {text!r} (backslashes as typed: a shell passes them "
                            f"on), not {_meant(decoded)}. Fix: write the value as JSON in double quotes, which {flag} "
                            f"reads: {flag} {shlex.quote(f'{key}={json.dumps(decoded)}')} (if the backslash is "
                            "meant, ignore this)")
    for name, key, text in kept:
        if any(pair.partition("=")[0] == key for pair in getattr(args, name, None) or []):
            continue  # a flag replaces the file's value
        decoded = unmeant_escapes(key, text)
        if decoded is not None:
            written = f"{key}: {json.dumps(decoded)}" if file_kind == "YAML" else f"{key} = {json.dumps(decoded)}"
            quotes = "outside double quotes" if file_kind == "YAML" else "in a literal string ('...')"
            said.append(f"the --config file sets {name} {key} to the text {text!r} ({file_kind} keeps backslashes as "
                        f"written {quotes}), not {_meant(decoded)}. Fix: write {written} in the file, in double quotes "
                        "(if the backslash is meant, ignore this)")
    return said


def arm_escape_warnings(label: str) -> list[str]:
    """The warnings of :func:`escape_warnings` for the options of one ``compare`` arm as written
    (``tempo[task.template=Q:\\n{prompt}]``: its ``[key=value,...]`` texts are read as the flags' are, JSON where
    they parse), each naming the arm and the arm with the value as JSON; [] for an arm without options or one
    that does not parse (its own check refuses it)."""
    import json
    import shlex

    from treecredit.training.arms import _split_top

    if "[" not in label:
        return []
    start, depth = label.index("["), 0
    for end in range(start, len(label)):  # the ']' that closes the first '[' (parse_arm's reading)
        depth += (label[end] == "[") - (label[end] == "]")
        if depth == 0:
            break
    try:
        pairs = _split_top(label[start + 1:end], "estimators") if depth == 0 else []
    except ValueError:
        return []
    said = []
    for pair in pairs:
        key, sep, text = pair.strip().partition("=")
        decoded = None if not sep or _json_text(text) else unmeant_escapes(key, text)
        if decoded is not None:
            fixed = label.replace(f"{key}={text}", f"{key}={json.dumps(decoded)}", 1)
            said.append(f"arm '{label}' gives {key} the text {text!r} (backslashes as typed: a shell passes them on), "
                        f"not {_meant(decoded)}. Fix: write the value as JSON in double quotes, which an arm's options "
                        f"read: the arm {shlex.quote(fixed)} in --estimators, the list in single quotes for the "
                        "shell (if the backslash is meant, ignore this)")
    return said
