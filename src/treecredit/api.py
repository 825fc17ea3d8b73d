"""The public entry points: by estimator name, from user arrays (NumPy or torch) to advantages.

These functions only validate, convert and dispatch; the math lives in the registered estimators.
NumPy in gives NumPy out; torch in gives torch out, float32, on the device of ``response_ids``
(the computation itself runs in NumPy on the CPU, in float64 where it sums; bfloat16 / float16 inputs
are read as float32 first).
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from treecredit._validation import check_shape, fail, to_numpy
from treecredit.batch import TokenBatch, align_padding, make_token_batch, restore_padding
from treecredit.registry import available_from_options, get_estimator
from treecredit.step_text import checked_by_host, warn_if_no_steps, works_on_steps


def _is_torch(value: Any) -> bool:
    return type(value).__module__.startswith("torch") and hasattr(value, "detach")


def _options_to_numpy(options: dict) -> dict:
    return {k: (to_numpy(v, k) if _is_torch(v) else v) for k, v in options.items()}


def _like(result: np.ndarray, reference: Any):
    if _is_torch(reference):
        import torch

        return torch.from_numpy(np.ascontiguousarray(result, dtype=np.float32)).to(reference.device)
    return np.asarray(result, dtype=np.float32)


def check_result(result: Any, shape: tuple, estimator: str, what: str) -> None:
    """Refuse an estimator's output that is not a NumPy array of ``shape`` holding finite numbers (a
    user-registered estimator's fault would otherwise surface inside a trainer's loss)."""
    if not isinstance(result, np.ndarray) or result.shape != tuple(shape):
        got = (f"shape {result.shape}" if isinstance(result, np.ndarray) else type(result).__name__)
        fail("estimator", f"{estimator!r} returned {got}, expected a NumPy array of shape {tuple(shape)} {what}",
             f"make the function registered as {estimator!r} return one advantage per entry of its batch")
    if result.size and not np.isfinite(result).all():
        fail("estimator", f"{estimator!r} returned NaN or infinite advantages "
             f"({int((~np.isfinite(result)).sum())} of {result.size})",
             f"make the function registered as {estimator!r} return finite numbers (guard its divisions)")


def _no_negative_zero(result: np.ndarray) -> np.ndarray:
    """``result`` with −0.0 (a negative advantage times a 0 of the mask) read as 0.0, so that masked tokens print
    as ``0.`` (−0.0 + 0.0 is 0.0 in IEEE arithmetic; every other value is unchanged)."""
    if np.issubdtype(result.dtype, np.floating):
        return result + result.dtype.type(0)
    return result


def warn_if_no_pairs(group_sizes: np.ndarray, what: str) -> None:
    """``warnings.warn`` when no group has two members: every group-relative advantage is then 0."""
    if group_sizes.size and int(group_sizes.max()) < 2:
        warnings.warn(
            f"group_ids: no group has two {what} ({group_sizes.size} groups of one), so every group-relative "
            f"advantage is 0. Fix: give all {what} of one prompt the same group id.",
            UserWarning, stacklevel=3,
        )


REWARD_LIMIT = 1e30
"""The largest reward magnitude accepted: advantages are float32 (largest 3.4e38) and spreads are sums of squares,
so far larger rewards (±1e39, ±1e300) overflow to inf, or to a silent 0, inside some estimator."""


def check_reward_range(rewards: np.ndarray) -> None:
    """Refuse finite ``rewards`` beyond ±:data:`REWARD_LIMIT` (``ValueError`` naming ``rewards`` and the fix) before
    any estimator runs, so that the error names the input, not the estimator that overflowed on it."""
    if rewards.size:
        high = float(np.abs(rewards).max())
        if high > REWARD_LIMIT:
            fail("rewards", f"reach {high:.3g} in magnitude, beyond the {REWARD_LIMIT:.0e} that advantages can be "
                 "computed from (they are float32, and spreads are sums of squares, which overflow)",
                 "rescale the rewards (e.g. divide them by their largest magnitude, or pass a bounded score)")


_STEP_TEXT_FIX = "treecredit.step_ends_from_text(response_ids, tokenizer, '\\n\\n')"


def _warn_if_no_steps(estimator: str, batch: TokenBatch, options: dict, given_ends: Any) -> None:
    """Warn (:func:`~treecredit.step_text.warn_if_no_steps`) when a step estimator's token-id ``delimiter``
    closes no step before any response's last token, or its ``step_ends`` (``given_ends``, as the caller
    gave them) mark no token at all; not when a host already checked these step ends
    (:func:`~treecredit.step_text.checked_by_host`)."""
    from treecredit.steps import resolve_step_ends

    if not works_on_steps(get_estimator(estimator)) or options.get("tree_nodes") is not None:
        return
    delimiter, ends = options.get("delimiter"), options.get("step_ends")
    if delimiter is not None and ends is None and options.get("step_tokens") is None:
        shown = np.atleast_1d(np.asarray(delimiter)).tolist()
        warn_if_no_steps(estimator, resolve_step_ends(batch, delimiter=delimiter), batch.response_mask,
                         source=f"delimiter {shown[:8]}{'...' if len(shown) > 8 else ''}")
    elif ends is not None and not checked_by_host(given_ends):
        marked = np.asarray(ends)
        check_shape(marked, batch.response_mask.shape, "step_ends", "(B, T) like response_ids")
        marked = marked.astype(bool)
        ends = marked & batch.response_mask
        if batch.response_mask.any() and not ends.any():
            where = ("its 1s are all on tokens with response_mask 0, which close no step" if marked.any() else
                     "no 1 in any row")
            warn_if_no_steps(estimator, ends, batch.response_mask, source=f"step_ends ({where})",
                             fix=f"mark the last token of each step with 1, e.g. step_ends={_STEP_TEXT_FIX} "
                                 "(1 where the text closes a step, on a token with response_mask 1)")


def _misread_padding(spec) -> str:
    """What reading a left-padded batch as right-padded would do to ``spec``'s credit (refusal text)."""
    if set(spec.options) & {"tree_nodes", "step_ends", "mc_values"}:
        return f"{spec.name} would then compare misaligned prefixes (its tree or steps are read from the columns)"
    return (f"{spec.name} gives one value per response, the same either way, but every estimator reads the "
            "batch in one layout, so that switching estimators cannot silently change how it is read")


def compute_advantages(estimator: str, *, response_ids, response_mask, rewards, group_ids,
                       padding_side: str | None = None, **options):
    """Per-token advantages for a batch of grouped responses, by estimator name.

    Args:
        estimator: a registered token-level name (see :func:`treecredit.estimators`).
        response_ids: ``(B, T)`` non-negative integer token ids (at most 2**63 − 1), right-padded. After each
            row's last unmasked token (its padding) ids are never read, and negative ones (e.g. ``-100``) are
            accepted there, as :func:`~treecredit.step_ends_from_text` accepts them.
        response_mask: ``(B, T)`` 0/1 (or bool); 0 on padding and on tool/observation tokens, which stay
            part of the prefix but get advantage 0.
        rewards: ``(B,)`` finite terminal rewards (any float dtype, bfloat16 included), at most 1e30 in magnitude
            (larger ones overflow float32 advantages or float64 spreads, and are refused: rescale them).
        group_ids: ``(B,)`` ids (ints ≥ 0 or strings, not both); equal ids form one group (one prompt).
        padding_side: None (default): right padding expected, and a batch that looks left-padded (a padding
            id repeated at the rows' starts and not at their ends: :func:`~treecredit.padding_ids.pad_id_side`;
            where the ids do not tell, some response starts with a masked token, and more than half, and more
            than start most to the left, end on the last column, or before a masked end most rows share, such
            as an EOS token: :func:`~treecredit.batch.looks_left_padded`) is refused; a batch neither tells
            apart is read as right-padded with a ``UserWarning``. ``"left"``: each
            row's leading masked run is its padding; rows are re-aligned, and the result comes back in the
            caller's layout. ``"right"``: the layout is trusted as given (no check).
        **options: the estimator's options (``norm_by_std``, ``epsilon``, ``step_ends``, ``delimiter``,
            ``step_tokens``, ``tree_nodes``, ``tau``, ``scale``, ...; ``get_estimator(name).options`` lists
            one estimator's). An option the estimator does not take raises ``ValueError``, and so does a flag
            that is not a bool or a number that is not a real number. ``(B, T)`` options follow
            ``padding_side``. ``tree_nodes``: ``(B, T)`` int, the sampled tree: ``tree_nodes[i, t]`` is the
            id of the sampled segment in which token t of row i was generated, −1 on padding; each row's ids
            are a root-to-leaf path (one contiguous run per id, in depth order), and equal ids in different
            rows are one segment generated once (same group, positions, parent and tokens); anything else is
            refused, naming ``tree_nodes``.

    Returns:
        ``(B, T)`` float32 advantages, 0 on masked tokens; NumPy, or torch (float32 whatever the input
        dtype) on the device of ``response_ids``.

    Warns:
        ``UserWarning`` when no group has two responses (usually one id per row by mistake), except for
        estimators that read Monte Carlo values (they give credit without a group); when a step estimator's
        token-id ``delimiter`` closes no step before any response's last token (BPE writes the same text
        with other ids in other contexts), or its ``step_ends`` hold no 1 at all: every response is then
        one step.
    """
    spec = get_estimator(estimator, level="token")
    given_ends = options.get("step_ends")
    options = spec.check_options(_options_to_numpy(options))
    spec.check_requirements(available_from_options(options))
    ids, mask, options, shift = align_padding(response_ids, response_mask, options, padding_side,
                                              _misread_padding(spec))
    batch = make_token_batch(ids, mask, rewards, group_ids)  # negative ids in the padding: read as 0
    check_reward_range(batch.rewards)
    if not spec.needs("mc_values"):
        warn_if_no_pairs(batch.group_sizes, "responses")
    _warn_if_no_steps(estimator, batch, options, given_ends)
    result = spec.fn(batch, **options)  # also on an empty batch, so that options are always checked
    check_result(result, ids.shape, estimator, "(B, T): one per response token")
    result = _no_negative_zero(result)
    return _like(restore_padding(result, shift), response_ids)


def compute_turn_advantages(
    estimator: str, *, group_ids, episode_ids, turn_index, state_sigs, action_sigs, rewards, **options
):
    """One advantage per turn of multi-turn episodes, by estimator name (``rtmc``, ``gigpo``, baselines).

    Args:
        estimator: a registered turn-level name (see ``treecredit.estimators("turn")``).
        group_ids: ``(N,)`` the group (task instance) of each turn's episode (ints ≥ 0 or strings, not both).
        episode_ids: ``(N,)`` the episode each turn belongs to.
        turn_index: ``(N,)`` int, the position of the turn within its episode (0, 1, 2, ...).
        state_sigs: ``(N,)`` hashable state signatures (ints or strings); equal signatures in one group
            are one state, however it was reached.
        action_sigs: ``(N,)`` hashable action signatures.
        rewards: ``(N,)`` finite per-turn rewards (terminal-only tasks put the reward on the last turn), at most
            1e30 in magnitude.
        **options: estimator options (``gamma``, ``kappa``, ``omega``, ``norm_by_std``, ``epsilon``, ...),
            type-checked as in :func:`compute_advantages`.

    Returns:
        ``(N,)`` float32 advantages, NumPy or torch like ``rewards``.

    Warns:
        ``UserWarning`` when no group has two episodes.
    """
    from treecredit.turns import make_turn_batch

    spec = get_estimator(estimator, level="turn")
    options = spec.check_options(_options_to_numpy(options))
    turns = make_turn_batch(group_ids, episode_ids, turn_index, state_sigs, action_sigs, rewards)
    check_reward_range(np.asarray(turns.rewards, dtype=np.float64))
    warn_if_no_pairs(np.bincount(turns.episode_group, minlength=turns.n_groups), "episodes")
    result = spec.fn(turns, **options)  # also on an empty batch, so that options are always checked
    check_result(result, (len(turns.rewards),), estimator, "(N,): one per turn")
    result = _no_negative_zero(result)
    return _like(result, rewards)
