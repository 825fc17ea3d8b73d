"""Multi-turn episodes: a policy plays text environments turn by turn, with one KV cache per episode.

Layout of an episode's tokens (one row of the trainer's batch)::

    prompt:   <first observation> + turn_prefix
    response: <action 0> <marker> <observation 1> turn_prefix <action 1> <marker> ... <action K−1> <marker>

Action tokens (the marker included) are generated and trained (``response_mask`` 1); observation tokens
are appended to the cache and sit in the prefix with ``response_mask`` 0. The final observation is not
appended (nothing is generated after it).

Trees of episodes: ``fork_at`` turns split every live episode into ``fork_children`` copies before that
turn (the decoding state by ``Policy.select``, the env by ``snapshot``/``restore``), so the episodes of
a group share their turns before the fork on purpose. ``group_size`` must equal
``roots × fork_children ** len(fork_at)``.

Bad input: an env that raises in ``reset``, ``step``, a signature (``state_key()``), ``snapshot`` or ``restore``
at any turn, or returns a bad value there (``TextEnv`` checks them), drops that episode (a warning naming the
env class, the method, the instance, the turn and the error; the others go on: the run counts them as
``dropped_episodes`` and stops after a few steps in a row whose every episode was dropped); an action
without the marker is cut at ``action_max_tokens`` and counted (the marker is then put in front of the
next observation, untrained, so the layout stays the same); an episode whose tokens would exceed
``max_episode_tokens`` ends there (``truncated``, counted as ``context_cut``).
"""

from __future__ import annotations

import numbers
import warnings
from dataclasses import dataclass, field, fields
from typing import Any, Callable

from treecredit._validation import check_positive, fail, split_fix
from treecredit.agents.decode import decode_actions, extend_state, keep_rows


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


def encodable(policy, text: str) -> list[int]:
    """Ids of ``text``; characters a fixed-alphabet tokenizer cannot encode become ``?`` (or are dropped)."""
    try:
        return policy.encode(text)
    except ValueError:
        out = []
        for ch in text:
            try:
                out.extend(policy.encode(ch))
            except ValueError:
                try:
                    out.extend(policy.encode("?"))
                except ValueError:
                    pass
        return out


def stop_ids(policy, marker: str) -> list[int]:
    """Every eos id (``policy.eos_ids`` when it has them) plus the marker's id when the marker is one token."""
    ids = encodable(policy, marker)
    return list(getattr(policy, "eos_ids", [policy.eos_id])) + (ids if len(ids) == 1 else [])


def play(policy, make_env: Callable[[], Any], seeds: list[int], group_size: int, generator,
         settings: EpisodeSettings | None = None, *, keep_states: bool = False, log=None) -> tuple[list, int]:
    """Play ``group_size`` episodes of each instance in ``seeds``; returns ``(episodes, generated_tokens)``.

    Episodes of instance ``seeds[g]`` have ``group == g``; dropped episodes (env errors in ``reset``, ``step``,
    a signature, ``snapshot`` or ``restore``, each warned about by ``log``) are left out.
    ``generated_tokens`` counts tokens decoded, a forked prefix once.
    """
    import torch

    settings = settings or EpisodeSettings()
    roots = settings.roots(group_size)
    warn = log or (lambda message: warnings.warn(message, RuntimeWarning, stacklevel=3))
    episodes, envs = [], []
    for group, seed in enumerate(seeds):
        for _ in range(roots):
            env = make_env()
            ep = Episode(group, seed, [], "")
            observation = _env_call(ep, env, warn, 0, "reset", seed)
            if not ep.error:
                ep.prompt_text = observation + settings.turn_prefix
                ep.prompt_ids = encodable(policy, ep.prompt_text)
            envs.append(env)
            episodes.append(ep)
    live = [row for row, ep in enumerate(episodes) if not ep.error]
    first: dict[int, int] = {}  # group -> its prefill row: one prefill per instance, copied to its episodes
    for row in live:
        first.setdefault(episodes[row].group, len(first))
    stops = stop_ids(policy, settings.marker)
    # the last token of an action goes into the cache with the next observation, in one forward, unless the
    # policy appends observations itself (``policy.extend``)
    defer_last = not hasattr(policy, "extend")
    was_training = policy.module.training
    policy.module.eval()
    generated = 0
    try:
        with torch.no_grad():
            if live:
                logits, state = policy.prefill([episodes[next(r for r in live if episodes[r].group == g)].prompt_ids
                                                for g in first])
                rows = torch.as_tensor([first[episodes[row].group] for row in live], dtype=torch.long)
                logits, state = logits.index_select(0, rows), policy.select(state, rows)
            turn = 0
            while live:
                if turn in settings.fork_at:
                    live, logits, state = _fork(policy, make_env, live, logits, state, episodes, envs,
                                                settings.fork_children, warn, turn)
                signed = [r for r, row in enumerate(live) if _record_state(episodes[row], envs[row], keep_states, warn)]
                if not signed:
                    break
                if len(signed) < len(live):  # a signature failed: those episodes are dropped before decoding
                    logits, state = logits[signed], keep_rows(policy, state, signed)
                    live = [live[r] for r in signed]
                tokens, logps, stopped, logits, state, pending = decode_actions(
                    policy, logits, state, stop_ids=stops, marker=settings.marker,
                    max_tokens=settings.action_max_tokens, temperature=settings.temperature, top_p=settings.top_p,
                    generator=generator, defer_last=defer_last)
                keep, appended = [], []
                for r, row in enumerate(live):
                    generated += len(tokens[r])
                    observation = _take_turn(policy, episodes[row], envs[row], tokens[r], logps[r], bool(stopped[r]),
                                             settings, warn)
                    if observation is not None:
                        cut = "" if bool(stopped[r]) else settings.marker  # close a cut action in the prefix
                        ids = encodable(policy, cut + observation + settings.turn_prefix)
                        if len(episodes[row].tokens) + len(ids) + settings.action_max_tokens \
                                > settings.max_episode_tokens:
                            episodes[row].context_cut = episodes[row].truncated = True
                            continue
                        _add_observation(episodes[row], ids)
                        keep.append(r)
                        appended.append(tokens[r][-1:] * bool(pending[r]) + ids)  # the action's last token, if pending
                if not keep:
                    break
                logits, state = extend_state(policy, keep_rows(policy, state, keep), appended)
                live = [live[r] for r in keep]
                turn += 1
    finally:
        policy.module.train(was_training)
        for env in envs:
            if hasattr(env, "close"):
                env.close()
    return [ep for ep in episodes if not ep.error], generated


class EnvCallFailed(Exception):
    """An env method raised (``method``; ``call``: the method and its arguments, ``error``: what it raised)."""

    def __init__(self, method: str, call: str, error: Exception) -> None:
        super().__init__(f"{call}: {error}")
        self.method, self.call, self.error = method, call, error


PARSE_HINT = " (parse_action must return None for text that is not a valid action, not raise)"


def env_call(env, method: str, *args):
    """``env.<method>(*args)``; what it raises comes back as :class:`EnvCallFailed` (blamed on the env; on its
    ``parse_action`` when that raised inside ``step`` or ``action_signature``)."""
    try:
        return getattr(env, method)(*args)
    except Exception as exc:  # noqa: BLE001 - any failure of the env's own code is the env's
        shown = ", ".join(shown_arg(a) for a in args)
        if getattr(exc, "env_method", None) == "parse_action" and method != "parse_action":  # TextEnv._parse
            raise EnvCallFailed("parse_action", f"parse_action({shown}) (called by {method})", exc) from exc
        raise EnvCallFailed(method, f"{method}({shown})", exc) from exc


def env_failure(env, failed: EnvCallFailed, when: str, detail: str, by_hand: str) -> ValueError:
    """The ``ValueError`` that stops a run whose env call ``failed`` ``when`` (e.g. ``"in the warm start"``;
    ``detail``: the instance, turn and action), naming the env class, the call and what it raised, with the fix
    a checked return value says, else ``fix <Class>.<method>`` and ``by_hand`` (how to play it by hand)."""
    exc, name = failed.error, type(env).__name__
    problem, fix = split_fix(str(exc))  # a checked return value says its fix
    fix = fix or f"fix {name}.{failed.method} (play that instance by hand: {by_hand})"
    return ValueError(f"env: {name} failed {when} ({detail}, in {name}.{failed.call}): {type(exc).__name__}: "
                      f"{problem}. Fix: {fix}.")


def _env_call(ep: Episode, env, warn, turn: int, method: str, *args):
    """:func:`env_call` at ``turn`` of ``ep``; when it raises, ``ep`` is dropped (its ``error`` set, a warning
    naming the env class, the method, the instance and the turn) and None is returned: an env failure drops
    the episode, never the run."""
    try:
        return env_call(env, method, *args)
    except EnvCallFailed as failed:
        ep.error = f"{type(failed.error).__name__}: {failed.error}"
        warn(DroppedEpisode(f"episode of instance {ep.seed} dropped at turn {turn}: the env's "
                            f"{type(env).__name__}.{failed.call} raised "
                            f"{ep.error}{PARSE_HINT if failed.method == 'parse_action' else ''}", failed.error))
        return None


class DroppedEpisode(str):
    """The warning (a str, as ``log`` takes) that an episode was dropped, with ``error``: the exception the env's
    call raised, so that a caller can act on its type (an env's missing ``info["success"]``) without reading
    the text."""

    error: BaseException

    def __new__(cls, text: str, error: BaseException) -> DroppedEpisode:
        self = super().__new__(cls, text)
        self.error = error
        return self


def shown_arg(value) -> str:
    """A call's argument as shown in a warning: its repr, cut at 60 characters; a long non-str by its type."""
    text = repr(value)
    if len(text) <= 60:
        return text
    return text[:57] + "..." if isinstance(value, str) else f"<{type(value).__name__}>"


def _record_state(ep: Episode, env, keep_states: bool, warn) -> bool:
    """Record the signature (and, with ``keep_states``, the exact key) of the state an action is taken in;
    False when the env failed there (the episode is then dropped)."""
    signature = _env_call(ep, env, warn, ep.n_turns, "signature")
    if ep.error:
        return False
    ep.state_sigs.append(signature)
    if keep_states:
        key = _env_call(ep, env, warn, ep.n_turns, "state_key")
        if ep.error:
            return False
        ep.states.append(key)
    return True


def _take_turn(policy, ep: Episode, env, tokens, logps, stopped: bool, settings: EpisodeSettings, warn):
    """Record one action, step the env; return the next observation, or None when the episode ended."""
    text = policy.decode(tokens)
    action = text.split(settings.marker)[0] if settings.marker in text else text
    ep.tokens += tokens
    ep.logprobs += logps
    ep.mask += [True] * len(tokens)
    n = ep.n_turns
    ep.turn += [n] * len(tokens)
    ep.cut += not stopped
    signature = _env_call(ep, env, warn, n, "action_signature", action)
    ep.actions.append(action)
    if ep.error:
        return None
    ep.action_sigs.append(signature)
    out = _env_call(ep, env, warn, n, "step", action)
    if ep.error:
        return None
    observation, reward, done, info = out
    ep.rewards.append(float(reward))
    ep.observations.append(observation)
    ep.invalid += bool(info.get("invalid", False))
    if done:
        ep.success = bool(info.get("success", False))
        ep.truncated = bool(info.get("truncated", False))
        return None
    return observation


def _add_observation(ep: Episode, ids: list[int]) -> None:
    ep.tokens += ids
    ep.logprobs += [0.0] * len(ids)
    ep.mask += [False] * len(ids)
    ep.turn += [-1] * len(ids)


def _fork(policy, make_env, live, logits, state, episodes, envs, children, warn, turn):
    """Split every live episode into ``children`` copies (decoding state, env and records); an episode whose
    ``snapshot()``, or a copy whose ``restore()``, raises is dropped (warned about, left out of the new rows)."""
    import torch

    index, new_live = [], []
    for r, row in enumerate(live):
        snapshot = _env_call(episodes[row], envs[row], warn, turn, "snapshot")
        if episodes[row].error:
            continue
        index.append(r)
        new_live.append(row)
        for _ in range(children - 1):
            env = make_env()
            envs.append(env)
            episodes.append(episodes[row].copy())
            _env_call(episodes[-1], env, warn, turn, "restore", snapshot)
            if not episodes[-1].error:
                index.append(r)
                new_live.append(len(episodes) - 1)
    rows = torch.as_tensor(index, dtype=torch.long)
    # keep each group's episodes adjacent in the batch: order by (group, row)
    order = sorted(range(len(new_live)), key=lambda i: (episodes[new_live[i]].group, new_live[i]))
    rows = rows[order]
    if not new_live:
        return [], logits, state
    return [new_live[i] for i in order], logits.index_select(0, rows), policy.select(state, rows)
