"""Stable state/action signatures, and the measured agreement of signature matching with state equality."""

import itertools
import os
import subprocess
import sys

import numpy as np
import pytest

import treecredit
from treecredit.signatures import (
    action_signature,
    canonical_bytes,
    normalize_action,
    signature_agreement,
    state_signature,
)


def test_canonical_form_ignores_dict_and_set_order_but_not_types():
    assert state_signature({"a": 1, "b": [1, {2, 3}]}) == state_signature({"b": [1, {3, 2}], "a": 1})
    distinct = [1, "1", 1.0, [1], (1, 2), [1, 2, 3], b"1", None, True, {"1": 1}, {1: 1}, np.array([1]),
                np.array([1.0]), np.array([[1]])]
    sigs = [state_signature(v) for v in distinct]
    assert sigs[4] == state_signature([1, 2])  # tuples and lists alike
    del sigs[4]
    assert len(set(sigs)) == len(sigs)


def test_signature_is_stable_across_processes():
    code = "from treecredit.signatures import state_signature as s; print(s({'x': [1, 'y', {3, 4}]}))"
    outs = set()
    for seed in ["0", "123"]:
        src = os.path.dirname(os.path.dirname(treecredit.__file__))
        env = dict(os.environ, PYTHONHASHSEED=seed, PYTHONPATH=src)
        outs.add(subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                                check=True).stdout.strip())
    assert outs == {state_signature({"x": [1, "y", {3, 4}]})}


def test_action_normalisation():
    assert normalize_action("  ls   -la\n\t/tmp ") == "ls -la /tmp"
    assert action_signature("ls  -la") == action_signature(" ls -la\n")
    assert action_signature("LS") != action_signature("ls")
    assert action_signature("LS", lowercase=True) == action_signature("ls", lowercase=True)


@pytest.mark.parametrize("call, match", [
    (lambda: state_signature(object()), "state: contains a object"),
    (lambda: state_signature(1, digest_size=0), "digest_size:"),
    (lambda: action_signature(b"ls"), "action: is a bytes"),
    (lambda: signature_agreement([1, 2], ["a"]), "signatures: has 1 entries for 2 states"),
    (lambda: signature_agreement([1, 2], ["a", "b"], groups=[0]), "groups: has 1 entries"),
])
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def brute_force(states, sigs, groups):
    fp = fn = diff = same = 0
    for i, j in itertools.combinations(range(len(states)), 2):
        if groups[i] != groups[j]:
            continue
        eq = canonical_bytes(states[i]) == canonical_bytes(states[j])
        match = sigs[i] == sigs[j]
        same += eq
        diff += not eq
        fp += match and not eq
        fn += eq and not match
    return fp, fn, fp / diff if diff else 0.0, fn / same if same else 0.0


def test_agreement_with_truncated_hashes_finds_collisions(rng):
    states = [{"pos": int(x), "inv": [int(y)]} for x, y in rng.integers(0, 40, (300, 2))]
    groups = rng.integers(0, 2, 300).tolist()
    full = signature_agreement(states, [state_signature(s) for s in states], groups=groups)
    assert full.false_positive_pairs == 0 and full.false_negative_pairs == 0 and full.collision_rate == 0
    short = [state_signature(s, digest_size=1) for s in states]  # 256 values for ~600 states per group
    report = signature_agreement(states, short, groups=groups)
    fp, fn, fpr, fnr = brute_force(states, short, groups)
    assert report.false_positive_pairs == fp > 0 and report.false_negative_pairs == fn == 0
    assert report.false_positive_rate == pytest.approx(fpr) and report.false_negative_rate == fnr
    assert 0 < report.collision_rate <= 1
    assert report.n_pairs == sum(groups[i] == groups[j] for i, j in itertools.combinations(range(300), 2))


def test_agreement_detects_false_negatives_of_history_signatures():
    # a history-based signature splits one state reached by two paths
    states = ["C", "C", "C", "D"]
    history = ["A>B>C", "A>D>C", "A>B>C", "A>D"]
    report = signature_agreement(states, history)
    fp, fn, fpr, fnr = brute_force(states, history, [0] * 4)
    assert (report.false_negative_pairs, report.false_positive_pairs) == (fn, fp) == (2, 0)
    assert report.false_negative_rate == pytest.approx(2 / 3) == pytest.approx(fnr)
    assert report.n_states == 2 and report.n_signatures == 3 and report.collision_rate == 0


def test_collision_rate_hand_computed():
    report = signature_agreement([1, 2, 3, 3], ["x", "x", "y", "y"])
    assert report.collision_rate == 0.5  # "x" stands for two states, "y" for one
    assert report.false_positive_pairs == 1 and report.false_positive_rate == pytest.approx(1 / 5)


def test_empty_data():
    report = signature_agreement([], [])
    assert report.n_pairs == 0 and report.collision_rate == 0 and report.false_positive_rate == 0


# --- issue 8: contents, not pointers; fields; signed zeros; deep and self-referential values ---------
def test_equal_object_arrays_have_equal_signatures():
    from treecredit.signatures import state_signature

    a = np.array([[1, 2], "x", None, {"k": 1.5}], dtype=object)
    b = np.array([[1, 2], "x", None, {"k": 1.5}], dtype=object)
    assert state_signature(a) == state_signature(b)
    assert state_signature(a) != state_signature(np.array([[1, 2], "y", None, {"k": 1.5}], dtype=object))
    assert state_signature(np.array([1, 2], dtype=object)) != state_signature(np.array([1, 2]))


def test_structured_arrays_with_different_fields_differ():
    from treecredit.signatures import state_signature

    x = np.zeros(2, dtype=[("a", "<i4"), ("b", "<i4")])
    y = np.zeros(2, dtype=[("c", "<i4"), ("d", "<i4")])
    assert state_signature(x) != state_signature(y)
    assert state_signature(x) == state_signature(np.zeros(2, dtype=[("a", "<i4"), ("b", "<i4")]))
    z = np.zeros(1, dtype=[("a", "O")])
    z["a"][0] = [1]
    w = np.zeros(1, dtype=[("a", "O")])
    w["a"][0] = [1]
    assert state_signature(z) == state_signature(w)


def test_signed_zeros_nans_and_byte_order_compare_as_values():
    from treecredit.signatures import state_signature

    assert state_signature(-0.0) == state_signature(0.0)
    assert state_signature(np.float32(-0.0)) == state_signature(0.0)
    assert state_signature({"x": [-0.0]}) == state_signature({"x": [0.0]})
    assert state_signature(np.array([-0.0, 1.0])) == state_signature(np.array([0.0, 1.0]))
    assert state_signature(np.array([1.0, 2.0], dtype=">f8")) == state_signature(np.array([1.0, 2.0]))
    assert state_signature(np.array([np.nan])) == state_signature(np.array([-np.nan]))
    assert state_signature(0.0) != state_signature(0)  # types still differ


def test_deep_and_self_referential_states_raise_value_error_naming_the_argument():
    from treecredit.signatures import MAX_DEPTH, canonical_bytes, state_signature

    loop: list = []
    loop.append(loop)
    with pytest.raises(ValueError, match="^state: contains itself"):
        state_signature(loop)
    cyclic: dict = {"a": {}}
    cyclic["a"]["back"] = cyclic
    with pytest.raises(ValueError, match="^state: contains itself"):
        state_signature(cyclic)
    deep: list = []
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(ValueError, match=f"^state: is nested deeper than {MAX_DEPTH}"):
        state_signature(deep)
    with pytest.raises(ValueError, match="^obs: "):
        canonical_bytes(loop, argument="obs")
    shared = [1]
    assert state_signature([shared, shared]) == state_signature([[1], [1]])  # sharing is not a cycle
