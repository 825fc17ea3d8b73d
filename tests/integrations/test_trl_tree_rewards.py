"""Adaptive branching scores leaves with TRL's reward functions while the trees grow
(:func:`treecredit.integrations.trl_tree.score_with_reward_funcs`): a reward function's bug is named there,
with what it returned and the fix, in TRL's conventions (None for one completion is allowed, a bare None is
not), and a reward that raises leaves no un-awaited coroutine behind; the leaves' scores follow TRL's conventions
(weights, None, the dataset's columns, async functions awaited together)."""

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


def test_leaf_scores_follow_trls_conventions():
    seen = {}

    def first(prompts, completions, completion_ids, answer, **kwargs):
        seen.update(prompts=prompts, completions=completions, ids=completion_ids, answer=answer,
                    state=kwargs["trainer_state"])
        return [1.0, None]

    def second(completions, **kwargs):
        return [2.0, None]

    tokenizer = Chars()
    rows = [{"prompt": [{"role": "user", "content": "ab"}], "answer": "x"},
            {"prompt": [{"role": "user", "content": "ba"}], "answer": "y"}]
    rewards = score_with_reward_funcs([first, second], torch.tensor([1.0, 0.5]), tokenizer, rows, ["ab", "c"],
                                      trainer_state="state")
    assert rewards == [2.0, 0.0]  # 1·1 + 0.5·2; a completion no function scored counts as 0
    assert seen["completions"] == [[{"role": "assistant", "content": "ab"}], [{"role": "assistant", "content": "c"}]]
    assert seen["answer"] == ["x", "y"] and seen["state"] == "state"
    assert seen["ids"] == [tokenizer.encode(t, add_special_tokens=False) for t in ("ab", "c")]


def test_async_leaf_scores_are_awaited_together_as_trl_awaits_them():
    import asyncio
    import threading

    async def judged(completions, **kwargs):  # an async def reward, as an LLM judge would be
        await asyncio.sleep(0)
        return [float(len(c)) for c in completions]

    class Judge:  # a callable object whose __call__ is async (TRL's is_async_callable takes it too)
        async def __call__(self, completions, **kwargs):
            return [None, 1.0]

    rows = [{"prompt": "ab"}, {"prompt": "ba"}]
    funcs, weights = [judged, Judge(), lambda completions, **kwargs: [0.5, 0.5]], torch.tensor([1.0, 2.0, 1.0])
    assert score_with_reward_funcs(funcs, weights, Chars(), rows, ["ab", "c"]) == [2.5, 3.5]
    loop = asyncio.new_event_loop()  # TRL's: an event loop running in a daemon thread
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    try:
        assert score_with_reward_funcs(funcs, weights, Chars(), rows, ["ab", "c"], loop=loop) == [2.5, 3.5]
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()


def test_a_leaf_that_stopped_on_eos_is_scored_with_its_text_and_sampled_ids():
    # was: the sampler's end marker, added to the text of a chain that stopped on eos, reached the reward
    # function's completions, and completion_ids was that text encoded again
    from types import SimpleNamespace

    from treecredit.integrations.trl_tree import PromptIdsTask
    from treecredit.sampling.leaf_scores import response_text
    from treecredit.tasks.base import batch_rewards

    seen = []
    task = PromptIdsTask(" ", score=lambda problems, texts, ids=None: seen.append((texts, ids)) or [1.0] * len(texts))
    policy = SimpleNamespace(eos_id=1, decode=lambda ids: "".join(chr(96 + i) for i in ids if i != 1))
    ids = [3, 4, 1]
    text = response_text(SimpleNamespace(policy=policy, task=task), ids)
    assert batch_rewards(task, [0], [text], completion_ids=[ids]) == [1.0]
    assert seen == [(["cd"], [[3, 4, 1]])]
