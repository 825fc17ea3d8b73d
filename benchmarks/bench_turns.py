"""Turn-level estimators: throughput (turns/s) against the per-turn reference, and signature agreement.

    python benchmarks/bench_turns.py --quick
    python benchmarks/bench_turns.py          # 256 groups x 16 episodes x 30 turns

Episodes walk a small grid world (terminal reward 1 on reaching the goal), so one state is reached by
many paths. The second part measures what the RTMC referee asked for: how often signature matching
disagrees with exact state equality, for three signatures of the same visits.
"""

from __future__ import annotations

import argparse
import hashlib
import time

import numpy as np

MOVES = {"up": (0, 1), "down": (0, -1), "left": (-1, 0), "right": (1, 0)}


def grid_episodes(n_groups: int, n_episodes: int, n_turns: int, seed: int = 0) -> dict:
    """Random walks on a 5x5 grid from (0, 0); the goal (4, 4) ends an episode with reward 1."""
    rng = np.random.default_rng(seed)
    cols: dict[str, list] = {k: [] for k in ["group_ids", "episode_ids", "turn_index", "states", "actions",
                                              "rewards", "histories"]}
    names = list(MOVES)
    episode = 0
    for g in range(n_groups):
        for _ in range(n_episodes):
            x, y, history = 0, 0, ""
            for k in range(n_turns):
                action = names[int(rng.integers(0, 4))]
                state = {"pos": [x, y], "task": g % 7}
                dx, dy = MOVES[action]
                x, y = min(max(x + dx, 0), 4), min(max(y + dy, 0), 4)
                done = (x, y) == (4, 4) or k == n_turns - 1
                for key, value in zip(cols, [g, episode, k, state, action, float((x, y) == (4, 4)), history]):
                    cols[key].append(value)
                history += action[0]
                if done:
                    break
            episode += 1
    return cols


def _timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    import treecredit
    from treecredit.reference.turns import gigpo_reference, rtmc_reference
    from treecredit.signatures import action_signature, signature_agreement, state_signature

    n_groups, n_episodes, n_turns = (16, 16, 30) if args.quick else (256, 16, 30)
    data = grid_episodes(n_groups, n_episodes, n_turns)
    states = [state_signature(s) for s in data["states"]]
    actions = [action_signature(a) for a in data["actions"]]
    call = dict(group_ids=np.array(data["group_ids"]), episode_ids=np.array(data["episode_ids"]),
                turn_index=np.array(data["turn_index"]), state_sigs=np.array(states), action_sigs=np.array(actions),
                rewards=np.array(data["rewards"]))
    n = len(states)
    print(f"{n_groups} groups x {n_episodes} episodes, up to {n_turns} turns: {n} turns")
    small = {k: v[: min(n, 2000)] for k, v in call.items()}  # whole episodes of the first groups
    small_n = int(np.sum(small["group_ids"] < small["group_ids"][-1]))
    small = {k: v[:small_n] for k, v in small.items()}
    lists = [list(small[k]) for k in ["group_ids", "episode_ids", "turn_index", "state_sigs", "action_sigs", "rewards"]]
    references = {"rtmc": lambda: rtmc_reference(*lists),
                  "gigpo": lambda: gigpo_reference(*lists[:4], lists[5])}
    treecredit.compute_turn_advantages("grpo", **small)  # warm-up: imports and first-call costs
    for name in ["grpo", "rtmc", "gigpo"]:
        seconds = min(_timed(lambda: treecredit.compute_turn_advantages(name, **call)) for _ in range(3))
        line = f"{name:<6} {n / seconds / 1e6:6.2f} M turns/s ({seconds:.3f} s)"
        if name in references:
            slow = _timed(references[name])
            fast = min(_timed(lambda: treecredit.compute_turn_advantages(name, **small)) for _ in range(3))
            line += f"; on {small_n} turns: reference {small_n / slow:,.0f} turns/s, {slow / fast:,.0f}x slower"
        print(line)

    print("\nsignature matching vs exact state equality (pairs within a group):")
    candidates = {
        "blake2b-128 of the canonical state": states,
        "blake2b truncated to a 1-byte digest": [state_signature(s, digest_size=1) for s in data["states"]],
        "hash of the action history": [hashlib.blake2b(h.encode(), digest_size=8).hexdigest()
                                       for h in data["histories"]],
    }
    for label, sigs in candidates.items():
        r = signature_agreement(data["states"], sigs, groups=data["group_ids"])
        print(f"  {label:<38} collision rate {r.collision_rate:.4f}  false-positive rate {r.false_positive_rate:.5f}"
              f"  false-negative rate {r.false_negative_rate:.4f}  ({r.n_pairs:,} pairs)")


if __name__ == "__main__":
    main()
