"""Per-token advantages for packed episodes, by estimator name, and the agent metrics.

A turn-level estimator (``rtmc``, ``gigpo``, turn-level ``grpo``, ...) gets the turn arrays and its
per-turn advantages are spread onto the tokens of each action; a token-level estimator gets the rows
with the episode return as the reward and turn ends as ``step_ends`` (when it takes them).
"""

from __future__ import annotations

import numpy as np

import treecredit
from treecredit._validation import fail


def estimator_level(name: str) -> str:
    """``"turn"`` when ``name`` is a turn-level estimator, else ``"token"`` (raises when it is neither)."""
    if name in treecredit.estimators("turn"):
        return "turn"
    if name in treecredit.estimators("token"):
        return "token"
    fail("estimator", f"unknown estimator {name!r}",
         f"use a turn-level one ({', '.join(treecredit.estimators('turn'))}) or a token-level one")


def agent_advantages(name: str, batch, options: dict | None = None):
    """``(token advantages (B, T) torch float32, turn advantages (N,) NumPy or None)`` for ``batch``.

    ``name`` is looked up at the turn level first (``grpo`` means turn-level GRPO over episodes).
    """
    import torch

    options = dict(options or {})
    if estimator_level(name) == "turn":
        turn_adv = np.asarray(treecredit.compute_turn_advantages(name, **batch.turns, **options), dtype=np.float32)
        tokens = treecredit.spread_turn_advantages(turn_adv, token_turn_ids=batch.token_turn_ids.numpy())
        return torch.from_numpy(np.ascontiguousarray(tokens)), turn_adv
    spec = treecredit.get_estimator(name)
    if "step_ends" in spec.options and not {"step_ends", "delimiter", "step_tokens"} & set(options):
        options["step_ends"] = batch.rollout.step_ends
    adv = treecredit.compute_advantages(name, **batch.rollout.estimator_inputs(), **options)
    return adv.float(), None


def revisit_rate(batch) -> float:
    """Share of turns whose state (signature) another episode of the same group also visited."""
    turns = batch.turns
    if batch.n_turns == 0:
        return 0.0
    episodes: dict = {}
    for g, e, s in zip(turns["group_ids"].tolist(), turns["episode_ids"].tolist(), turns["state_sigs"]):
        episodes.setdefault((g, s), set()).add(e)
    shared = [len(episodes[(g, s)]) > 1 for g, s in zip(turns["group_ids"].tolist(), turns["state_sigs"])]
    return float(np.mean(shared))


def step_credit_share(batch, token_advantages) -> float:
    """Share of turns whose advantage differs from the mean over their episode's turns (non-zero step credit)."""
    ids = batch.token_turn_ids.numpy()
    adv = np.asarray(token_advantages, dtype=np.float64)
    n = batch.n_turns
    if n == 0:
        return 0.0
    valid = ids >= 0
    sums = np.bincount(ids[valid], weights=adv[valid], minlength=n)
    counts = np.maximum(np.bincount(ids[valid], minlength=n), 1)
    per_turn = sums / counts
    episode = batch.turns["episode_ids"]
    mean = np.bincount(episode, weights=per_turn) / np.maximum(np.bincount(episode), 1)
    return float(np.mean(np.abs(per_turn - mean[episode]) > 1e-6))


def episode_metrics(episodes: list, prefix: str = "") -> dict:
    """Success rate, mean return, turns per episode, invalid and cut actions per turn, context cuts."""
    if not episodes:
        return {}
    turns = sum(ep.n_turns for ep in episodes)
    return {f"{prefix}success": float(np.mean([ep.success for ep in episodes])),
            f"{prefix}return": float(np.mean([ep.episode_return for ep in episodes])),
            f"{prefix}turns": turns / len(episodes),
            f"{prefix}invalid_share": sum(ep.invalid for ep in episodes) / max(1, turns),
            f"{prefix}cut_share": sum(ep.cut for ep in episodes) / max(1, turns),
            f"{prefix}context_cut_share": float(np.mean([ep.context_cut for ep in episodes]))}


def _declare_fix(name: str, seen: tuple[float, float] | None) -> str:
    """The class attribute that has an own env's run refused before any work, worded for the returns seen
    (``seen``: their ``(min, max)``; None: not known): ``negative_rewards`` is read as "why the returns leave
    [0, 1]" (:func:`~treecredit.training.reward_range.env_rewards_leave_unit_range`), for returns above 1 as well,
    which its name does not say."""
    low, high = seen if seen is not None else (-1.0, 2.0)  # not known: say "below 0 and above 1"
    if seen is not None and low >= 0:  # only above 1: the name misleads, so say what it means
        return (f"; and give {name} a class attribute negative_rewards = \"returns up to {high:.8g}\" "
                "(despite its name it declares any return outside [0, 1], above 1 too), so that such a run is "
                "refused before any work")
    why = "below 0" if high <= 1 else "below 0 and above 1"
    return (f"; and give {name} a class attribute negative_rewards = \"<why its returns go {why}>\", so that such "
            "a run is refused before any work")


def check_eval_returns(config, episodes) -> None:
    """Refuse, at the held-out evaluation before the first step, episode returns (``episodes``: the greedy and
    sampled ones) that leave the range the run's token-level estimator needs, with the error the first step would
    stop with (:func:`returns_refused`), run on the pre-flight's tiny batch with those returns: the run would
    otherwise train until a step's episodes showed them (an own env with undeclared negative rewards). Returns
    the estimator accepts, a turn-level estimator, or one that fails on the tiny batch for another reason:
    nothing."""
    from treecredit.training.estimator_inputs import estimator_range_error
    from treecredit.training.reward_range import range_refusal

    returns = [ep.episode_return for ep in episodes]
    if not returns or config.estimator not in treecredit.estimators("token") \
            or config.estimator in treecredit.estimators("turn"):
        return
    error = estimator_range_error(config, None, min(returns), max(returns))
    if error is not None and range_refusal(error) is not None:
        raise returns_refused(config, error, 1, 0, at="at the held-out evaluation before step 1") from None


def returns_refused(config, error: ValueError, step: int, saved_step: int, at: str = "") -> ValueError:
    """The error that stops an agent run whose estimator refused one step's episode returns (``error``), with
    the step and what is kept (:func:`~treecredit.training.estimator_inputs.failed_at_step`).

    A refusal of returns outside [0, 1] (``treerpo``'s ``scale="bernoulli"``) reaches a run only from an env that
    did not say its returns leave [0, 1] (else :func:`~treecredit.training.reward_range.check_env_reward_range`
    refused the run before any work, e.g. an own env without a ``negative_rewards`` class attribute): its fix is
    the pre-flight's, in an env run's terms (the estimator option in the command line's form, env settings, a
    turn-level estimator), plus that attribute for an own env, not the estimator's own fix about ``--reward``
    weights, which an env run has none of. Other refusals keep the estimator's fix. ``at``: where it happened in
    words (:func:`check_eval_returns`: the held-out evaluation before step 1), instead of ``at step {step}``."""
    from treecredit.envs import env_class
    from treecredit.training.estimator_inputs import failed_at_step
    from treecredit.training.reward_range import env_range_fix, range_refusal

    refusal = range_refusal(error)  # TreeRPO's OutOfRange, or an own estimator's plain ValueError
    if refusal is None:
        return failed_at_step(error, step, saved_step, config.estimator)
    klass = env_class(config.env)
    name, own = klass.__name__, not klass.__module__.startswith("treecredit.")
    seen = getattr(refusal, "seen", None)  # an own estimator's plain error does not say them
    declare = _declare_fix(name, seen) if own and not getattr(klass, "negative_rewards", False) else ""
    said = refusal.said(f"{env_range_fix(config.estimator, refusal)}{declare}",
                        where=f"the episode returns of env {config.env!r}")
    return failed_at_step(ValueError(said), step, saved_step, at=at)
