"""``textworld``: TextWorld text adventures generated on this machine (extra ``textworld``).

Games come from the ``textworld`` package's own generator and compiler (``textworld.make``), so nothing
is downloaded. Instance ``seed`` is game number ``seed % pool`` of a pool of ``pool`` games generated
with ``rooms``, ``objects`` and ``quest_length`` and cached as ``.z8`` files under ``cache_dir``
(default: ``$TREECREDIT_CACHE/textworld``); a held-out set is a different subset of the pool.

- observation: the game's feedback text, whitespace-collapsed (the first one is the objective and the
  room description, without the banner);
- action: one of the game's admissible commands (lower-cased, whitespace-normalised); anything else is
  refused by the parser (a no-op with a message, ``invalid_penalty``);
- reward: 1 when the quest is won (``success``), 0 otherwise; a lost game ends the episode;
- exact state (``state_key``): the sorted world facts (TextWorld's logical propositions), so two
  episodes that reach the same world by different command orders meet in one state;
- expert: the first of TextWorld's ``policy_commands`` (its walkthrough from the current state).

Forking replays the recorded commands from the start (deterministic games).

``view="compact"`` plays the same games (same generator seeds) through TextWorld's logic engine alone,
with short observations rendered from the world facts, for the small character-level GPT
(:mod:`treecredit.envs.textworld_compact`); the exact state is the same world facts. Its games need no
compiler (``textworld.generator.make_game``, saved as JSON) and forking copies the engine's state.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from treecredit._validation import check_choice, fail
from treecredit.envs.base import TextEnv

VIEWS = ("text", "compact")

_SPACE = re.compile(r"\s+")
_STATUS = re.compile(r">?\s*-= [^=]+ =-\s*\d+/\d+")  # the status line (room, score/moves) of the feedback


def _clean(text: str) -> str:
    return _SPACE.sub(" ", _STATUS.sub(" ", text or "")).strip()


class TextWorldEnv(TextEnv):
    """TextWorld games. Options: ``rooms``, ``objects``, ``quest_length``, ``pool``, ``view``, ``cache_dir``."""

    name = "textworld"

    def __init__(self, *, rooms: int = 3, objects: int = 4, quest_length: int = 3, pool: int = 16,
                 view: str = "text", cache_dir: str = "", **common) -> None:
        common.setdefault("max_turns", 12)
        super().__init__(**common)
        for name, value, low in (("rooms", rooms, 1), ("objects", objects, 0), ("quest_length", quest_length, 1),
                                 ("pool", pool, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                fail(name, f"is {value!r}, must be an integer ≥ {low}", f"pass e.g. {name}={max(low, 3)}")
        check_choice(view, VIEWS, "view")
        self.rooms, self.objects, self.quest_length, self.pool, self.view = rooms, objects, quest_length, pool, view
        if not cache_dir:
            base = os.environ.get("TREECREDIT_CACHE", str(Path.home() / ".cache" / "treecredit"))
            cache_dir = str(Path(base) / "textworld")
        self.cache_dir = Path(cache_dir)
        self.tw_env = None
        self.game_number = -1
        self.compact = None  # the CompactGame of the current episode (view="compact")

    def game_file(self, number: int) -> Path:
        """The compiled game ``number`` of the pool (generated on first use, then cached)."""
        import textworld

        name = f"r{self.rooms}-o{self.objects}-q{self.quest_length}-g{number}.z8"
        path = self.cache_dir / name
        if not path.exists():
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            options = textworld.GameOptions()
            options.seeds = 1000 + number
            options.nb_rooms, options.nb_objects, options.quest_length = self.rooms, self.objects, self.quest_length
            options.path = str(path)
            options.force_recompile = True
            textworld.make(options)
        return path

    def _start(self, number: int):
        import textworld

        if self.tw_env is None or self.game_number != number:
            if self.tw_env is not None:
                self.tw_env.close()
            infos = textworld.EnvInfos(facts=True, admissible_commands=True, description=True, objective=True,
                                       inventory=True, won=True, lost=True, policy_commands=True)
            self.tw_env = textworld.start(str(self.game_file(number)), request_infos=infos)
            self.game_number = number
        return self.tw_env

    def instances(self, rng, n: int) -> list[int]:
        return [int(s) for s in rng.integers(0, self.pool, size=n)]

    def instance_key(self):
        return self.seed % self.pool

    def _reset(self, seed: int) -> str:
        if self.view == "compact":
            from treecredit.envs.textworld_compact import CompactGame, compact_game

            number = seed % self.pool
            path = self.cache_dir / f"compact-r{self.rooms}-o{self.objects}-q{self.quest_length}-g{number}.json"
            game = compact_game(path, seed=1000 + number, rooms=self.rooms, objects=self.objects,
                                quest_length=self.quest_length)
            self.compact = CompactGame(game)
            return f"{self.compact.goal()}\n{self.compact.view()}"
        self.game_state = self._start(seed % self.pool).reset()
        return _clean(f"{self.game_state['objective']} {self.game_state['description']}")

    def parse_action(self, text: str):
        command = _clean(text).lower()
        return command if command in self._admissible() else None

    def _admissible(self) -> set:
        if self.compact is not None:
            return set(self.compact.commands())
        return {_clean(c).lower() for c in self.game_state["admissible_commands"] or []}

    def valid_actions(self) -> list[str]:
        return sorted(self._admissible())

    def action_help(self) -> str:
        if self.compact is not None:  # short: the view says what can be done
            return self.compact.view()
        return "valid commands: " + ", ".join(sorted(self._admissible())) + "."

    def _step(self, action: str):
        if self.compact is not None:
            self.compact.step(action)
            won = self.compact.won
            return self.compact.view(), 1.0 if won else 0.0, won or self.compact.lost, {"success": won}
        self.game_state, _, done = self.tw_env.step(action)
        won = bool(self.game_state["won"])
        return _clean(self.game_state.feedback), 1.0 if won else 0.0, bool(done or won or self.game_state["lost"]), \
            {"success": won}

    def state_key(self):
        if self.compact is not None:
            return self.compact.facts()
        return sorted(str(fact) for fact in self.game_state["facts"])

    def look(self) -> str:
        """The room description plus the inventory text (what an agent could see by typing look, inventory)."""
        if self.compact is not None:
            return self.compact.view()
        return _clean(f"{self.game_state['description']} {self.game_state['inventory']}")

    def expert_action(self) -> str | None:
        if self.compact is not None:
            return self.compact.expert()
        commands = self.game_state["policy_commands"] or []
        return _clean(commands[0]).lower() if commands else None

    def snapshot(self):
        if self.compact is None:
            return super().snapshot()
        return (self.seed, list(self.actions), self.compact.copy(), self.observation, self.done,
                self.first_observation)

    def restore(self, snapshot) -> None:
        if self.view != "compact":
            return super().restore(snapshot)
        seed, actions, game, observation, done, first = snapshot
        self.reset(seed)
        self.actions, self.compact, self.observation, self.done = list(actions), game.copy(), observation, done

    def close(self) -> None:
        if self.tw_env is not None:
            self.tw_env.close()
            self.tw_env = None
