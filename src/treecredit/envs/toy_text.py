"""gymnasium's toy-text environments as text: FrozenLake and CliffWalking (extra ``gym``).

The simulator is gymnasium's own (``gymnasium.make``); this module only writes its integer state as
text and parses the agent's move words. The exact state is gymnasium's integer state, which recurs
across the episodes of a group (many paths lead to one cell).

- ``frozenlake``: instance ``seed`` is ``generate_random_map(size, p, seed)`` (a held-out set is a
  different set of maps); reward 1 at the goal; a hole ends the episode. ``slippery`` is off by default.
- ``cliffwalking``: one fixed map (``single_instance``: no held-out set, evaluation replays it); −1 per
  move, −100 and back to the start for the cliff, scaled by ``reward_scale`` (default 0.01).

``max_turns`` is the turn limit (gymnasium's env is built with ``max_episode_steps=max_turns``); an episode
its time limit ends has ``info["truncated"]``.

The expert (for a warm start) walks a shortest path over the transition table ``P`` to the goal,
avoiding holes and the cliff.
"""

from __future__ import annotations

from abc import abstractmethod
from collections import deque

from treecredit._validation import fail
from treecredit.envs.base import TextEnv


class _ToyText(TextEnv):
    """Common text wrapper over a gymnasium toy-text env with a transition table ``P`` and a grid ``shape``."""

    moves: dict[str, int] = {}

    @abstractmethod
    def _make(self, seed: int):
        """The gymnasium env of instance ``seed`` (each subclass builds its own)."""

    def _reset(self, seed: int) -> str:
        self.env = self._make(seed)
        self.state, _ = self.env.reset(seed=seed)
        self.state = int(self.state)
        return f"{self._intro()}\n{self._where()}"

    def _intro(self) -> str:
        return self._intro_moves()

    def _where(self) -> str:
        row, col = divmod(self.state, self.ncol)
        return f"at row {row} col {col}"

    def valid_actions(self) -> list[str]:
        return list(self.moves)

    def action_help(self) -> str:
        return self._intro_moves()

    def _intro_moves(self) -> str:
        return "moves: " + " ".join(self.moves) + "."

    def parse_action(self, text: str):
        word = text.strip().lower().rstrip(".")
        return word if word in self.moves else None

    def _step(self, action: str):
        state, reward, terminated, truncated, _ = self.env.step(self.moves[action])
        self.state = int(state)
        success = bool(terminated) and self.state in self.goal_states
        # gymnasium's own time limit (max_episode_steps = max_turns, see _make) ends it as truncated too
        return self._describe(reward, terminated), self._scale(reward), bool(terminated or truncated), \
            {"success": success, "truncated": bool(truncated and not terminated)}

    def _describe(self, reward, terminated) -> str:
        return self._where()

    def _scale(self, reward) -> float:
        return float(reward)

    def state_key(self):
        return {"state": self.state}

    def instance_key(self):
        return self.first_observation

    @property
    @abstractmethod
    def goal_states(self) -> set:
        """The states that end an episode with success."""

    def _bad(self, reward, done, nxt) -> bool:
        return False

    def expert_action(self) -> str | None:
        table = self.env.unwrapped.P
        goals = self.goal_states
        dist = {g: 0 for g in goals}
        queue = deque(goals)
        reverse: dict[int, list[int]] = {}
        for s, actions in table.items():
            for outcomes in actions.values():
                prob, nxt, reward, done = max(outcomes, key=lambda o: o[0])
                if not self._bad(reward, done, int(nxt)) and not (done and int(nxt) not in goals):
                    reverse.setdefault(int(nxt), []).append(int(s))
        while queue:
            cell = queue.popleft()
            for prev in reverse.get(cell, []):
                if prev not in dist:
                    dist[prev] = dist[cell] + 1
                    queue.append(prev)
        best = None
        for name, a in self.moves.items():
            prob, nxt, reward, done = max(table[self.state][a], key=lambda o: o[0])
            nxt = int(nxt)
            if nxt in dist and not self._bad(reward, done, nxt) and (best is None or dist[nxt] < best[0]):
                best = (dist[nxt], name)
        return None if best is None else best[1]


class FrozenLakeText(_ToyText):
    """FrozenLake on random ``size × size`` maps. Options: ``size`` (3..8), ``frozen`` (p), ``slippery``."""

    name = "frozenlake"
    moves = {"left": 0, "down": 1, "right": 2, "up": 3}

    def __init__(self, *, size: int = 4, frozen: float = 0.8, slippery: bool = False, **common) -> None:
        super().__init__(**common)
        if isinstance(size, bool) or not isinstance(size, int) or not 3 <= size <= 8:
            fail("size", f"is {size!r}, must be an integer in 3..8", "pass e.g. size=4")
        if not isinstance(frozen, (int, float)) or not 0 < frozen <= 1:
            fail("frozen", f"is {frozen!r}, the share of frozen cells must be in (0, 1]", "pass e.g. frozen=0.8")
        self.size, self.frozen, self.slippery, self.ncol = size, float(frozen), bool(slippery), size

    def _make(self, seed: int):
        import gymnasium
        from gymnasium.envs.toy_text.frozen_lake import generate_random_map

        self.desc = generate_random_map(size=self.size, p=self.frozen, seed=seed)
        # max_turns governs, not FrozenLake-v1's own limit (100 steps), which capped a larger max_turns
        return gymnasium.make("FrozenLake-v1", desc=self.desc, is_slippery=self.slippery,
                              max_episode_steps=self.max_turns)

    def _intro(self) -> str:
        return "map (s start, f ice, h hole, g goal):\n" + "\n".join(self.desc).lower() + "\n" + super()._intro()

    @property
    def goal_states(self) -> set:
        flat = "".join(self.desc)
        return {i for i, ch in enumerate(flat) if ch == "G"}

    def _describe(self, reward, terminated) -> str:
        if terminated:
            return "reached the goal." if self.state in self.goal_states else "fell in a hole."
        return self._where()


class CliffWalkingText(_ToyText):
    """CliffWalking (4 × 12). Options: ``reward_scale`` (> 0) multiplies gymnasium's rewards."""

    negative_rewards = "−1 a move and −100 at the cliff, times reward_scale"  # returns leave [0, 1]

    name = "cliffwalking"
    single_instance = True
    moves = {"up": 0, "right": 1, "down": 2, "left": 3}
    ncol = 12

    def __init__(self, *, reward_scale: float = 0.01, **common) -> None:
        common.setdefault("max_turns", 20)
        super().__init__(**common)
        if not isinstance(reward_scale, (int, float)) or not reward_scale > 0:
            fail("reward_scale", f"is {reward_scale!r}, must be > 0", "pass e.g. reward_scale=0.01")
        self.reward_scale = float(reward_scale)

    def _make(self, seed: int):
        import gymnasium

        return gymnasium.make("CliffWalking-v1", max_episode_steps=self.max_turns)  # max_turns governs

    def _intro(self) -> str:
        return "grid 4x12, start row 3 col 0, goal row 3 col 11, cliff row 3 col 1-10.\n" + super()._intro()

    @property
    def goal_states(self) -> set:
        return {47}

    def _bad(self, reward, done, nxt) -> bool:
        return reward <= -100

    def _describe(self, reward, terminated) -> str:
        prefix = "fell off the cliff, back to start. " if reward <= -100 else ""
        return ("reached the goal." if terminated else prefix + self._where())

    def _scale(self, reward) -> float:
        return float(reward) * self.reward_scale
