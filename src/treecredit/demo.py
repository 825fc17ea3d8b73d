"""``treecredit demo``: every token-level estimator's credit on one small built-in group.

The group is four character-level answers to ``4-5+8*0``: two correct, two wrong, sharing prefixes,
so that the printed table shows where each estimator puts its credit.
"""

from __future__ import annotations

import argparse

import numpy as np

PROMPT = "4-5+8*0="
RESPONSES = [
    ("4-5+0=-1+0=-1;", 1.0),
    ("4-5+0=-1+0=-1;", 1.0),
    ("4-5+0=-1+0=1;", 0.0),
    ("4-13=-9;", 0.0),
]


def demo_batch() -> dict:
    """The demo group as ``compute_advantages`` keyword arguments (character codes as token ids)."""
    T = max(len(text) for text, _ in RESPONSES)
    ids = np.zeros((len(RESPONSES), T), dtype=np.int64)
    mask = np.zeros((len(RESPONSES), T), dtype=np.int64)
    for row, (text, _) in enumerate(RESPONSES):
        ids[row, : len(text)] = [ord(ch) for ch in text]
        mask[row, : len(text)] = 1
    rewards = np.array([reward for _, reward in RESPONSES])
    return dict(response_ids=ids, response_mask=mask, rewards=rewards, group_ids=np.zeros(len(RESPONSES), int))


def _advantages_on_demo_group(treecredit, name, spec, batch):
    """The estimator on the plain group (its default structure); with '=' as step delimiter if it needs steps."""
    try:
        return treecredit.compute_advantages(name, **batch), "default structure"
    except ValueError:
        if "delimiter" not in spec.options:
            raise
    return treecredit.compute_advantages(name, **batch, delimiter=[ord("=")]), "steps end at '='"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--estimators", nargs="*", default=None,
                        help="names to show (default: all that run on plain groups)")


def run(args: argparse.Namespace) -> int:
    import treecredit

    names = args.estimators or treecredit.estimators("token")
    batch = demo_batch()
    print(f"prompt {PROMPT!r}; one row per response, one column per token; '.' marks advantage 0\n")
    for name in names:
        spec = treecredit.get_estimator(name)
        try:
            adv, structure = _advantages_on_demo_group(treecredit, name, spec, batch)
        except ValueError as exc:
            print(f"== {name}: needs more than a plain group ({exc})\n")
            continue
        print(f"== {name} [{structure}]: {spec.summary}")
        for (text, reward), row in zip(RESPONSES, adv):
            cells = " ".join(f"{a:+.2f}" if a != 0 else "  .  " for a in row[: len(text)])
            print(f"  r={reward:.0f} {text:<15} {cells}")
        print()
    return 0
