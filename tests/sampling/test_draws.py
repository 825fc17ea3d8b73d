"""Chain keys: :func:`combine` in Python integers gives the bits of the vectorised SplitMix64 finaliser."""

import numpy as np

from treecredit.sampling.draws import _GOLDEN, _MASK, _mix, child_keys, combine, prompt_key


def numpy_combine(*parts: int) -> int:
    """The former numpy-scalar form of :func:`combine` (the reference: keys of earlier runs came from it)."""
    x = np.uint64(_GOLDEN)
    with np.errstate(over="ignore"):
        for part in parts:
            x = _mix(np.asarray(x ^ np.uint64(int(part) & _MASK) + np.uint64(_GOLDEN), dtype=np.uint64))
    return int(x)


def test_combine_gives_the_numpy_bits_for_any_integers():
    rng = np.random.default_rng(0)
    cases = [(), (0,), (-1,), (2**64 - 1, 5), (-(2**63), 2**63, 7), (123, 0x70726F6D7074, 4)]
    cases += [tuple(int(v) - 2**63 for v in rng.integers(0, 2**63, size=k, dtype=np.int64) * 2) for k in (1, 2, 3)
              for _ in range(200)]
    for parts in cases:
        assert combine(*parts) == numpy_combine(*parts), parts


def test_keys_of_a_tree_are_64_bit_and_fixed():
    key = prompt_key(7, 3)
    assert key == numpy_combine(7, 0x70726F6D7074, 3)
    keys = child_keys(key, 5, 2, 3)
    assert keys == [numpy_combine(key, 5, 2 + i) for i in range(3)] and all(0 <= k <= _MASK for k in keys)


def test_uniforms_give_the_numpy_bits_on_few_rows_and_many():
    """Few rows are mixed in Python integers (``SMALL_DRAW``), many in numpy: the same float64 bits."""
    import torch

    from treecredit.sampling import draws

    rng = np.random.default_rng(1)
    cases = [([0, _MASK], [0, 2**40])]  # the extremes of a key, a position far beyond any response
    for n in (1, 2, draws.SMALL_DRAW, draws.SMALL_DRAW + 1, 200):
        cases.append(([int(v) for v in rng.integers(0, 2**64, size=n, dtype=np.uint64)],
                      [int(v) for v in rng.integers(0, 10**6, size=n)]))
    for keys, positions in cases:
        k, p = np.asarray(keys, dtype=np.uint64), np.asarray(positions, dtype=np.uint64)
        with np.errstate(over="ignore"):
            x = _mix(k ^ _mix(p * np.uint64(_GOLDEN) + np.uint64(0x632BE59BD9B4E019)))
        want = torch.from_numpy((x >> np.uint64(11)).astype(np.float64) * (1.0 / (1 << 53)))
        got = draws.uniforms(keys, positions)
        assert got.dtype == torch.float64 and torch.equal(got, want), len(keys)
