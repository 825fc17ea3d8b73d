"""Checks of the verl shell's options (:mod:`treecredit.integrations.verl`): those bound by
``make_adv_estimator(name, **options)`` are checked when it is called, before verl runs (names, values on a
4-response test batch, text-step options and their combinations), and named by their Python keyword
(``step_pattern``); those of ``algorithm.treecredit_options`` in verl's config are checked at the first
advantage step that sees them (again only when they change) and named by their config key
(``algorithm.treecredit_options.step_pattern``), with Hydra overrides as fixes. :func:`check_names` is verl's
own check of option names (it lists what a verl user can give, text-step options included, and where
``step_ends`` and ``tree_nodes`` come from), run before ``EstimatorSpec.check_options``, which then checks
only the values' kinds.
"""

from __future__ import annotations

import re
from typing import Any, Callable

from treecredit._validation import fail
from treecredit.step_text import short_repr, step_pattern_regex

CONFIG = "algorithm.treecredit_options"
STRUCTURE = ("step_ends", "delimiter", "step_tokens")
"""Estimator options that give the steps themselves: they cannot be combined with steps from text."""
_EXAMPLE = "'\\n\\n'"  # a step pattern, as the user would write it
_TESTED = "checked on a 4-response test batch when make_adv_estimator was called, before verl runs"


class Source:
    """Where each option came from: ``config`` holds the keys of ``algorithm.treecredit_options``, the others
    were bound by ``make_adv_estimator``. Names an option, and writes a setting of it, in that place's terms."""

    def __init__(self, config_keys=()):
        self.config = set(config_keys)

    def name(self, key: str) -> str:
        return f"{CONFIG}.{key}" if key in self.config else key

    def setting(self, key: str, value: str) -> str:
        return f"+{CONFIG}.{key}={value}" if key in self.config else f"make_adv_estimator(..., {key}={value})"


def _tokenizer_fix(source: Source, pattern_key: str) -> str:
    if pattern_key in source.config:
        return f"set +{CONFIG}.tokenizer=<the model's local path>"
    return ("pass tokenizer= to make_adv_estimator as well: the tokenizer object or the model's local path, e.g. "
            f"make_adv_estimator(..., {pattern_key}=..., tokenizer=tokenizer)")


def text_step_pattern(text_steps: dict, source: Source, *, bound: bool = False) -> tuple[str, re.Pattern] | None:
    """``(key, regex)`` of the text-step options ``text_steps`` (``step_pattern``, ``step_regex``,
    ``tokenizer``), checked; None when neither pattern is given (only a tokenizer, which is left for
    ``algorithm.treecredit_options`` when ``bound``).

    Raises:
        ValueError: naming the option as ``source`` does: both patterns; a pattern and a tokenizer that look
            swapped; an empty pattern, one that is not text, a ``step_regex`` that does not compile or
            matches the empty string; a pattern without a tokenizer; a tokenizer that has no ``decode``.
    """
    pattern, regex, tokenizer = (text_steps.get(k) for k in ("step_pattern", "step_regex", "tokenizer"))
    given = [k for k in ("step_pattern", "step_regex") if text_steps.get(k) is not None]
    if len(given) == 2:
        later = "step_regex" if "step_regex" in source.config else "step_pattern"
        other = "step_pattern" if later == "step_regex" else "step_regex"
        fail(source.name(later), f"was given together with {source.name(other)}; each gives the step ends",
             "give exactly one: step_pattern (text, matched literally) or step_regex (a regular expression)")
    if not given:
        if tokenizer is not None and not bound:
            fail(source.name("tokenizer"), "is set, but neither step_pattern nor step_regex is: it decodes "
                 "the responses only to find step ends in the text",
                 f"also give make_adv_estimator(..., step_pattern={_EXAMPLE}) or +{CONFIG}.step_pattern={_EXAMPLE}, "
                 "or drop tokenizer")
        return None
    key = given[0]
    value = text_steps[key]
    if hasattr(value, "decode") and not isinstance(value, str | bytes):
        fail(source.name(key), f"is a {type(value).__name__}, not text: {key} and tokenizer look swapped",
             f"give the text that closes a step as {key} and the tokenizer as tokenizer, e.g. "
             f"{source.setting(key, _EXAMPLE)}")
    if key == "step_regex":
        if isinstance(regex, str):
            try:
                regex = re.compile(regex)
            except re.error as error:
                fail(source.name(key), f"is {regex!r}, which does not compile as a regular expression ({error})",
                     "give a valid regular expression, e.g. '\\n\\n+', or the literal text as step_pattern")
        if not isinstance(regex, re.Pattern):
            fail(source.name(key), f"is {short_repr(regex)}, not a regular expression",
                 "give a non-empty regular expression (a string or re.compile(...)), e.g. '\\n\\n+'")
        compiled = step_pattern_regex(regex, source.name(key))
    else:
        compiled = step_pattern_regex(pattern, source.name(key))
    if tokenizer is None:
        missing = f"{CONFIG}.tokenizer" if key in source.config else "tokenizer"  # where the pattern was given
        fail(missing, f"is needed to decode the responses for {source.name(key)}",
             _tokenizer_fix(source, key))
    if not isinstance(tokenizer, str) and not hasattr(tokenizer, "decode"):
        fail(source.name("tokenizer"), f"is {short_repr(tokenizer)}, which has no decode(ids) method",
             "give a Hugging Face tokenizer (or any object with decode(list_of_ids) -> str), or the model's local "
             "path")
    if isinstance(tokenizer, str) and not tokenizer:
        fail(source.name("tokenizer"), "is ''", "give the model's local path (or a Hugging Face model id)")
    return key, compiled


PER_BATCH_SOURCES = {
    "step_ends": ("step ends differ with each batch's responses",
                  "give the steps as text instead ({text}), or put step_ends in each batch (data.batch['step_ends'], "
                  "which pass_response_ids() hands to the estimator)"),
    "tree_nodes": ("a tree describes one batch's responses",
                   "drop it: a rollout that samples trees puts tree_nodes in each batch (data.batch['tree_nodes'], "
                   "which pass_response_ids() hands to the estimator)"),
}
"""Estimator options that describe one batch's rows, which verl's batch gives (never an option): why, and the fix."""


def check_per_batch(options: dict, source: Source) -> None:
    """Refuse ``step_ends`` or ``tree_nodes`` given as an option (bound or in ``algorithm.treecredit_options``):
    one value would serve every batch, while they describe one batch's rows; verl's batch gives its own."""
    for key, (why, fix) in PER_BATCH_SOURCES.items():
        if options.get(key) is not None:
            text = (f"+{CONFIG}.step_pattern={_EXAMPLE} with +{CONFIG}.tokenizer=<the model's local path>"
                    if key in source.config else
                    f"make_adv_estimator(..., step_pattern={_EXAMPLE}, tokenizer=tokenizer)")
            fail(source.name(key), f"is given as an option, which would be the same for every batch, but {why}",
                 fix.format(text=text))


def check_text_delimiter(options: dict, source: Source) -> None:
    """Refuse a ``delimiter`` given as text (it takes token ids), before the test batch, with the user's own text
    in the fix (its token ids, or ``step_pattern`` with a tokenizer), in the terms of where it was given; text that
    spells token ids (``'[4]'``, a quoted Hydra value) gets the unquoted ids. The estimators refuse text delimiters
    too (:func:`treecredit.steps._delimiter_ends`, the empty text included), in a Python caller's terms; text
    that spells ids is read as ids only here, since in Python a string is the text the caller typed."""
    value = options.get("delimiter")
    pieces = [value] if isinstance(value, str) else value if isinstance(value, (list, tuple)) and value and all(
        isinstance(v, str) for v in value) else None
    if pieces is None:
        return
    text = "".join(pieces)  # a delimiter is one sequence: its pieces in a row
    name, in_config = source.name("delimiter"), "delimiter" in source.config
    ids = re.fullmatch(r"\s*\[?\s*(\d+(?:\s*,\s*\d+)*)\s*\]?\s*", text)
    if ids is not None:
        written = "[" + ", ".join(re.split(r"\s*,\s*", ids.group(1))) + "]"
        fix = (f"write the ids unquoted, +{CONFIG}.delimiter={written.replace(' ', '')}" if in_config else
               f"pass the ids as a list of ints, delimiter={written}")
        fail(name, f"is the text {text!r}, not token ids", fix)
    shown = repr(text)
    if not text:  # no text to find: step_pattern='' is refused too, so it is no fix
        fail(name, "is the empty text '', which marks no step end; delimiter takes token ids",
             f"give the token ids that end a step (+{CONFIG}.delimiter=[ID, ...]), or a step_pattern with visible "
             f"text such as '\\n\\n' with +{CONFIG}.tokenizer=<the model's local path>, and drop {name}"
             if in_config else "pass the token ids that end a step (delimiter=[ID, ...]), or step_pattern with "
             "visible text such as '\\n\\n' and tokenizer=<the tokenizer, or the model's local path>, and drop "
             "delimiter")
    if in_config:
        fix = (f"set +{CONFIG}.step_pattern={shown} with +{CONFIG}.tokenizer=<the model's local path>, which find "
               f"step ends in the decoded responses, and drop {name}; or give its token ids, +{CONFIG}.delimiter=["
               f"ID, ...] (tokenizer.encode({shown}, add_special_tokens=False))")
    else:
        fix = (f"pass its token ids (delimiter=tokenizer.encode({shown}, add_special_tokens=False)), or, for text "
               f"that BPE writes with different ids in different places, pass step_pattern={shown} with "
               "tokenizer=<the tokenizer, or the model's local path> to make_adv_estimator, which find step ends "
               "in the decoded responses, and drop delimiter")
    fail(name, f"is the text {shown}; delimiter takes token ids", fix)


def check_names(estimator: str, spec, options: dict, source: Source) -> None:
    """Refuse option names ``estimator`` does not take, listing those a verl user can give: the estimator's
    options but ``step_ends`` and ``tree_nodes`` (verl's batch gives them, :func:`check_per_batch`), and, for an
    estimator that takes steps, the text-step options ``step_pattern``, ``step_regex`` and ``tokenizer``."""
    from treecredit._validation import did_you_mean

    unknown = sorted(set(options) - set(spec.options))
    if not unknown:
        return
    takes = [k for k in spec.options if k not in PER_BATCH_SOURCES]
    if "step_ends" in spec.options:
        takes += ["step_pattern", "step_regex", "tokenizer"]
    batch = [k for k in PER_BATCH_SOURCES if k in spec.options]
    from_batch = (f" ({' and '.join(batch)} come from verl's batch, "
                  f"{', '.join(f'data.batch[{k!r}]' for k in batch)}, never as options)") if batch else ""
    fail(source.name(unknown[0]), f"estimator {estimator!r} does not take option(s) {unknown}"
         f"{did_you_mean(unknown[0], takes)}", f"remove them; {estimator!r} takes: {', '.join(takes) or 'none'}"
         f"{from_batch}")


def check_structure(estimator: str, options: dict, text_key: str | None, source: Source) -> None:
    """Refuse steps given twice: from text (``text_key``) and by an option of ``options`` that gives them
    (``step_ends``, ``delimiter``, ``step_tokens``), naming both where they were given."""
    if text_key is None:
        return
    both = [k for k in STRUCTURE if options.get(k) is not None]
    if both:
        fail(source.name(both[0]), f"and {source.name(text_key)} both give {estimator!r} its steps, and only "
             "one can", f"drop one of them: {source.name(both[0])}, or {source.name(text_key)} (with its tokenizer)")


def check_bound(estimator: str, spec, options: dict, text_steps: dict, load: Callable[[str, str], Any]) -> None:
    """Check ``make_adv_estimator``'s bound ``options`` (names already checked) and ``text_steps`` before
    verl runs: the text-step options (:func:`text_step_pattern`; a tokenizer path is loaded with
    ``load(path, name)``), steps given twice, and the values, by running the estimator once on a 4-response
    test batch with the step ends that verl's batch or the text would give it.

    Raises:
        ValueError: naming the option by its keyword (``scale: is 'abc' ...``) and the fix.
    """
    from treecredit.integrations._grpo_layout import _run_on_test_batch, option_message

    source = Source()
    found = text_step_pattern(text_steps, source, bound=True)
    if isinstance(text_steps.get("tokenizer"), str):
        load(text_steps["tokenizer"], "tokenizer")
    check_structure(estimator, options, found and found[0], source)
    given = "step_ends" if "step_ends" in spec.options and not set(STRUCTURE) & set(options) else None
    if not options:
        return  # the defaults are tested for every estimator
    try:
        _run_on_test_batch(estimator, options, given)
    except Exception as error:  # noqa: BLE001 — whatever fails here would fail at verl's first advantage step
        raise ValueError(option_message(error, options, estimator, _TESTED, option=str, argument="make_adv_estimator",
                                        given=f"the options {options!r}")) from error
