"""What an episode is and how episodes are sampled: :class:`EpisodeSettings` (checked when built) and the
:class:`Episode` record that :func:`~treecredit.agents.episodes.play` fills turn by turn.

Split from :mod:`treecredit.agents.episodes` (which plays the episodes and re-exports these names).
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field, fields

from treecredit._validation import check_positive, fail


@dataclass
class EpisodeSettings:
    """How episodes are sampled.

    Attributes:
        temperature, top_p: decoding (temperature 0 = greedy).
        marker: the end-of-action text (default a newline); the sampler stops an action there.
        turn_prefix: text appended after every observation, before the next action.
        action_max_tokens: the longest action; one that reaches it without the marker is cut (counted).
        max_episode_tokens: the longest response row (actions + observations); the episode ends there.
        fork_at: turns (0-based) before which each live episode forks into ``fork_children`` copies.
        fork_children: copies per fork (≥ 2).
    """

    temperature: float = 1.0
    top_p: float = 1.0
    marker: str = "\n"
    turn_prefix: str = "\n> "
    action_max_tokens: int = 12
    max_episode_tokens: int = 400
    fork_at: tuple = ()
    fork_children: int = 2

    def __post_init__(self) -> None:
        check_positive(self.temperature, "temperature", allow_zero=True)
        if not 0 < self.top_p <= 1:
            fail("top_p", f"is {self.top_p}, must be in (0, 1]", "pass top_p=1.0")
        for name in ("marker", "turn_prefix"):  # text (a run's --sampler-option values were converted already)
            if not isinstance(getattr(self, name), str):
                fail(name, f"is {getattr(self, name)!r} ({type(getattr(self, name)).__name__}), not text",
                     f"pass a str, e.g. {name}={EPISODE_DEFAULTS[name]!r}")
        if not self.marker:
            fail("marker", "is empty", "pass the end-of-action text, e.g. a newline")
        for name in ("action_max_tokens", "max_episode_tokens"):
            value = getattr(self, name)
            if not isinstance(value, numbers.Integral) or isinstance(value, bool):
                fail(name, f"is {value!r} ({type(value).__name__}), not a whole number of tokens",
                     f"pass an int, e.g. {name}={EPISODE_DEFAULTS[name]}")
            if value < 1:
                fail(name, f"is {value}, must be ≥ 1", f"pass a positive {name}")
        turns = (self.fork_at,) if isinstance(self.fork_at, int) else self.fork_at  # one turn: fork_at=1
        if isinstance(turns, (str, bytes)) or not hasattr(turns, "__iter__") \
                or not all(isinstance(t, int) and not isinstance(t, bool) for t in turns):
            fail("fork_at", f"is {self.fork_at!r}, not a list of turn numbers", "pass e.g. fork_at=[1] or [0,2]")
        self.fork_at = tuple(sorted(set(turns)))
        if any(t < 0 for t in self.fork_at):
            fail("fork_at", f"is {list(self.fork_at)}, turns are ≥ 0", "pass turn numbers from 0, e.g. fork_at=[1]")
        if not isinstance(self.fork_children, int) or isinstance(self.fork_children, bool) or self.fork_children < 2:
            fail("fork_children", f"is {self.fork_children!r}, a fork needs ≥ 2 copies", "pass fork_children=2")

    def roots(self, group_size: int) -> int:
        """Episodes started per group so that the forks bring the group to ``group_size``."""
        per_root = self.fork_children ** len(self.fork_at)
        if group_size % per_root:
            fail("group_size", f"is {group_size}, not a multiple of fork_children ** len(fork_at) = {per_root}",
                 f"pass a group size that is a multiple of {per_root}")
        return group_size // per_root


EPISODE_DEFAULTS = {f.name: f.default for f in fields(EpisodeSettings)}
"""EpisodeSettings' defaults by field name: the one place they are read (its fixes' examples, and the
``--sampler-option`` values they convert, :func:`treecredit.agents.options.episode_parameters`)."""


@dataclass
class Episode:
    """One episode: its tokens (after the prompt) and its turns.

    Token lists (same length): ``tokens``, ``logprobs`` (0 on observation tokens), ``mask`` (True on action
    tokens), ``turn`` (the turn number on action tokens, −1 on observation tokens). Turn lists (one per
    turn): ``actions`` (text), ``action_sigs``, ``state_sigs`` (the state the action was taken in),
    ``states`` (exact state keys, kept only when asked), ``rewards``, ``observations`` (after the turn).
    """

    group: int
    seed: int
    prompt_ids: list
    prompt_text: str
    tokens: list = field(default_factory=list)
    logprobs: list = field(default_factory=list)
    mask: list = field(default_factory=list)
    turn: list = field(default_factory=list)
    actions: list = field(default_factory=list)
    action_sigs: list = field(default_factory=list)
    state_sigs: list = field(default_factory=list)
    states: list = field(default_factory=list)
    rewards: list = field(default_factory=list)
    observations: list = field(default_factory=list)
    invalid: int = 0
    cut: int = 0
    context_cut: bool = False
    success: bool = False
    truncated: bool = False
    error: str = ""

    @property
    def n_turns(self) -> int:
        return len(self.actions)

    @property
    def episode_return(self) -> float:
        return float(sum(self.rewards))

    def copy(self) -> "Episode":
        out = Episode(self.group, self.seed, self.prompt_ids, self.prompt_text)
        for name, value in vars(self).items():
            setattr(out, name, list(value) if isinstance(value, list) and name != "prompt_ids" else value)
        return out

    def text(self, policy) -> str:
        """The whole episode as text (prompt, actions and observations)."""
        return self.prompt_text + policy.decode(self.tokens)
