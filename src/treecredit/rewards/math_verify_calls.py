"""math-verify's ``parse`` and ``verify`` for the ``math`` reward, with its time limit reported, not read as a wrong
answer.

math-verify bounds each parse and each comparison of two parsed values by ``signal.alarm`` (wall-clock seconds,
5 by default). When that limit runs out it logs ``Timeout during comparison`` (or ``... parsing``) on its own
logger and answers ``False`` (or no value): until 2026-12-03 the ``math`` reward scored such a completion 0.0,
the same as a wrong answer (a test of ``1.5\\times 10^{3}`` against ``1500`` failed so once under heavy load).
These functions raise :class:`MathVerifyTimeout` instead, and the reward gives that completion no reward (None)
and says so once per call (:func:`treecredit.rewards.builtin.math_reward`). Other errors inside math-verify
are read as before: a text that does not parse has no value, a comparison that fails is not equal.
"""

from __future__ import annotations

import math


class MathVerifyTimeout(Exception):
    """math-verify's time limit ran out while parsing (``what="parsing"``) or comparing (``"comparison"``)."""

    def __init__(self, what: str, seconds: int) -> None:
        super().__init__(f"math-verify's time limit ({seconds} s) ran out during {what}")
        self.what, self.seconds = what, seconds


MAX_SECONDS = 86400
"""The largest ``timeout`` (one day, as ``code:timeout``'s): ``signal.alarm`` takes a C unsigned int, and from
2**31 seconds on math-verify's alarm failed inside its own ``except`` and every answer scored 0 without a word
(until 2026-12-03)."""


def whole_seconds(timeout) -> int:
    """``timeout`` (seconds, a number > 0, numpy's included) as the whole seconds ``signal.alarm`` takes, rounded up.

    Raises:
        FixError (a ``ValueError``) naming ``timeout`` when it is not a finite number in (0, 86400]."""
    from treecredit._validation import FixError, Remedy
    from treecredit.rewards.code_args import is_number

    if not is_number(timeout) or not math.isfinite(timeout) or not 0 < timeout <= MAX_SECONDS:
        raise FixError("timeout", f"is {timeout!r}, must be a number of seconds with 0 < timeout <= {MAX_SECONDS} "
                       "(one day; math-verify's time limit for each parse and each comparison)",
                       (Remedy("timeout=5", "--reward math:timeout=5"),))
    return max(1, math.ceil(float(timeout)))


def parse_within(text: str, seconds: int) -> list:
    """``math_verify.parse(text)`` with a limit of ``seconds``: its values (empty where it finds none or fails).

    Raises:
        MathVerifyTimeout: the limit ran out.
        ValueError: math-verify's own, where it runs outside the main thread (its alarm needs that one)."""
    from math_verify import parse
    from math_verify.errors import TimeoutException

    try:
        return parse(text, parsing_timeout=seconds, raise_on_error=True)
    except TimeoutException:
        raise MathVerifyTimeout("parsing", seconds) from None
    except ValueError as error:
        if "threaded environment" in str(error):
            raise
        return []
    except Exception:  # what parse(raise_on_error=False) answers for any other error
        return []


def verify_within(gold: list, pred: list, seconds: int) -> bool:
    """``math_verify.verify(gold, pred)`` with a limit of ``seconds`` for each pair of values: True where a pair is
    equal, False where none is (a pair whose comparison fails is not equal, as in math-verify).

    Raises:
        MathVerifyTimeout: no pair is equal and the limit ran out on one (its answer is unknown).
        ValueError: math-verify's own, where it runs outside the main thread."""
    from math_verify import verify
    from math_verify.errors import TimeoutException

    timed_out = False
    for g in gold if isinstance(gold, list) else [gold]:
        for t in pred if isinstance(pred, list) else [pred]:
            try:
                if verify(g, t, timeout_seconds=seconds, raise_on_error=True):
                    return True
            except TimeoutException:
                timed_out = True
            except ValueError as error:
                if "threaded environment" in str(error):
                    raise
            except Exception:  # what verify(raise_on_error=False) answers for this pair
                pass
    if timed_out:
        raise MathVerifyTimeout("comparison", seconds)
    return False
