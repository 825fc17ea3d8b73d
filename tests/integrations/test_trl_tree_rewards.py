"""Adaptive branching scores leaves with TRL's reward functions while the trees grow
(:func:`treecredit.integrations.trl_tree.score_with_reward_funcs`): a reward function's bug is named there,
with what it returned and the fix, in TRL's conventions (None for one completion is allowed, a bare None is
not), and a reward that raises leaves no un-awaited coroutine behind."""

import gc
import warnings

import pytest

torch = pytest.importorskip("torch")

from treecredit.integrations.trl_tree import score_with_reward_funcs  # noqa: E402

ROWS = [{"prompt": "ab"}, {"prompt": "ba"}]
TEXTS = ["a b", "b"]


class Chars:
    def encode(self, text, add_special_tokens=False):
        return [ord(c) for c in text]


def _score(*funcs):
    return score_with_reward_funcs(list(funcs), torch.ones(len(funcs)), Chars(), ROWS, TEXTS)


def no_return(completions, **kwargs):
    [0.5 for _ in completions]


async def async_no_return(completions, **kwargs):
    [0.5 for _ in completions]


@pytest.mark.parametrize("func", [no_return, async_no_return])
def test_a_reward_without_return_is_named_with_the_fix(func):
    # was: TypeError: object of type 'NoneType' has no len()
    with pytest.raises(ValueError, match=rf"^reward_funcs: reward function '{func.__name__}' returned None, not a "
                                         r"list of 2 rewards \(missing return\?\)\. Fix: end the function with "
                                         r"return \["):
        _score(func)


@pytest.mark.parametrize("value,shown", [("1", r"'1' \(str\)"), ([1.0], r"\[1\.0\] \(list\)"),
                                         (object(), r"<object object at .*> \(object\)")])
def test_a_reward_that_is_not_a_number_is_named_with_what_it_returned(value, shown):
    # was, for "1": accepted here as 1.0, then TRL's own scoring failed with "too many dimensions 'str'"
    def strs(completions, **kwargs):
        return [0.5, value]

    with pytest.raises(ValueError, match=rf"^reward_funcs: reward function 'strs' returned {shown} for completion 1, "
                                         r"not a number\. Fix: return floats \(1\.0, not '1'\), or None"):
        _score(strs)


@pytest.mark.parametrize("out,shown", [(0.5, "float 0.5"), ("0.5", "str '0.5'"), ({"a": 1}, r"dict \{'a': 1\}")])
def test_a_reward_that_returns_no_list_is_named(out, shown):
    def single(completions, **kwargs):
        return out

    with pytest.raises(ValueError, match=rf"^reward_funcs: reward function 'single' returned {shown}, not a list of "
                                         r"2 rewards"):
        _score(single)


def test_trls_values_are_still_taken():
    import numpy as np

    class Judge:  # a callable object: named by its class, as TRL names it
        def __call__(self, completions, **kwargs):
            return [None, True]

    def numbers(completions, **kwargs):
        return (np.float32(0.25), torch.tensor(0.5))

    assert _score(Judge(), numbers) == [0.25, 1.5]  # None: does not apply (TRL's convention)


async def async_ok(completions, **kwargs):
    return [1.0 for _ in completions]


def sync_raises(completions, **kwargs):
    raise RuntimeError("sync down")


async def async_raises(completions, **kwargs):
    raise RuntimeError("judge down")


@pytest.mark.parametrize("funcs,raiser", [((async_ok, sync_raises), "sync_raises"),
                                          ((async_ok, async_raises), "async_raises")])
def test_a_reward_that_raises_is_named_and_leaves_no_coroutine_unawaited(funcs, raiser):
    # was: RuntimeWarning: coroutine 'async_ok' was never awaited (when a sync reward raised after it was called)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            _score(*funcs)
        except RuntimeError as error:
            notes = getattr(error, "__notes__", [])
        else:
            pytest.fail("the reward's error was swallowed")
        gc.collect()
    assert notes and f"raised by reward function {raiser!r} while adaptive branching scored 2 leaves" in notes[0]
    assert not [w for w in caught if "never awaited" in str(w.message)], [str(w.message) for w in caught]
