"""``textworld``: TextWorld text adventures generated on this machine (extra ``textworld``).

Games come from the ``textworld`` package's own generator and compiler (``textworld.make``), so nothing
is downloaded. Instance ``seed`` is game number ``seed % pool`` of a pool of ``pool`` games generated
with ``rooms``, ``objects`` and ``quest_length`` and cached as ``.z8`` files under ``cache_dir``
(default: ``$TREECREDIT_CACHE/textworld``); a held-out set is a different subset of the pool. Each game is
made once across processes and written atomically (:mod:`treecredit.envs.textworld_cache`).

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

``view="menu"`` (with ``choices=True``) is the compact engine with the shortest observations: the goal
and the numbered commands first, then after each turn the numbered commands alone (no room view): an
episode of 4 turns is ≈ 400 characters instead of ≈ 1,000, which is what made RL affordable on two CPU
cores.

``choices=True`` lists the admissible commands, numbered, at the end of every observation
(``choices: 1) go east; 2) take worm from bookshelf.``, sorted by text) and accepts the number of one
(``2``) or the command itself as the action: the choice-based setting of text-game agents, where the
game offers its valid actions and the agent picks one (He et al., "Deep Reinforcement Learning with a
Natural Language Action Space", arXiv:1511.04636; GiGPO's ALFWorld prompts list the admissible actions
the same way, arXiv:2505.10978). It makes TextWorld learnable by the small character-level GPT, which
did not learn to spell whole commands in its warm-start budget. A number outside the list, or any other
text, is invalid (a no-op answered by ``invalid action. <view> choices: ...``, ``invalid_penalty``). In
this mode the expert answers with the number of its command and ``valid_actions`` are the numbers;
``canonical_action`` is the command, so ``2`` and the command it names have one action signature.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from treecredit._validation import check_choice, fail
from treecredit.envs.base import TextEnv

VIEWS = ("text", "compact", "menu")

_SPACE = re.compile(r"\s+")
_STATUS = re.compile(r">?\s*-= [^=]+ =-\s*\d+/\d+")  # the status line (room, score/moves) of the feedback


def _clean(text: str) -> str:
    return _SPACE.sub(" ", _STATUS.sub(" ", text or "")).strip()


class TextWorldEnv(TextEnv):
    """TextWorld games. Options: ``rooms``, ``objects``, ``quest_length``, ``pool``, ``view``, ``choices``,
    ``cache_dir``."""

    name = "textworld"

    def __init__(self, *, rooms: int = 3, objects: int = 4, quest_length: int = 3, pool: int = 16,
                 view: str = "text", choices: bool = False, cache_dir: str = "", **common) -> None:
        common.setdefault("max_turns", 12)
        super().__init__(**common)
        for name, value, low in (("rooms", rooms, 1), ("objects", objects, 0), ("quest_length", quest_length, 1),
                                 ("pool", pool, 1)):
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                fail(name, f"is {value!r}, must be an integer ≥ {low}", f"pass e.g. {name}={max(low, 3)}")
        check_choice(view, VIEWS, "view")
        if not isinstance(choices, bool):
            fail("choices", f"is {choices!r}, must be true or false", "pass choices=true or leave it out")
        if view == "menu" and not choices:
            fail("view", "is 'menu' (the goal, then only the numbered commands), which needs choices=true",
                 "pass choices=true, or view=compact")
        self.choices = choices
        self.rooms, self.objects, self.quest_length, self.pool, self.view = rooms, objects, quest_length, pool, view
        if not cache_dir:
            base = os.environ.get("TREECREDIT_CACHE", str(Path.home() / ".cache" / "treecredit"))
            cache_dir = str(Path(base) / "textworld")
        self.cache_dir = Path(cache_dir)
        self.tw_env = None
        self.game_number = -1
        self.compact = None  # the CompactGame of the current episode (view="compact")

    def game_file(self, number: int) -> Path:
        """The compiled game ``number`` of the pool: ``NAME.z8`` and the ``NAME.json`` TextWorld reads
        beside it, generated on first use (once across processes, atomically: a killed generation leaves
        nothing half-written in place, and a half-written file found there is made again;
        :mod:`treecredit.envs.textworld_cache`), then cached."""
        import textworld

        from treecredit.envs.textworld_cache import make_once

        name = f"r{self.rooms}-o{self.objects}-q{self.quest_length}-g{number}"
        path = self.cache_dir / f"{name}.z8"

        def build(folder: Path) -> None:
            options = textworld.GameOptions()
            options.seeds = 1000 + number
            options.nb_rooms, options.nb_objects, options.quest_length = self.rooms, self.objects, self.quest_length
            options.path = str(folder / path.name)
            options.force_recompile = True
            textworld.make(options)

        make_once([self.cache_dir / f"{name}.json", path], build)
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

    def instance_count(self) -> int:
        return self.pool

    def _reset(self, seed: int) -> str:
        if self.view != "text":
            from treecredit.envs.textworld_compact import CompactGame, compact_game

            number = seed % self.pool
            path = self.cache_dir / f"compact-r{self.rooms}-o{self.objects}-q{self.quest_length}-g{number}.json"
            game = compact_game(path, seed=1000 + number, rooms=self.rooms, objects=self.objects,
                                quest_length=self.quest_length)
            self.compact = CompactGame(game)
            return self._with_menu(f"{self.compact.goal()}\n{self._room()}")
        self.game_state = self._start(seed % self.pool).reset()
        return self._with_menu(_clean(f"{self.game_state['objective']} {self.game_state['description']}"))

    def parse_action(self, text: str):
        command = _clean(text).lower()
        if self.choices and command.isdigit():  # the number of a listed command (1-based)
            listed = self._listed()
            number = int(command)
            return listed[number - 1] if 1 <= number <= len(listed) else None
        return command if command in self._admissible() else None

    def step(self, action: str):
        """As :meth:`TextEnv.step`; with ``choices=True`` a valid number is recorded as the command it names
        (the history, its signature and a replayed fork then mean the same command in every state)."""
        if self.choices and self.seed is not None and not self.done:
            action = self.parse_action(action) or action
        return super().step(action)

    def _listed(self) -> list[str]:
        """The admissible commands in the order of the numbered list (sorted)."""
        return sorted(self._admissible())

    def menu(self) -> str:
        """``choices: 1) <command>; 2) <command>.``: the numbered admissible commands (``choices=True``)."""
        return "choices: " + "; ".join(f"{i}) {c}" for i, c in enumerate(self._listed(), 1)) + "."

    def _with_menu(self, text: str) -> str:
        return "\n".join(part for part in (text.strip(), self.menu() if self.choices else "") if part)

    def _room(self) -> str:
        """The compact view of the room (empty for ``view="menu"``, whose observations are the list alone)."""
        return "" if self.view == "menu" else self.compact.view()

    def _admissible(self) -> set:
        if self.compact is not None:
            return set(self.compact.commands())
        return {_clean(c).lower() for c in self.game_state["admissible_commands"] or []}

    def valid_actions(self) -> list[str]:
        listed = self._listed()
        return [str(i) for i in range(1, len(listed) + 1)] if self.choices else listed

    def action_help(self) -> str:
        if self.compact is not None:  # short: the view says what can be done
            return self._with_menu(self._room())
        if self.choices:
            return self.menu()
        return "valid commands: " + ", ".join(sorted(self._admissible())) + "."

    def _step(self, action: str):
        if self.compact is not None:
            self.compact.step(action)
            won = self.compact.won
            done = won or self.compact.lost
            return self._after(self._room(), done), 1.0 if won else 0.0, done, {"success": won}
        self.game_state, _, done = self.tw_env.step(action)
        won = bool(self.game_state["won"])
        done = bool(done or won or self.game_state["lost"])
        return self._after(_clean(self.game_state.feedback), done), 1.0 if won else 0.0, done, {"success": won}

    def _after(self, text: str, done: bool) -> str:
        return text if done else self._with_menu(text)  # a finished game offers no choices

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
            return self._as_choice(self.compact.expert())
        commands = self.game_state["policy_commands"] or []
        return self._as_choice(_clean(commands[0]).lower()) if commands else None

    def _as_choice(self, command: str | None) -> str | None:
        """``command`` as the agent writes it: its number in the list when ``choices=True``."""
        if command is None or not self.choices:
            return command
        listed = self._listed()
        return str(listed.index(command) + 1) if command in listed else command

    def snapshot(self):
        if self.compact is None:
            return super().snapshot()
        return (self.seed, list(self.actions), self.compact.copy(), self.observation, self.done,
                self.first_observation)

    def restore(self, snapshot) -> None:
        if self.view == "text":
            return super().restore(snapshot)
        seed, actions, game, observation, done, first = snapshot
        self.reset(seed)
        self.actions, self.compact, self.observation, self.done = list(actions), game.copy(), observation, done

    def close(self) -> None:
        if self.tw_env is not None:
            self.tw_env.close()
            self.tw_env = None
