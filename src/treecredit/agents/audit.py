"""Signature audit: how well text signatures of a state agree with the environment's exact state.

Episodes are played by an ε-noisy scripted expert (no model), ``episodes_per_instance`` per instance
(one group per instance, as RTMC matches states within a group). At every turn the exact state
(``env.state_key()``) and each candidate signature are recorded; :func:`treecredit.signature_agreement`
then counts, over pairs of turns of one group, signatures shared by different states (false positives:
wrongly merged nodes), one state under different signatures (false negatives: split nodes), and
signatures standing for several states (collisions). The state-revisit rate under each signature is
reported too (what the signature would let RTMC share).
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from treecredit.signatures import canonical_bytes, signature_agreement, state_signature


def signature_audit(make_env: Callable, seeds: list[int], episodes_per_instance: int, *, noise: float = 0.3,
                    seed: int = 0, extra: dict | None = None) -> dict:
    """Audit the observation-text signature (and ``extra`` name → ``fn(env) -> text`` signatures).

    Returns ``{signature name: {collision_rate, false_positive_rate, false_negative_rate, revisit_rate,
    n_states, n_signatures}, "turns": N, "exact_revisit_rate": ...}``.
    """
    from treecredit.agents.policy import noisy_expert

    rng = np.random.default_rng(seed)
    choose = noisy_expert(rng, noise)
    makers = {"observation": lambda env: env.observation, **(extra or {})}
    states, groups, episodes, sigs = [], [], [], {name: [] for name in makers}
    env = make_env()
    episode = 0
    for group, instance in enumerate(seeds):
        for _ in range(episodes_per_instance):
            env.reset(instance)
            while not env.done:
                states.append(canonical_bytes(env.state_key()))
                groups.append(group)
                episodes.append(episode)
                for name, fn in makers.items():
                    sigs[name].append(state_signature(" ".join(fn(env).split())))
                env.step(choose(env))
            episode += 1
    if hasattr(env, "close"):
        env.close()
    out: dict = {"turns": len(states), "episodes": episode,
                 "exact_revisit_rate": _revisit(groups, episodes, states)}
    for name, values in sigs.items():
        agreement = signature_agreement(states, values, groups=groups, exact_key=lambda s: s)
        out[name] = {"collision_rate": agreement.collision_rate,
                     "false_positive_rate": agreement.false_positive_rate,
                     "false_negative_rate": agreement.false_negative_rate,
                     "false_positive_pairs": agreement.false_positive_pairs,
                     "false_negative_pairs": agreement.false_negative_pairs,
                     "n_states": agreement.n_states, "n_signatures": agreement.n_signatures,
                     "revisit_rate": _revisit(groups, episodes, values)}
    return out


def _revisit(groups, episodes, keys) -> float:
    """Share of turns whose key another episode of the same group also visited."""
    seen: dict = {}
    for g, e, k in zip(groups, episodes, keys):
        seen.setdefault((g, k), set()).add(e)
    return float(np.mean([len(seen[(g, k)]) > 1 for g, k in zip(groups, keys)])) if keys else 0.0
