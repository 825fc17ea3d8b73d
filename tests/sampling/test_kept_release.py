"""``KVCacheBackend.release`` over its filed kept states (``kv_backend._KeptStates``): after any sequence of stores,
pops and releases, the same entries in the same order as the former release that read every kept state."""

import random

from treecredit.sampling.kv_backend import KVCacheBackend, _KeptStates


def _former_release(kept: dict, keys) -> dict:
    drop = set(keys)
    return {k: v for k, v in kept.items() if k not in drop and not (isinstance(k, tuple) and k and k[0] in drop)}


def test_release_drops_what_the_former_release_dropped_in_any_sequence():
    rng = random.Random(0)
    firsts = [("tree", "adaptive", i) for i in range(6)] + ["a", "b", 7]
    for _ in range(200):
        kept, plain = _KeptStates(), {}
        for step in range(60):
            action = rng.random()
            if action < 0.6:
                key = (rng.choice(firsts), rng.randrange(4)) if rng.random() < 0.8 else rng.choice(firsts)
                kept[key] = plain[key] = step
            elif action < 0.75 and plain:
                key = rng.choice(list(plain))
                assert kept.pop(key) == plain.pop(key)
            elif action < 0.8:
                key = (rng.choice(firsts), rng.randrange(4))
                assert kept.pop(key, None) == plain.pop(key, None)
            else:
                keys = rng.sample(firsts, rng.randrange(1, 3))
                kept.release(keys)
                plain = _former_release(plain, keys)
            assert list(kept.items()) == list(plain.items())
            assert all(key in kept for filed in kept.under.values() for key in filed)
            assert sum(map(len, kept.under.values())) == sum(isinstance(k, tuple) for k in kept)


def test_the_backend_releases_through_its_filed_states_and_a_plain_dict_still_works():
    class Policy:
        pad_id, eos_id = 0, 1

    backend = KVCacheBackend(Policy())
    assert isinstance(backend.kept, _KeptStates)
    backend.kept.update({("a", 0): 1, ("a", 1): 2, ("b", 0): 3, "a": 4})
    backend.release(["a"])
    assert backend.kept == {("b", 0): 3}
    backend.release()
    assert backend.kept == {} and backend.kept.under == {}
    backend.kept = {("a", 0): 1, ("b", 0): 2}  # a caller's plain dict
    backend.release(["a"])
    assert backend.kept == {("b", 0): 2}
