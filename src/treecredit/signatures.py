"""State and action signatures for multi-turn credit, and how well signature matching agrees with equality.

A *state signature* is a stable hash of a canonical form of the environment state: dictionaries are
ordered by key, sets sorted, tuples and lists alike, NumPy arrays by dtype, shape and bytes; the bytes are
hashed with BLAKE2b, so a signature is the same in every process and on every machine (Python's
``hash`` is salted per process and is not used). An *action signature* hashes the action text after
whitespace normalisation.

The RTMC paper's referee asked how often signature matching disagrees with exact state equality;
:func:`signature_agreement` measures it on given data (collisions, false positives, false negatives).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from typing import Any, Iterable

import numpy as np

from treecredit._validation import fail

MAX_DEPTH = 200
"""Deepest nesting of containers that :func:`canonical_bytes` encodes (deeper is an error, not a crash)."""


def canonical_bytes(state: Any, *, argument: str = "state") -> bytes:
    """A canonical byte encoding of ``state``: equal for equal states, whatever dict or set order.

    Supported: None, bool, int, float, str, bytes, lists/tuples, dicts (keys of any supported type),
    sets/frozensets, NumPy scalars and arrays (object arrays by their elements' contents, structured
    arrays with their field names and types). Floats compare as values: −0.0 encodes as 0.0 and every NaN
    alike. Anything else is an error (hash it yourself), and so are containers nested deeper than
    :data:`MAX_DEPTH` or that contain themselves; the error names ``argument``.
    """
    return json.dumps(_canonical(state, argument, 0, set()), separators=(",", ":"),
                      ensure_ascii=False).encode("utf-8")


def _float_key(value: float) -> str:
    if value != value:
        return "nan"
    return (value + 0.0).hex()  # −0.0 + 0.0 is 0.0


def _array_key(value: np.ndarray, where: str, depth: int, path: set) -> list:
    shape = list(value.shape)
    if value.dtype.hasobject:  # compare the elements, never their addresses
        if value.dtype.names:
            fields = [[name, _canonical(value[name], where, depth + 1, path)] for name in value.dtype.names]
            return ["r", shape, fields]
        return ["A", shape, [_canonical(v, where, depth + 1, path) for v in value.ravel().tolist()]]
    array = np.ascontiguousarray(value)
    if array.dtype.names is None and array.dtype.kind in "fc":
        array = array.astype(array.dtype.newbyteorder("="), copy=False) + array.dtype.type(0)  # −0.0 → 0.0
        array = np.where(np.isnan(array), array.dtype.type(np.nan), array)
    elif array.dtype.byteorder not in "=|" and array.dtype.names is None:
        array = array.astype(array.dtype.newbyteorder("="))
    dtype = str(array.dtype.descr) if array.dtype.names else array.dtype.str
    return ["a", dtype, shape, np.ascontiguousarray(array).tobytes().hex()]


def _canonical(value: Any, where: str, depth: int, path: set) -> Any:
    # Every encoded value is tagged with its type, so 1, "1", 1.0 and [1] stay distinct.
    if value is None or isinstance(value, (bool, np.bool_)):
        return ["b", None if value is None else bool(value)]
    if isinstance(value, (int, np.integer)):
        return ["i", str(int(value))]
    if isinstance(value, (float, np.floating)):
        return ["f", _float_key(float(value))]
    if isinstance(value, str):
        return ["s", value]
    if isinstance(value, (bytes, bytearray)):
        return ["y", bytes(value).hex()]
    if not isinstance(value, (np.ndarray, list, tuple, dict, set, frozenset)):
        fail(where, f"contains a {type(value).__name__}, which has no canonical form",
             "convert it to dicts, lists, strings and numbers (or pass your own signature)")
    if depth >= MAX_DEPTH:
        fail(where, f"is nested deeper than {MAX_DEPTH} containers",
             "flatten the state (or pass your own signature)")
    if id(value) in path:
        fail(where, f"contains itself (a {type(value).__name__} that refers back to an enclosing container)",
             "break the cycle, e.g. replace the back-reference by an id (or pass your own signature)")
    path.add(id(value))
    try:
        if isinstance(value, np.ndarray):
            return _array_key(value, where, depth, path)
        if isinstance(value, (list, tuple)):
            return ["l", [_canonical(v, where, depth + 1, path) for v in value]]
        if isinstance(value, dict):
            items = [(_canonical(k, where, depth + 1, path), _canonical(v, where, depth + 1, path))
                     for k, v in value.items()]
            return ["d", sorted(items, key=lambda kv: json.dumps(kv[0]))]
        return ["t", sorted((_canonical(v, where, depth + 1, path) for v in value), key=json.dumps)]
    finally:
        path.discard(id(value))


def state_signature(state: Any, *, digest_size: int = 16) -> str:
    """Hex BLAKE2b digest of the canonical form of ``state`` (``digest_size`` bytes, 1..64)."""
    _check_digest(digest_size)
    return hashlib.blake2b(canonical_bytes(state), digest_size=digest_size).hexdigest()


_SPACE = re.compile(r"\s+")


def normalize_action(text: str, *, lowercase: bool = False) -> str:
    """Strip the ends and collapse every run of whitespace to one space (optionally lower-case)."""
    if not isinstance(text, str):
        fail("action", f"is a {type(text).__name__}, expected the action text", "pass the action as a string")
    text = _SPACE.sub(" ", text.strip())
    return text.lower() if lowercase else text


def action_signature(text: str, *, lowercase: bool = False, digest_size: int = 16) -> str:
    """Hex BLAKE2b digest of :func:`normalize_action` of ``text``."""
    _check_digest(digest_size)
    normalized = normalize_action(text, lowercase=lowercase)
    return hashlib.blake2b(normalized.encode("utf-8"), digest_size=digest_size).hexdigest()


def _check_digest(digest_size: int) -> None:
    if isinstance(digest_size, bool) or not isinstance(digest_size, int) or not 1 <= digest_size <= 64:
        fail("digest_size", f"is {digest_size!r}, must be an int in 1..64", "pass e.g. digest_size=16")


@dataclass(frozen=True)
class SignatureAgreement:
    """How signature matching agrees with exact state equality over all pairs of items (within groups).

    Attributes:
        n_items: items measured.
        n_pairs: unordered pairs compared (within a group when groups are given).
        n_states: distinct exact states; n_signatures: distinct signatures (per group, summed).
        collision_rate: share of signatures that stand for more than one distinct exact state.
        false_positive_rate: among pairs of different states, the share with equal signatures
            (they would wrongly be merged into one node); 0 when there is no such pair.
        false_negative_rate: among pairs of equal states, the share with different signatures
            (one state split into several nodes); 0 when there is no such pair.
        false_positive_pairs, false_negative_pairs: the counts behind the rates.
    """

    n_items: int
    n_pairs: int
    n_states: int
    n_signatures: int
    collision_rate: float
    false_positive_rate: float
    false_negative_rate: float
    false_positive_pairs: int
    false_negative_pairs: int


def _pairs(counts: np.ndarray) -> int:
    counts = counts.astype(np.int64)
    return int((counts * (counts - 1) // 2).sum())


def _codes(keys: list) -> np.ndarray:
    table: dict = {}
    return np.array([table.setdefault(k, len(table)) for k in keys], dtype=np.int64)


def signature_agreement(states: Iterable[Any], signatures: Iterable[Any], *, groups: Iterable[Any] | None = None,
                        exact_key=canonical_bytes) -> SignatureAgreement:
    """Measure signature matching against exact state equality on given data.

    Two items are *equal states* when ``exact_key`` (default: the full canonical bytes, no hashing)
    gives equal keys, and *matched* when their signatures are equal. Pairs are counted from a
    contingency table, so the cost is O(n), not O(n²).

    Args:
        states: n raw states (anything :func:`canonical_bytes` encodes, or what ``exact_key`` takes).
        signatures: n hashable signatures of the same items (e.g. :func:`state_signature`, truncated
            hashes, or a compressed interaction history).
        groups: optional n group ids; only pairs within one group are compared (as RTMC matches states).
        exact_key: maps a state to a hashable key that is equal exactly for equal states.
    """
    states, signatures = list(states), list(signatures)
    n = len(states)
    if len(signatures) != n:
        fail("signatures", f"has {len(signatures)} entries for {n} states", "give one signature per state")
    group_list = [0] * n if groups is None else list(groups)
    if len(group_list) != n:
        fail("groups", f"has {len(group_list)} entries for {n} states", "give one group id per state")
    group = _codes(group_list)
    state = _codes([(g, exact_key(s)) for g, s in zip(group_list, states)])
    sig = _codes([(g, s) for g, s in zip(group_list, signatures)])
    both = _codes(list(zip(state.tolist(), sig.tolist())))
    same_group = _pairs(np.bincount(group)) if n else 0
    same_state = _pairs(np.bincount(state)) if n else 0
    same_sig = _pairs(np.bincount(sig)) if n else 0
    same_both = _pairs(np.bincount(both)) if n else 0
    fp, fn = same_sig - same_both, same_state - same_both
    n_states = int(state.max(initial=-1) + 1)
    n_sigs = int(sig.max(initial=-1) + 1)
    states_per_sig = np.zeros(n_sigs, dtype=np.int64)
    if n:
        first_of_pair = np.unique(both, return_index=True)[1]
        np.add.at(states_per_sig, sig[first_of_pair], 1)
    return SignatureAgreement(
        n_items=n,
        n_pairs=same_group,
        n_states=n_states,
        n_signatures=n_sigs,
        collision_rate=float((states_per_sig > 1).mean()) if n_sigs else 0.0,
        false_positive_rate=fp / (same_group - same_state) if same_group > same_state else 0.0,
        false_negative_rate=fn / same_state if same_state else 0.0,
        false_positive_pairs=fp,
        false_negative_pairs=fn,
    )
