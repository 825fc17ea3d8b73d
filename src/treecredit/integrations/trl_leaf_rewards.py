"""Leaf rewards from TRL's reward functions while tree rollouts grow (adaptive branching reads them).

:func:`score_with_reward_funcs` calls TRL's reward functions as TRL's ``GRPOTrainer`` calls them on a generation
batch (keywords, weights, ``None``/NaN terms, ``async def`` functions awaited together) and
:func:`leaf_rewards` checks what each returned, naming the function and the fix. Used by
:mod:`treecredit.integrations.trl_tree`, whose leaves are each scored once per tree (the sampler keeps a forest's
rewards: :func:`~treecredit.sampling.leaf_scores.score_leaves`).
"""

from __future__ import annotations

from typing import Any

from treecredit._validation import fail


def score_with_reward_funcs(reward_funcs, reward_weights, tokenizer, rows: list[dict], texts: list[str],
                            trainer_state=None, loop=None, completion_ids: list[list[int]] | None = None,
                            ) -> list[float]:
    """Rewards of completions ``texts`` of the prompts of dataset ``rows`` (one row per text), scored as TRL
    scores a generation batch: each reward function gets ``prompts``, ``completions`` (the text, or an
    assistant message when the prompt is a conversation), ``completion_ids`` (the sampled ids given, as
    TRL passes them; the text encoded again only when none are given, since decoding then encoding need not
    give the sampled ids back) and
    the rows' other columns as lists, plus ``trainer_state``; the reward is the weighted sum over functions
    with ``None``/NaN terms skipped (:func:`~treecredit.integrations._grpo_layout.completion_rewards`),
    NaN where no function scored (read as 0 by the sampler's allocation, i.e. a wrong leaf).

    Reward functions defined with ``async def`` (or whose call returns an awaitable) are awaited together, as
    TRL awaits them: on ``loop``, TRL's event loop thread (``GRPOTrainer.async_loop``) when given, else in a
    new event loop (:func:`treecredit.rewards.calls.awaited`). Reward models are refused before training
    by the trainer. ``log_extra``/``log_metric`` are accepted and dropped: these are partial trees, not the
    batch TRL logs.

    Raises:
        ValueError: naming the reward function and what it returned (:func:`leaf_rewards`). An exception a
            reward function raises propagates with a note naming it; the calls of ``async def`` functions not
            awaited yet are closed first.
    """
    import inspect
    import math

    import torch

    from treecredit.integrations._grpo_layout import completion_rewards

    if not rows:
        return []
    conversational = not isinstance(rows[0]["prompt"], str)
    completions: list[Any] = [[{"role": "assistant", "content": t}] for t in texts] if conversational else list(texts)
    columns = {key: [row[key] for row in rows] for key in rows[0] if key not in ("prompt", "completion",
                                                                                  "completion_ids")}
    if completion_ids is None:
        completion_ids = [tokenizer.encode(t, add_special_tokens=False) for t in texts]
    per_func = torch.full((len(texts), len(reward_funcs)), float("nan"))
    outputs: dict[int, Any] = {}
    try:
        for f, func in enumerate(reward_funcs):
            outputs[f] = func(prompts=[row["prompt"] for row in rows], completions=completions,
                              completion_ids=[list(ids) for ids in completion_ids],
                              trainer_state=trainer_state, log_extra=lambda *a, **k: None,
                              log_metric=lambda *a, **k: None, **columns)
    except BaseException as error:  # a reward raised: the calls of async ones before it are never awaited
        _close_pending(outputs.values())
        error.add_note(_growth_note(_func_name(func), len(texts)))
        raise
    pending = [f for f, out in outputs.items() if inspect.isawaitable(out)]
    if pending:
        notes = [_growth_note(_func_name(reward_funcs[f]), len(texts)) for f in pending]
        outputs.update(zip(pending, _await_all([outputs[f] for f in pending], loop, notes)))
    for f, func in enumerate(reward_funcs):
        per_func[:, f] = torch.tensor(leaf_rewards(_func_name(func), outputs[f], len(texts)))
    rewards = completion_rewards(per_func, torch.as_tensor(reward_weights, dtype=per_func.dtype)).tolist()
    return [0.0 if math.isnan(r) else r for r in rewards]


def _func_name(func) -> str:
    """A reward function's name as TRL writes it: ``__name__``, or the class of a callable object."""
    return getattr(func, "__name__", None) or type(func).__name__


def leaf_rewards(name: str, out: Any, n: int) -> list[float]:
    """What reward function ``name`` returned for ``n`` leaves, as floats (NaN for None: TRL's "does not
    apply"), checked as TRL's ``_calculate_rewards`` would need it; its errors name the function and what it
    returned, where TRL's would be a bare ``TypeError`` or ``ValueError`` after the trees were grown.

    Raises:
        ValueError: for a bare None (usually a missing ``return``) or anything that is not a list of ``n``
            values, and for a value that is not a number or None (text such as ``"1"`` included).
    """
    import math

    from treecredit.rewards.calls import returned_list, reward_number
    from treecredit.token_rows import short_repr

    values = []
    for i, value in enumerate(returned_list("reward_funcs", f"reward function {name!r}", out, n, noun="rewards")):
        number = math.nan if value is None else reward_number(value, finite=False)
        if number is None:
            fail("reward_funcs", f"reward function {name!r} returned {short_repr(value, 60)} ({type(value).__name__})"
                 f" for completion {i}, not a number", "return floats (1.0, not '1'), or None where it does not "
                 "apply (TRL's GRPOTrainer refuses text too)")
        values.append(number)
    return values


def _close_pending(outputs) -> None:
    """Close the coroutines (cancel the futures) among ``outputs`` that will not be awaited, so that Python does
    not warn that they were never awaited."""
    import inspect

    for out in outputs:
        if inspect.iscoroutine(out):
            out.close()
        elif inspect.isawaitable(out) and hasattr(out, "cancel"):
            out.cancel()


def _growth_note(name: str, n: int) -> str:
    return f"(raised by reward function {name!r} while adaptive branching scored {n} leaves of the growing trees)"


def _await_all(awaitables: list, loop=None, notes: list[str] | None = None) -> list:
    """The results of ``awaitables``, awaited together (``asyncio.gather``): on ``loop`` (an event loop running
    in another thread, as TRL's) when given, else in a new one. An exception raised by ``awaitables[i]`` gets
    ``notes[i]`` added."""
    import asyncio

    from treecredit.rewards.calls import awaited

    async def noted(awaitable, note):
        try:
            return await awaitable
        except Exception as error:
            if note:
                error.add_note(note)
            raise

    async def gathered():
        return await asyncio.gather(*(noted(a, n) for a, n in zip(awaitables, notes or [None] * len(awaitables))))

    if loop is None:
        return list(awaited(gathered()))
    return list(asyncio.run_coroutine_threadsafe(gathered(), loop).result())

