"""``treecredit demo``: the credit of every token-level estimator that runs on one small built-in group.

The group is four character-level answers to ``4-5+8*0``: two correct, two wrong, sharing prefixes,
so that the printed table shows where each estimator puts its credit.
"""

from __future__ import annotations

import argparse

import numpy as np

from treecredit._validation import fail, split_fix

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


DEMO_GIVES = ("steps",)
"""What the demo group can give an estimator (:data:`treecredit.registry.REQUIREMENTS`): step ends, at '='."""

_NOT_SAMPLED = {"mc_values": "Monte Carlo values of each prefix (mc_values)", "tree": "a sampled tree (tree_nodes)",
                "turns": "multi-turn episodes"}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--estimators", nargs="*", default=None, metavar="NAME",
                        help="token-level estimators to show, in this order, separated by spaces or commas "
                             "(grpo treerl, or grpo,treerl as compare takes them; default: every one that runs on "
                             "the demo's plain group: all but vine, which needs Monte Carlo values of each prefix)")


def runs_on_demo_group(spec) -> bool:
    """Whether estimator ``spec`` runs on the demo group (it needs nothing beyond :data:`DEMO_GIVES`)."""
    return not spec.missing(DEMO_GIVES)


def chosen_estimators(names: list[str] | None) -> list:
    """The specs to show for ``--estimators names`` (None: the default; a name may hold several, separated by
    commas), checked before anything is printed: unknown names and estimators that need inputs the demo does
    not sample are refused, repeats dropped."""
    import treecredit

    runnable = [n for n in treecredit.estimators("token") if runs_on_demo_group(treecredit.get_estimator(n))]
    if names is None:
        return [treecredit.get_estimator(n) for n in runnable]
    names = [part.strip() for name in names for part in name.split(",") if part.strip()]  # grpo,treerl too
    if not names:
        fail("estimators", "no names were given", "pass one or more names, e.g. --estimators grpo treerl, or leave "
             "out --estimators to show every one that runs on the demo group")
    specs = []
    for name in dict.fromkeys(names):  # repeats once, in the order given
        try:
            spec = treecredit.get_estimator(name)
        except ValueError as exc:
            problem = split_fix(str(exc))[0].removeprefix("estimator: ")
            fail("estimators", problem, f"use one of: {', '.join(runnable)}")
        missing = spec.missing(DEMO_GIVES)
        if missing:
            need = " and ".join(_NOT_SAMPLED.get(part, part) for part in missing[0].split("|"))
            where = (f"; see it in training, e.g. `treecredit train --sampler tree --estimator {name} "
                     "--mc-rollouts 4`") if spec.needs("mc_values") else ""
            fail("estimators", f"{name!r} needs {need}, which the demo does not sample",
                 f"leave it out of --estimators (the demo runs {', '.join(runnable)}){where}")
        specs.append(spec)
    return specs


def run(args: argparse.Namespace) -> int:
    import treecredit

    specs = chosen_estimators(args.estimators)
    batch = demo_batch()
    print(f"prompt {PROMPT!r}; one row per response, one column per token; '.' marks advantage 0\n")
    for spec in specs:
        adv, structure = _advantages_on_demo_group(treecredit, spec.name, spec, batch)
        print(f"== {spec.name} [{structure}]: {spec.summary}")
        for (text, reward), row in zip(RESPONSES, adv):
            cells = " ".join(f"{a:+.2f}" if a != 0 else "  .  " for a in row[: len(text)])
            print(f"  r={reward:.0f} {text:<15} {cells}")
        print()
    return 0
