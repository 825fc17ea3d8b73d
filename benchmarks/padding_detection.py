"""How often :func:`treecredit.batch.looks_left_padded` tells the padding side of random batches (docs/estimators.md).

Draws ``--n`` random batches per kind (B 2-16 rows, T 20-200 columns; each row a random length, a quarter of the
rows cut at the maximum length, which loses their EOS), lays each out left-padded and right-padded, and counts
how many of each the check calls left-padded. Kinds: ``eos`` (every uncut row ends in a masked EOS token),
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

from treecredit.batch import looks_left_padded

KINDS = ("eos", "eos+tools", "eos+stop")


def random_batch(rng: np.random.Generator, kind: str) -> tuple[np.ndarray, np.ndarray]:
    """``(right, left)``: one random batch's ``(B, T)`` bool masks, right- and left-padded."""
    B, T = int(rng.integers(2, 17)), int(rng.integers(20, 201))
    lengths = rng.integers(2, T + 1, size=B)
    cut = rng.random(B) < 0.25
    lengths[cut] = T
    right = np.zeros((B, T), bool)
    left = np.zeros((B, T), bool)
    for i, n in enumerate(lengths):
        row = np.ones(n, bool)
        stop = kind == "eos+stop" and rng.random() < 0.25
        if not cut[i] and not stop:
            row[-1] = False  # the EOS left out of the loss
            if kind == "eos+tools" and rng.random() < 0.25 and n > 5:
                row[-1 - int(rng.integers(1, 4)):-1] = False
        if kind == "eos+tools" and rng.random() < 0.1 and n > 5:
            row[:int(rng.integers(1, 4))] = False
        right[i, :n] = row
        left[i, T - n:] = row
    return right, left


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
    print("kind        check     left-padded found   right-padded flagged   (of %d each)" % args.n)
    for kind in KINDS:
        rng = np.random.default_rng(args.seed)
        batches = [random_batch(rng, kind) for _ in range(args.n)]
        for name, check in checks.items():
            found = sum(bool(check(left)) for _, left in batches)
            flagged = sum(bool(check(right)) for right, _ in batches)
            print(f"{kind:<11} {name:<9} {found:>19,} {flagged:>22,}")


if __name__ == "__main__":
    main()
