"""math-verify's time limit running out is reported, not scored as a wrong answer: until 2026-12-03 the ``math``
reward gave such a completion 0.0 (math-verify answers False on a timeout and logs it on its own logger), so a
correct answer on a busy machine scored as wrong, and nothing in the reward's output told it apart."""

import time

import pytest

from treecredit.rewards import math_reward
from treecredit.rewards.load import make_reward


def _slow(*_args, **_kwargs):
    time.sleep(3)  # (beyond the 1 s limit below: math-verify's own alarm interrupts it)
    return True


def test_a_comparison_that_runs_out_of_time_gets_no_reward_and_is_said(monkeypatch):
    import math_verify.grader

    monkeypatch.setattr(math_verify.grader, "sympy_expr_eq", _slow)
    with pytest.warns(UserWarning, match=r"math-verify's time limit \(1 s .*\) ran out on 1 of the 2 completions "
                                         r"\(the first during comparison, final answer '1\.5\\\\times 10\^\{3\}'\)"
                                         r".*not 0\.0.*math:timeout=4"):
        scores = math_reward(["q"] * 2, ["1.5\\times 10^{3}", "no answer"], answer=["1500", None], timeout=1)
    assert scores == [None, None]


def test_a_parse_that_runs_out_of_time_gets_no_reward(monkeypatch):
    import math_verify.parser

    monkeypatch.setattr(math_verify.parser, "extract_target_from_pred", _slow)
    with pytest.warns(UserWarning, match=r"ran out on 1 of the 1 completions \(the first during parsing"):
        assert math_reward(["q"], ["9"], answer=["9"], timeout=1) == [None]


def test_a_pair_that_is_equal_scores_although_another_ran_out(monkeypatch):
    """math-verify compares each parsed value of the answer with each of the completion's: one equal pair is
    enough, as in math-verify, whatever the others did."""
    import math_verify.grader

    real = math_verify.grader.sympy_expr_eq
    calls = []

    def first_slow(*args, **kwargs):
        calls.append(1)
        return _slow() if len(calls) == 1 else real(*args, **kwargs)

    monkeypatch.setattr(math_verify.grader, "sympy_expr_eq", first_slow)
    from treecredit.rewards.math_verify_calls import verify_within

    gold, pred = [__import__("sympy").Integer(9), __import__("sympy").Integer(8)], [__import__("sympy").Integer(8)]
    assert verify_within(gold, pred, 1) is True and len(calls) == 2


def test_the_time_limit_is_an_option():
    _, fn, _ = make_reward("math:timeout=30")
    assert fn(["q"], ["9"], answer=["9"]) == [1.0]
    for bad in (0, -1, float("nan"), "5", True):
        with pytest.raises(ValueError, match=r"^timeout: is .* must be a number of seconds with 0 < timeout <= 86400"):
            math_reward(["q"], ["9"], answer=["9"], timeout=bad)
