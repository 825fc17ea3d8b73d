"""The validated form in which every turn-level estimator receives its multi-turn episodes.

Index convention: ``_turn`` indexes turns (``0 <= n < N``, the rows of the input arrays), ``_ep``
episodes (dense, ``0 <= e < n_episodes``), ``_grp`` groups (task instances), ``_state`` / ``_action``
factorised signatures (dense ids shared across the batch). A turn is one (state, action, reward) step of
one episode; ``turn_index`` is its position in the episode, 0..K−1.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from treecredit._validation import as_int64, check_finite, check_integer, check_ndim, check_non_negative, fail, to_numpy
from treecredit.batch import dense_group_index


@dataclass(frozen=True)
class TurnBatch:
    """N turns of multi-turn episodes, grouped by task instance.

    Attributes:
        group_index: ``(N,)`` int64 dense group numbers, in order of first appearance.
        n_groups: number of distinct groups.
        episode_index: ``(N,)`` int64 dense episode numbers, in order of first appearance.
        n_episodes: number of distinct episodes (each belongs to exactly one group).
        turn_index: ``(N,)`` int64 position of the turn within its episode (0..K−1 per episode).
        state_index: ``(N,)`` int64 factorised state signature (equal signatures, equal ids).
        action_index: ``(N,)`` int64 factorised action signature.
        rewards: ``(N,)`` float64 per-turn rewards.
        state_signatures: ``(n_states,)`` object array, the signature behind each state id.
        action_signatures: ``(n_actions,)`` object array, the signature behind each action id.
    """

    group_index: np.ndarray
    n_groups: int
    episode_index: np.ndarray
    n_episodes: int
    turn_index: np.ndarray
    state_index: np.ndarray
    action_index: np.ndarray
    rewards: np.ndarray
    state_signatures: np.ndarray
    action_signatures: np.ndarray

    @property
    def n_turns(self) -> int:
        return int(self.rewards.shape[0])

    @cached_property
    def episode_group(self) -> np.ndarray:
        """``(n_episodes,)`` int64: the group of each episode."""
        out = np.zeros(self.n_episodes, dtype=np.int64)
        out[self.episode_index] = self.group_index
        return out

    @cached_property
    def episode_lengths(self) -> np.ndarray:
        """``(n_episodes,)`` int64: turns per episode."""
        return np.bincount(self.episode_index, minlength=self.n_episodes).astype(np.int64)

    @cached_property
    def episode_order(self) -> np.ndarray:
        """``(N,)`` turn rows sorted by (episode, turn): each episode's turns are contiguous, in order."""
        return np.lexsort((self.turn_index, self.episode_index))


def _as_signature_array(value: Any, argument: str) -> np.ndarray:
    # Python lists become object arrays so that 1 and "1" stay distinct signatures.
    if isinstance(value, (list, tuple)):
        out = np.empty(len(value), dtype=object)
        out[:] = list(value)
        return out
    return to_numpy(value, argument)


def factorize_signatures(values: Any, n_turns: int, argument: str) -> tuple[np.ndarray, np.ndarray]:
    """Dense ids (by first appearance) for hashable signatures: ints, strings or bytes.

    Returns ``(ids (N,) int64, unique signatures (n,) object array)``.
    """
    arr = _as_signature_array(values, argument)
    _check_vector(arr, n_turns, argument)
    if arr.dtype.kind in "iub":
        _, first, inverse = np.unique(arr, return_index=True, return_inverse=True)
        return _first_appearance(first, inverse.reshape(-1), arr)
    if arr.dtype.kind in "US":
        _, first, inverse = np.unique(arr, return_index=True, return_inverse=True)
        return _first_appearance(first, inverse.reshape(-1), arr)
    if arr.dtype.kind != "O":
        fail(argument, f"has dtype {arr.dtype}; signatures must be ints, strings or bytes",
             "hash float or structured states first, e.g. with treecredit.signatures.state_signature")
    ids = np.empty(arr.shape[0], dtype=np.int64)
    seen: dict = {}
    for row, sig in enumerate(arr.tolist()):
        if isinstance(sig, np.integer):
            sig = int(sig)
        if isinstance(sig, (bool, float)) or not isinstance(sig, (int, str, bytes)):
            fail(argument, f"entry {row} is {type(sig).__name__} {sig!r}; signatures must be ints, strings or bytes",
                 "hash the state or action first, e.g. with treecredit.signatures.state_signature")
        ids[row] = seen.setdefault(sig, len(seen))
    uniques = np.empty(len(seen), dtype=object)
    uniques[:] = list(seen)
    return ids, uniques


def _first_appearance(first: np.ndarray, inverse: np.ndarray, arr: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(first, kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    uniques = np.empty(order.size, dtype=object)
    uniques[:] = arr[first[order]].tolist()
    return rank[inverse].astype(np.int64), uniques


def _check_vector(arr: np.ndarray, n_turns: int, argument: str) -> None:
    check_ndim(arr, 1, argument, "(N,)")
    if arr.shape[0] != n_turns:
        fail(argument, f"has {arr.shape[0]} entries, expected N = {n_turns} (one per turn, like rewards)",
             f"give {argument} one entry per turn")


def _check_rewards_length(n_turns: int, others: dict) -> None:
    """Blame ``rewards`` when every other per-turn argument agrees on a length that ``rewards`` does not have
    (the usual slip: one outcome reward per episode instead of one reward per turn)."""
    lengths = set()
    for value in others.values():
        try:
            lengths.add(len(value))
        except TypeError:  # not a sequence: its own check names it
            return
    if len(lengths) == 1 and n_turns not in lengths:
        fail("rewards", f"has {n_turns} entries but {', '.join(others)} have {lengths.pop()} (one per turn)",
             "give one reward per turn: an episode's outcome reward on its last turn and 0 on its other turns "
             "(one reward per episode is not the layout)")


def _dense_ids(values: Any, n_turns: int, argument: str) -> tuple[np.ndarray, int]:
    arr = _as_signature_array(values, argument)
    _check_vector(arr, n_turns, argument)
    return dense_group_index(arr, n_turns, argument)


def make_turn_batch(group_ids: Any, episode_ids: Any, turn_index: Any, state_sigs: Any, action_sigs: Any,
                    rewards: Any) -> TurnBatch:
    """Validate the public arguments of :func:`treecredit.compute_turn_advantages` into a :class:`TurnBatch`.

    Args:
        group_ids: ``(N,)`` ids (ints ≥ 0 or strings) of each turn's group (task instance).
        episode_ids: ``(N,)`` ids (ints ≥ 0 or strings) of each turn's episode; an episode lies in one group.
        turn_index: ``(N,)`` int, 0..K−1 within each episode, each position exactly once (any row order).
        state_sigs: ``(N,)`` state signatures: ints, strings or bytes.
        action_sigs: ``(N,)`` action signatures: ints, strings or bytes.
        rewards: ``(N,)`` finite per-turn rewards. NumPy arrays, torch tensors or lists.
    """
    rew = to_numpy(rewards, "rewards")
    check_ndim(rew, 1, "rewards", "(N,)")
    check_finite(rew, "rewards")
    n_turns = rew.shape[0]
    _check_rewards_length(n_turns, {"group_ids": group_ids, "episode_ids": episode_ids, "turn_index": turn_index,
                                    "state_sigs": state_sigs, "action_sigs": action_sigs})
    group_index, n_groups = _dense_ids(group_ids, n_turns, "group_ids")
    episode_index, n_episodes = _dense_ids(episode_ids, n_turns, "episode_ids")
    turns = to_numpy(turn_index, "turn_index")
    _check_vector(turns, n_turns, "turn_index")
    check_integer(turns, "turn_index")
    check_non_negative(turns, "turn_index")
    turns = as_int64(turns, "turn_index")
    _check_episodes(group_index, n_groups, episode_index, n_episodes, turns)
    state_index, state_values = factorize_signatures(state_sigs, n_turns, "state_sigs")
    action_index, action_values = factorize_signatures(action_sigs, n_turns, "action_sigs")
    return TurnBatch(group_index, n_groups, episode_index, n_episodes, turns, state_index, action_index,
                     rew.astype(np.float64), state_values, action_values)


def _check_episodes(group_index, n_groups, episode_index, n_episodes, turns) -> None:
    if turns.size == 0:
        return
    lo = np.full(n_episodes, n_groups)
    hi = np.full(n_episodes, -1)
    np.minimum.at(lo, episode_index, group_index)
    np.maximum.at(hi, episode_index, group_index)
    if (lo != hi).any():
        bad = int(np.flatnonzero(lo != hi)[0])
        fail("episode_ids", f"episode number {bad} (by first appearance) has turns in more than one group",
             "give every episode a single group id, or distinct episode ids per group")
    pairs = episode_index * (int(turns.max()) + 1) + turns
    if np.unique(pairs).size != pairs.size:
        fail("turn_index", "repeats a turn position within one episode",
             "number each episode's turns 0, 1, ..., K-1, each once")
    counts = np.bincount(episode_index, minlength=n_episodes)
    last = np.zeros(n_episodes, dtype=np.int64)
    np.maximum.at(last, episode_index, turns)
    if (last + 1 != counts).any():
        bad = int(np.flatnonzero(last + 1 != counts)[0])
        fail("turn_index", f"episode number {bad} has {counts[bad]} turns but positions up to {last[bad]} "
             "(a gap)", "number each episode's turns 0, 1, ..., K-1 without gaps")
