"""``step_ends_from_text`` matches a plain string literally (as its docstring and the README say); a string that
spells a regex, matches nothing and whose regex would match gets a warning that names the fix
(``re.compile``), instead of finding no step without a word."""

import re
import warnings

import numpy as np
import pytest

from treecredit import step_ends_from_text
from treecredit.step_text import warn_regex_as_text


class Chars:
    """A tokenizer whose ids are characters of a small alphabet."""

    alphabet = "ab.\n "
    vocab_size = len(alphabet)

    def encode(self, text: str) -> list[int]:
        return [self.alphabet.index(c) for c in text]

    def decode(self, ids) -> str:
        return "".join(self.alphabet[i] for i in ids)


TOK = Chars()
IDS = np.array([TOK.encode("ab.\n\n\nab."), TOK.encode("a b\n\nab. ")])


def test_a_string_that_spells_a_regex_warns_and_its_compiled_form_finds_the_steps():
    with pytest.warns(UserWarning, match=r"^pattern: '\\\\n\\\\n\+' is matched literally .* none of the 2 decoded "
                                         r"responses.*Pass re\.compile\('\\\\n\\\\n\+'\) for a regex$"):
        ends = step_ends_from_text(IDS, TOK, r"\n\n+")
    assert not ends.any()
    ends = step_ends_from_text(IDS, TOK, re.compile(r"\n\n+"))
    assert ends.sum(axis=1).tolist() == [1, 1] and ends[0, 5] and ends[1, 4]


@pytest.mark.parametrize("pattern", ["\n\n", "b.", "zz+", "["])
def test_no_warning_when_the_string_matches_or_its_regex_would_not(pattern):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        step_ends_from_text(IDS, TOK, pattern)  # '\n\n' and 'b.' match literally; 'zz+' nowhere; '[' no regex


@pytest.mark.parametrize("pattern", ["Step 1.", "Step 1?", "Total: $5.", "1. "])
def test_punctuation_that_is_also_regex_syntax_does_not_warn(pattern):
    with warnings.catch_warnings():  # each occurs nowhere literally while its regex reading matches
        warnings.simplefilter("error")
        warn_regex_as_text(pattern, ["Step 12 done. Step 1 Total: 5. 1a"])


@pytest.mark.parametrize("pattern, text", [(r"\n\n+", "a\n\nb"), (r"Step \d+", "Step 12"), ("Step [0-9]", "Step 3"),
                                           ("a|b", "b"), ("(Step) 1", "Step 1"), ("ab*c", "ac"), (r"\.\s", ". x")])
def test_regex_syntax_that_text_rarely_holds_warns(pattern, text):
    assert pattern not in text  # the literal reading finds nothing
    with pytest.warns(UserWarning, match=r"is matched literally .*Pass re\.compile"):
        warn_regex_as_text(pattern, [text])
