"""The compact view of a TextWorld game: TextWorld's own logic engine, observations rendered from its facts.

A TextWorld game is a set of logical facts (``at(P, kitchen)``, ``on(worm, bookshelf)``, ``closed(chest)``)
and rules (actions with pre- and post-conditions). ``textworld.start`` runs the compiled game in a
Z-machine for its prose and tracks the facts with ``textworld.generator.game.GameProgression``; the
compact view runs the ``GameProgression`` alone (no Inform 7 compiler, no Z-machine) and writes a short
observation from the facts, for an agent whose context holds a few hundred characters:

- first observation: ``goal: <the quest's commands, comma-separated>.`` and the view below. TextWorld's
  objective text is prose written from the same commands ("First, go south. Then, take the worm from
  the bookshelf. ..."); the compact goal lists them without the prose;
- view: ``<room>. exits: <direction>[ (<door> <open|closed|locked>)], .... here: <thing>[ (<state>[:
  <contents>])], .... inv: <carried things>.`` A closed container's content is not shown (as in the game's
  text), so the view is not always the exact state;
- actions: TextWorld's commands as the game writes them (``take worm from bookshelf``, ``go south``),
  except ``look``, ``inventory`` and ``examine ...``, which only print text that the view already shows;
- exact state: the world facts with entity names (the same facts as ``textworld.start`` reports).

The games are ``textworld.generator.make_game`` games (the generator behind ``textworld.make``, without
compiling them), saved as JSON and loaded once per process.
"""

from __future__ import annotations

from pathlib import Path

_GAMES: dict[str, object] = {}  # path -> textworld Game (immutable once loaded; shared by the episodes)
_SKIP = ("look", "inventory", "examine")
_DIRECTIONS = ("north", "south", "east", "west")


def compact_game(path: Path, *, seed: int, rooms: int, objects: int, quest_length: int):
    """The game at ``path`` (a JSON file), generated with ``textworld.generator.make_game`` on first use
    (once across processes, atomically; a half-written file found there is made again:
    :mod:`treecredit.envs.textworld_cache`)."""
    from textworld import GameOptions
    from textworld.generator import make_game
    from textworld.generator.game import Game

    from treecredit.envs.textworld_cache import make_once

    key = str(path)
    if key not in _GAMES:
        def build(folder: Path) -> None:
            options = GameOptions()
            options.seeds = seed
            options.nb_rooms, options.nb_objects, options.quest_length = rooms, objects, quest_length
            make_game(options).save(str(folder / path.name))

        make_once([path], build)
        _GAMES[key] = Game.load(key)
    return _GAMES[key]


class CompactGame:
    """One play of a TextWorld game through its logic engine (``GameProgression``)."""

    def __init__(self, game) -> None:
        from textworld.generator.game import GameProgression
        from textworld.generator.inform7 import Inform7Game

        self.game = game
        self.inform7 = Inform7Game(game)
        self.progression = GameProgression(game, track_quests=True)
        self.names = {key: info.name or key for key, info in game.infos.items()}
        self._commands: dict | None = None

    def copy(self) -> CompactGame:
        other = object.__new__(CompactGame)
        other.game, other.inform7, other.names = self.game, self.inform7, self.names
        other.progression, other._commands = self.progression.copy(), self._commands
        return other

    # -- rules ----------------------------------------------------------------------------------
    def commands(self) -> dict:
        """The valid commands now, ``{command text: logic action}`` (look/inventory/examine left out)."""
        if self._commands is not None:
            return self._commands
        out = {}
        actions = self.progression.valid_actions
        for action, command in zip(actions, self.inform7.gen_commands_from_actions(actions)):
            if not command.startswith(_SKIP):
                out.setdefault(command.lower(), action)
        self._commands = out
        return out

    def step(self, command: str) -> None:
        self.progression.update(self.commands()[command])
        self._commands = None

    @property
    def won(self) -> bool:
        return bool(self.progression.completed)

    @property
    def lost(self) -> bool:
        return bool(self.progression.failed)

    def expert(self) -> str | None:
        """The first command of TextWorld's winning policy from the current state (None when there is none)."""
        policy = self.progression.winning_policy
        return self.inform7.gen_commands_from_actions(policy[:1])[0].lower() if policy else None

    def facts(self) -> list[str]:
        """The world facts with entity names, sorted (the exact state)."""
        return sorted(str(self.inform7.get_human_readable_fact(f)) for f in self.progression.state.facts)

    # -- text -----------------------------------------------------------------------------------
    def goal(self) -> str:
        commands = [c for quest in self.game.quests for c in quest.commands]
        return "goal: " + ", ".join(commands) + "."

    def view(self) -> str:
        """The room, its exits, the things in it (with their state and visible contents) and the inventory."""
        facts = [(f.name, [a.name for a in f.arguments]) for f in self.progression.state.facts]
        where = {args[1] for name, args in facts if name == "at" and args[0] == "P"}
        room = next(iter(where))
        states = {args[0]: name for name, args in facts if name in ("open", "closed", "locked") and len(args) == 1}
        inside: dict[str, list[str]] = {}
        for name, args in facts:
            if name in ("in", "on") and len(args) == 2:
                inside.setdefault(args[1], []).append(args[0])
        doors = {(args[0], args[2]): args[1] for name, args in facts if name == "link"}
        exits = []
        for name, args in sorted(facts):
            direction = name[:-3] if name.endswith("_of") else ""
            if direction in _DIRECTIONS and args[1] == room:
                door = doors.get((room, args[0]))
                exits.append(direction + (f" ({self.names[door]} {states.get(door, 'open')})" if door else ""))
        here = [self._thing(x, states, inside) for name, args in sorted(facts) if name == "at" and args[1] == room
                and args[0] != "P" and not args[0].startswith("d")
                for x in args[:1]]
        carried = [self.names[x] for x in sorted(inside.get("I", []))]
        return (f"{self.names[room]}. exits: {', '.join(exits) or 'none'}. here: {', '.join(here) or 'nothing'}. "
                f"inv: {', '.join(carried) or 'nothing'}.")

    def _thing(self, key: str, states: dict, inside: dict) -> str:
        name, state = self.names[key], states.get(key)
        contents = ", ".join(self.names[x] for x in sorted(inside.get(key, [])))
        if state is None:  # a supporter (or a plain object): what is on it shows
            return f"{name} (on: {contents})" if contents else name
        if state == "open":
            return f"{name} (open: {contents or 'empty'})"
        return f"{name} ({state})"
