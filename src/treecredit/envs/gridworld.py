"""``gridworld``: the embedded text environment, small enough for the small GPT to learn in minutes.

An instance (drawn from its seed) is a ``size × size`` grid with holes, a start and a goal, always
connected. Each turn the agent writes ``up``, ``down``, ``left`` or ``right``. Walking into the grid's
edge leaves it in place; walking into a hole ends the episode with reward 0; reaching the goal ends it
with reward 1 (``success``). The observation gives the goal's offset and what lies in each direction
(``.`` free, ``o`` hole, ``#`` edge, ``g`` goal; ``u d l r`` for up, down, left, right), e.g.
``goal +1+2 u# d. lo r.``: the goal is one row down and two columns right, the edge is above, a hole
to the left.

The exact state is the agent's cell: many paths lead to one cell, so the episodes of a group meet in
shared states (RTMC's premise). The scripted expert walks a shortest path (breadth-first search, ties
broken in the order up, down, left, right).
"""

from __future__ import annotations

from collections import deque

import numpy as np

from treecredit._validation import fail
from treecredit.envs.base import TextEnv

MOVES = {"up": (-1, 0), "down": (1, 0), "left": (0, -1), "right": (0, 1)}
ALIASES = {"u": "up", "n": "up", "north": "up", "d": "down", "s": "down", "south": "down", "l": "left",
           "w": "left", "west": "left", "r": "right", "e": "right", "east": "right"}
INTRO = "reach g, avoid o. moves: up down left right.\n"


class GridWorld(TextEnv):
    """Text grid world. Options: ``size`` (3..8), ``holes`` (share of cells, 0 ≤ h < 0.5), plus the base ones."""

    name = "gridworld"

    def __init__(self, *, size: int = 4, holes: float = 0.2, **common) -> None:
        super().__init__(**common)
        if isinstance(size, bool) or not isinstance(size, int) or not 3 <= size <= 8:
            fail("size", f"is {size!r}, must be an integer in 3..8", "pass e.g. size=4")
        if not isinstance(holes, (int, float)) or not 0 <= holes < 0.5:
            fail("holes", f"is {holes!r}, must be in [0, 0.5)", "pass e.g. holes=0.2")
        self.size, self.holes = size, float(holes)

    def _reset(self, seed: int) -> str:
        rng = np.random.default_rng([seed, 7])
        n = self.size
        for _ in range(1000):
            grid = rng.random((n, n)) < self.holes
            cells = [(r, c) for r in range(n) for c in range(n) if not grid[r, c]]
            if len(cells) < 2:
                continue
            start, goal = (cells[i] for i in rng.choice(len(cells), size=2, replace=False))
            self.hole, self.goal, self.pos = grid, tuple(goal), tuple(start)
            distance = self._distances().get(self.pos)
            if distance is not None and distance >= 2:
                return INTRO + self._view()
        fail("holes", f"is {self.holes}; no connected instance was found", "use fewer holes")

    def _distances(self) -> dict:
        """Shortest number of moves from each reachable cell to the goal (BFS over non-hole cells)."""
        dist = {self.goal: 0}
        queue = deque([self.goal])
        while queue:
            r, c = queue.popleft()
            for dr, dc in MOVES.values():
                cell = (r + dr, c + dc)
                if self._inside(cell) and not self.hole[cell] and cell not in dist:
                    dist[cell] = dist[(r, c)] + 1
                    queue.append(cell)
        return dist

    def _inside(self, cell) -> bool:
        return 0 <= cell[0] < self.size and 0 <= cell[1] < self.size

    def _what(self, cell) -> str:
        if not self._inside(cell):
            return "#"
        if cell == self.goal:
            return "g"
        return "o" if self.hole[cell] else "."

    def _view(self) -> str:
        dr, dc = self.goal[0] - self.pos[0], self.goal[1] - self.pos[1]
        around = " ".join(f"{name[0]}{self._what((self.pos[0] + m[0], self.pos[1] + m[1]))}"
                          for name, m in MOVES.items())
        return f"goal {dr:+d}{dc:+d} {around}"

    def valid_actions(self) -> list[str]:
        return list(MOVES)

    def action_help(self) -> str:
        return "moves: up down left right."

    def parse_action(self, text: str):
        word = text.strip().lower().rstrip(".")
        word = ALIASES.get(word, word)
        return word if word in MOVES else None

    def _step(self, action: str):
        m = MOVES[action]
        cell = (self.pos[0] + m[0], self.pos[1] + m[1])
        if not self._inside(cell):
            return f"edge. {self._view()}", 0.0, False, {"success": False}
        self.pos = cell
        if self.hole[cell]:
            return "fell in a hole.", 0.0, True, {"success": False}
        if cell == self.goal:
            return "reached the goal.", 1.0, True, {"success": True}
        return self._view(), 0.0, False, {"success": False}

    def state_key(self):
        return {"pos": list(self.pos)}

    def instance_key(self):
        return (self.hole.tobytes(), self.goal, self.first_observation)

    def expert_action(self) -> str | None:
        dist = self._distances()
        best = None
        for name, m in MOVES.items():
            cell = (self.pos[0] + m[0], self.pos[1] + m[1])
            if cell in dist and (best is None or dist[cell] < best[0]):
                best = (dist[cell], name)
        return None if best is None else best[1]

    def snapshot(self):
        return (self.seed, list(self.actions), self.pos, self.observation, self.done, self.first_observation)

    def restore(self, snapshot) -> None:
        seed, actions, pos, observation, done, first = snapshot
        self.reset(seed)
        self.actions, self.pos, self.observation, self.done = list(actions), pos, observation, done
