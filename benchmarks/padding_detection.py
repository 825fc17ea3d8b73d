"""How often :func:`treecredit.batch.looks_left_padded` tells the padding side of random batches (docs/estimators.md).

Draws ``--n`` random batches per kind (B 2-16 rows, T 20-200 columns; each row a random length, a quarter of the
rows cut at the maximum length, which loses their EOS), lays each out left-padded and right-padded, and counts
how many of each the check calls left-padded: the mask's rule alone (``looks_left_padded``), then with the ids
(``padding_reading``, as ``padding_side=None`` reads a batch: pad id 0, EOS 2, then EOS = pad = 0), and how many
it finds a tie (read as right-padded with a warning). Kinds: ``eos`` (every uncut row ends in a masked EOS token),
``eos+tools`` (as ``eos``, and one row in four also has 1-3 masked tool tokens before it, one in ten a masked
tool header), ``eos+stop`` (as ``eos``, and one row in four ended by a stop string instead: no EOS). A
left-padded batch read as right-padded is a silent misread; a right-padded one read as left-padded is a
refusal that ``padding_side="right"`` lifts.

``--compare PATH`` also runs the ``looks_left_padded`` of another ``batch.py`` (say main's, before a change),
side by side::

    nice -n 10 python benchmarks/padding_detection.py --n 10000 --compare /tmp/old/batch.py
"""

from __future__ import annotations

import argparse
import importlib.util
import sys

import numpy as np

from treecredit.batch import looks_left_padded, padding_reading

KINDS = ("eos", "eos+tools", "eos+stop")


def random_batch(rng: np.random.Generator, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """``(right, left)``: one random batch's ``(B, T)`` bool masks, right- and left-padded."""
    (right, _), (left, _) = random_id_batch(rng, kind)
    return right, left


def random_id_batch(rng: np.random.Generator, kind: str, pad: int = 0, eos: int = 2):
    """``((right_mask, right_ids), (left_mask, left_ids))``: :func:`random_batch`'s masks with token ids: the
    ``pad`` id on the padding, ``eos`` on each masked EOS, random ids (3 to 50,000) elsewhere (the response's
    tokens, its masked tool tokens and headers)."""
    B, T = int(rng.integers(2, 17)), int(rng.integers(20, 201))
    lengths = rng.integers(2, T + 1, size=B)
    cut = rng.random(B) < 0.25
    lengths[cut] = T
    right = np.zeros((B, T), bool)
    left = np.zeros((B, T), bool)
    right_ids = np.full((B, T), pad, np.int64)
    left_ids = np.full((B, T), pad, np.int64)
    for i, n in enumerate(lengths):
        row = np.ones(n, bool)
        stop = kind == "eos+stop" and rng.random() < 0.25
        if not cut[i] and not stop:
            row[-1] = False  # the EOS left out of the loss
            if kind == "eos+tools" and rng.random() < 0.25 and n > 5:
                row[-1 - int(rng.integers(1, 4)):-1] = False
        if kind == "eos+tools" and rng.random() < 0.1 and n > 5:
            row[:int(rng.integers(1, 4))] = False
        ids = rng.integers(3, 50_000, size=n)
        if not cut[i] and not stop:
            ids[-1] = eos
        right[i, :n], right_ids[i, :n] = row, ids
        left[i, T - n:], left_ids[i, T - n:] = row, ids
    return (right, right_ids), (left, left_ids)


def load(path: str):
    spec = importlib.util.spec_from_file_location("compared_batch", path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules["compared_batch"] = module  # (dataclasses look the module up)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module.looks_left_padded


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10000, help="batches per kind")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--compare", default=None, help="path of another batch.py to run side by side")
    args = parser.parse_args(argv)
    checks = {"this": looks_left_padded}
    if args.compare:
        checks["compared"] = load(args.compare)
    print("kind        check       left-padded found (ties)   right-padded flagged (ties)   "
          f"(of {args.n} each, less those without padding)")
    for kind in KINDS:
        for pad, eos in ((0, 2), (0, 0)):
            rng = np.random.default_rng(args.seed)
            drawn = [random_id_batch(rng, kind, pad, eos) for _ in range(args.n)]
            # every row cut at the maximum length: no padding, both layouts the same array, either reading right
            batches = [b for b in drawn if not np.array_equal(b[0][0], b[1][0])]
            if pad == 0 and eos == 2:
                print(f"{kind:<11} ({args.n - len(batches)} batches without padding left out)")
            for name, check in checks.items() if eos != pad else ():
                found = sum(bool(check(left)) for _, (left, _) in batches)
                flagged = sum(bool(check(right)) for (right, _), _ in batches)
                print(f"{kind:<11} {name + ' mask':<11} {found:>17,} {'':>6} {flagged:>20,}")
            left_reads = [padding_reading(ids, mask) for _, (mask, ids) in batches]
            right_reads = [padding_reading(ids, mask) for (mask, ids), _ in batches]
            label = "+ids" + (" eos=pad" if eos == pad else "")
            print(f"{kind:<11} {label:<11} {left_reads.count('left'):>17,} {left_reads.count('tie'):>6,} "
                  f"{right_reads.count('left'):>20,} {right_reads.count('tie'):>6,}")


if __name__ == "__main__":
    main()
