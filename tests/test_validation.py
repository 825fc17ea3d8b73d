"""The project's error shape (``argument: problem. Fix: fix.``): a message written by fail() splits back."""

import pytest

from treecredit._validation import fail, split_fix


def test_a_message_splits_into_its_problem_and_fix():
    with pytest.raises(ValueError) as caught:
        fail("steps", "is -1. It must be 1 or more", "pass --steps 1...")
    assert split_fix(str(caught.value)) == ("steps: is -1. It must be 1 or more", "pass --steps 1")
    assert split_fix("KeyError: 'x'.") == ("KeyError: 'x'", "")  # no fix: the whole message, final period off
    assert split_fix("a: b. Fix: c. Fix: d.") == ("a: b", "c. Fix: d")  # the first Fix part starts the fix
